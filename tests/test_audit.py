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
    dirty = [json.dumps({"id": f"d{i}", "text": DIRTY if i % 5 == 0 else CLEAN}) for i in range(300)]
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
    assert by_source["dirty"]["rate_low"] <= by_source["dirty"]["flagged_rate"] <= by_source["dirty"]["rate_high"]
    assert verdicts["overall"] == "fail"
    assert result.exit_code == 1
    assert verdicts["validation"]["failing_sources"] == ["dirty"]


def test_run_folder_holds_every_output(small_run):
    _, out = small_run
    for name in ("verdicts.json", "manifest.json", "validation.corpus_audit.sources.json", "_COMPLETE"):
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
    settings = AuditSettings(corpus=str(corpus), out=str(out), sample_size=100, seed=1, source_field="")
    result = audit(settings, spark)
    sources = set(result.sources["source"])
    assert {"c4_llamafactory", "redpajama_datajuicer_demos", "olmo_test_fixtures", "zh"} <= sources
    zh = result.sources.set_index("source").loc["zh"]
    assert zh["n_sampled"] == 100 and zh["n_read"] >= 2000
    assert (result.sources["n_read"] == result.sources["n_eligible"] + result.sources["n_rejected"]).all()
    assert set(result.sources["verdict"]) <= {"pass", "fail", "inconclusive"}
