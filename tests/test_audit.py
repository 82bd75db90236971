"""The corpus audit end to end through Spark: counts add up, verdicts follow planted rates."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assay.run import audit
from assay.settings import AuditSettings

CLEAN = "The committee reviewed the schedule for the coming season."
DIRTY = "You are a worthless idiot and a moron."


def _write(path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


@pytest.fixture(scope="module")
def small_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    clean = [json.dumps({"id": f"c{i}", "text": CLEAN}) for i in range(300)]
    dirty = [
        json.dumps({"id": f"d{i}", "text": DIRTY if i % 5 == 0 else CLEAN}) for i in range(300)
    ]
    _write(root / "clean" / "a.jsonl", clean[:150] + ['{"id": "broken", "text": '] + clean[150:])
    _write(root / "dirty" / "a.jsonl", dirty + [json.dumps({"id": "no-text", "body": "x"})])
    out = tmp_path_factory.mktemp("out") / "run"
    settings = AuditSettings(corpus=str(root), out=str(out), sample_size=200, seed=3, run_id="t1")
    return audit(settings, spark), out


def test_counts_add_up_and_rejections_have_reasons(small_run):
    result, out = small_run
    verdicts = json.loads((out / "verdicts.json").read_text())
    by_source = {s["source"]: s for s in verdicts["sources"]}
    assert by_source["clean"]["n_read"] == 301
    assert by_source["clean"]["rejected_by_reason"] == {"invalid_json": 1}
    assert by_source["dirty"]["rejected_by_reason"] == {"missing_text": 1}
    for s in verdicts["sources"]:
        assert s["n_read"] == s["n_eligible"] + s["n_rejected"]
        assert s["n_sampled"] == 200


def test_verdicts_follow_planted_rates(small_run):
    result, out = small_run
    verdicts = json.loads((out / "verdicts.json").read_text())
    by_source = {s["source"]: s for s in verdicts["sources"]}
    assert by_source["clean"]["verdict"] == "pass"
    assert by_source["clean"]["n_flagged"] == 0
    assert by_source["dirty"]["verdict"] == "fail"
    assert 0.1 < by_source["dirty"]["flagged_rate"] < 0.3
    assert (
        by_source["dirty"]["rate_low"]
        <= by_source["dirty"]["flagged_rate"]
        <= by_source["dirty"]["rate_high"]
    )
    assert verdicts["overall"] == "fail"
    assert result.exit_code == 1
    assert verdicts["validation"]["failing_sources"] == ["dirty"]


def test_run_folder_holds_every_output(small_run):
    _, out = small_run
    for name in (
        "verdicts.json",
        "manifest.json",
        "validation.corpus_audit.sources.json",
        "_COMPLETE",
    ):
        assert (out / name).exists(), name
    assert (out / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    samples = pd.read_parquet(out / "samples")
    assert len(samples) == 400
    flagged = samples[samples["flagged"]]
    assert all("offensive_language" in c for c in flagged["categories"])
    assert all(len(f) > 0 for f in flagged["findings"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(s["n_read"] for s in manifest["shards"]) == 602


def test_real_web_text_several_sources_english_and_chinese(spark, shared_data, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("c4_llamafactory", "redpajama_datajuicer_demos", "olmo_test_fixtures"):
        (corpus / name).symlink_to(shared_data / "webtext_corpus_samples" / name)
    (corpus / "zh").mkdir()
    (corpus / "zh" / "clue.txt").symlink_to(
        shared_data / "zh_cluecorpussmall_sample" / "CLUECorpusSmall_bert_sampled.txt"
    )
    out = tmp_path / "out"
    settings = AuditSettings(
        corpus=str(corpus), out=str(out), sample_size=100, seed=1, source_field=""
    )
    result = audit(settings, spark)
    sources = set(result.sources["source"])
    assert {"c4_llamafactory", "redpajama_datajuicer_demos", "olmo_test_fixtures", "zh"} <= sources
    zh = result.sources.set_index("source").loc["zh"]
    assert zh["n_sampled"] == 100 and zh["n_read"] >= 2000
    assert (
        result.sources["n_read"] == result.sources["n_eligible"] + result.sources["n_rejected"]
    ).all()
    assert set(result.sources["verdict"]) <= {"pass", "fail", "inconclusive"}


@pytest.fixture(scope="module")
def rates_corpus(tmp_path_factory):
    """Three sources of 3000 documents at planted rates 0.5%, 3% and 12%."""
    root = tmp_path_factory.mktemp("rates")
    for source, every in (("low", 200), ("mid", 33), ("high", 8)):
        lines = [
            json.dumps({"id": f"{source}-{i}", "text": DIRTY if i % every == 0 else CLEAN})
            for i in range(3000)
        ]
        _write(root / source / "part.jsonl", lines)
    return root


def test_sequential_plan_scores_less_with_the_same_decisions(spark, rates_corpus, tmp_path):
    common = dict(corpus=str(rates_corpus), sample_size=2000, seed=9)
    fixed = audit(AuditSettings(out=str(tmp_path / "fixed"), **common), spark)
    seq = audit(
        AuditSettings(out=str(tmp_path / "seq"), sampling_plan="sequential", **common), spark
    )
    f = fixed.sources.set_index("source")
    s = seq.sources.set_index("source")
    assert f.loc["low", "verdict"] == s.loc["low", "verdict"] == "pass"
    assert f.loc["high", "verdict"] == s.loc["high", "verdict"] == "fail"
    assert s.loc["low", "n_scored"] < f.loc["low", "n_scored"] == 2000
    assert s.loc["high", "n_scored"] < 1000
    assert set(s["decided_by"]) <= {"sprt", "max_n", "exhausted", "census"}
    assert s.loc["high", "decided_by"] == "sprt"
    samples = pd.read_parquet(tmp_path / "seq" / "samples")
    # what was scored is a prefix of each source's random order
    for _source, group in samples.groupby("source"):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))


def test_scan_fraction_and_review_queue(spark, rates_corpus, tmp_path):
    settings = AuditSettings(
        corpus=str(rates_corpus),
        out=str(tmp_path / "run"),
        sample_size=400,
        seed=4,
        scan_fraction=0.25,
        review_sample_size=300,
    )
    audit(settings, spark)
    verdicts = json.loads((tmp_path / "run" / "verdicts.json").read_text())
    scan = verdicts["corpus_rules"]["automated_scan"]
    assert 0.2 < scan["coverage"] < 0.3
    # about (0.5% + 3% + 12%) / 3 of the scanned documents are flagged: far under 98% clean
    assert scan["verdict"] == "fail"
    assert verdicts["overall"] == "fail"
    attributes = pd.read_parquet(tmp_path / "run" / "attributes")
    assert len(attributes) == scan["n"]
    assert attributes["doc_id"].is_unique
    assert "match" not in set(attributes["findings"].explode().dropna().iloc[0])
    queue = (tmp_path / "run" / "review" / "review_queue.jsonl").read_text().splitlines()
    assert len(queue) == 300
    assert {json.loads(q)["source"] for q in queue} == {"low", "mid", "high"}
    lists = json.loads((tmp_path / "run" / "sources.json").read_text())
    assert lists["deny"] == ["high"] and "low" in lists["allow"]


def test_review_labels_import_decides_the_96_percent_rule(spark, rates_corpus, tmp_path):
    from assay.cli import main

    settings = AuditSettings(
        corpus=str(rates_corpus),
        out=str(tmp_path / "run"),
        sample_size=50,
        seed=4,
        review_sample_size=200,
    )
    audit(settings, spark)
    rows = [
        json.loads(q)
        for q in (tmp_path / "run" / "review" / "review_queue.jsonl").read_text().splitlines()
    ]
    for i, row in enumerate(rows):
        row["label"] = "problematic" if i < 2 else "acceptable"
    filled = tmp_path / "labels.jsonl"
    filled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["review", "import", str(tmp_path / "run"), str(filled)]) == 0
    result = json.loads((tmp_path / "run" / "review" / "review_verdict.json").read_text())
    assert result["rule"]["n"] == 200 and result["rule"]["n_acceptable"] == 198
    assert result["rule"]["verdict"] == "pass"
    for row in rows[:12]:
        row["label"] = "problematic"
    filled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["review", "import", str(tmp_path / "run"), str(filled)]) == 1
