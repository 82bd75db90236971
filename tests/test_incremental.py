"""Incremental audits: after adding, changing and removing shards, the sample and the verdicts
equal a full re-run's, while only new or changed shards are read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from assay.incremental import find_baseline, fingerprint, read_report
from assay.run import audit
from assay.settings import AuditSettings

SAMPLE = 40


def write_jsonl(path: Path, source: str, ids: range, tag: str = "", extra: list[str] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": f"{source}-{i}", "text": f"{tag}document {i} from {source}"}) for i in ids
    ]
    path.write_text("\n".join([*lines, *extra]) + "\n")


def build_v1(root: Path) -> None:
    write_jsonl(root / "web" / "b.jsonl", "web", range(0, 120))
    write_jsonl(root / "web" / "c.jsonl", "web", range(120, 240), extra=["{not json"])
    write_jsonl(root / "web" / "d.jsonl", "web", range(240, 300))
    write_jsonl(root / "news" / "n1.jsonl", "news", range(0, 90))
    write_jsonl(root / "news" / "n2.jsonl", "news", range(90, 150))
    # The same document id twice in one source: ties are ordered by shard, then offset.
    write_jsonl(root / "news" / "n3.jsonl", "news", range(0, 5), tag="copy of ")


def change_to_v2(root: Path) -> None:
    """Add a file that sorts first (shard numbers shift), change one, remove one."""
    write_jsonl(root / "web" / "a-new.jsonl", "web", range(300, 400))
    write_jsonl(root / "web" / "c.jsonl", "web", range(120, 200), tag="edited ")
    (root / "news" / "n2.jsonl").unlink()


def settings_for(corpus: Path, out: Path, run_id: str, incremental: bool) -> AuditSettings:
    return AuditSettings(
        corpus=str(corpus),
        out=str(out),
        run_id=run_id,
        sample_size=SAMPLE,
        seed=7,
        incremental=incremental,
        review_sample_size=0,
        scan_fraction=0.5,
    )


def sample_rows(run_dir: Path) -> list[tuple]:
    table = pq.read_table(run_dir / "samples")
    cols = ["source", "rank", "doc_id", "text", "flagged", "key", "locator"]
    return sorted(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


def verdict_rows(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "verdicts.json").read_text())["sources"]


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def without_run(shards: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "run_id"} for s in shards]


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    """A: v1 (incremental, no baseline yet); then add, change, remove; B incremental, C full."""
    root = tmp_path_factory.mktemp("incremental")
    corpus, out = root / "corpus", root / "runs"
    build_v1(corpus)
    first = audit(settings_for(corpus, out / "A", "A", True), spark)
    change_to_v2(corpus)
    inc = audit(settings_for(corpus, out / "B", "B", True), spark)
    full = audit(settings_for(corpus, out / "full" / "C", "C", False), spark)
    yield corpus, out, first, inc, full
    shutil.rmtree(root, ignore_errors=True)


def test_incremental_equals_full_after_add_change_remove(runs):
    _, _, first, inc, full = runs
    a, b, c = (manifest(r.run_dir) for r in (first, inc, full))
    assert a["incremental"]["mode"] == "full"
    assert b["incremental"]["mode"] == "incremental" and b["incremental"]["baseline_run"] == "A"
    unchanged = {s["relpath"] for s in a["shards"]} & {s["relpath"] for s in c["shards"]}
    unchanged -= {"web/c.jsonl"}
    reused = {s["relpath"] for s in b["shards"] if s["run_id"] == "A"}
    assert reused == unchanged
    assert b["incremental"]["n_read"] == len(b["shards"]) - len(unchanged) == 2

    assert sample_rows(inc.run_dir) == sample_rows(full.run_dir)
    assert verdict_rows(inc.run_dir) == verdict_rows(full.run_dir)
    assert without_run(b["shards"]) == without_run(c["shards"])
    # The sample mixes reused and freshly read shards; the removed shard left it.
    assert "news/n2.jsonl" not in {s["relpath"] for s in b["shards"]}
    sampled_ids = {row[2] for row in sample_rows(inc.run_dir)}
    assert any(i.startswith("web-3") for i in sampled_ids)  # from the added file
    assert any(i.startswith("news-") and int(i[5:]) < 90 for i in sampled_ids)  # reused shard
    assert not any(f"news-{i}" in sampled_ids for i in range(90, 150))  # removed file


def test_the_automated_scan_reuses_unchanged_shards(runs):
    _, _, first, inc, full = runs
    a, b = manifest(first.run_dir)["incremental"], manifest(inc.run_dir)["incremental"]
    assert a["shards_reused"] == 0 and a["shards_scanned"] == len(manifest(first.run_dir)["shards"])
    assert b["shards_reused"] == b["n_reused"] > 0 and b["shards_scanned"] == b["n_read"] == 2
    cols = ["source", "doc_id", "shard", "locator", "flagged", "categories"]

    def attributes(run) -> list[tuple]:
        table = pq.read_table(run.run_dir / "attributes")
        return sorted(zip(*(table.column(c).to_pylist() for c in cols), strict=True))

    assert attributes(inc) == attributes(full) and len(attributes(full)) > 100
    assert (
        json.loads((inc.run_dir / "verdicts.json").read_text())["corpus_rules"]["automated_scan"]
        == json.loads((full.run_dir / "verdicts.json").read_text())["corpus_rules"][
            "automated_scan"
        ]
    )


def test_an_unchanged_corpus_reuses_every_shard(spark, runs):
    from assay.audit import plan_corpus

    corpus, out, *_ = runs
    settings = settings_for(corpus, out / "D", "D", True)
    plan = plan_corpus(settings)
    report, increment = read_report(spark, plan, settings)
    try:
        assert increment.baseline_run == "B" and increment.n_read == 0
        assert sorted(increment.reused) == [s.index for s in plan.shards]
        assert {r["shard"] for r in report.where("kind = 'shard'").collect()} == set(
            increment.reused
        )
    finally:
        report.unpersist()


def test_changed_read_settings_force_a_full_read(runs):
    from assay.audit import READ_SCHEMA

    corpus, out, *_ = runs
    same = settings_for(corpus, out / "E", "E", True)
    assert find_baseline(same, READ_SCHEMA)[0] is not None
    other_seed = AuditSettings(
        corpus=str(corpus),
        out=str(out / "E"),
        run_id="E",
        sample_size=SAMPLE,
        seed=8,
        incremental=True,
        review_sample_size=0,
    )
    baseline, reason = find_baseline(other_seed, READ_SCHEMA)
    assert baseline is None and "settings" in reason
    other_k = AuditSettings(**{**json.loads(same.to_json()), "sample_size": SAMPLE + 1})
    assert find_baseline(other_k, READ_SCHEMA)[0] is None


def test_fingerprint_ignores_decision_settings_only():
    from assay.audit import READ_SCHEMA

    base = AuditSettings(corpus="/c", out="/o", run_id="x")
    same = AuditSettings(corpus="/c", out="/p", run_id="y", max_flagged_rate=0.2, policy="p.yaml")
    other = AuditSettings(corpus="/c", out="/o", run_id="x", text_field="body")
    assert fingerprint(base, READ_SCHEMA) == fingerprint(same, READ_SCHEMA)
    assert fingerprint(base, READ_SCHEMA) != fingerprint(other, READ_SCHEMA)
