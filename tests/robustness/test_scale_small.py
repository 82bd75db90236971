"""Scale, small: 500 sources in one run give one validation over 500 rows, pages that stay small
and open quickly, and samples larger than the sources (bench/bench_scale.py runs 10,000)."""

from __future__ import annotations

import json

import pytest

from .cases import jsonl
from .conftest import CHROMIUM, load_page

N_SOURCES = 500


@pytest.fixture(scope="module")
def many_sources(spark, tmp_path_factory):
    from assay.run import audit
    from assay.settings import AuditSettings

    base = tmp_path_factory.mktemp("many")
    corpus = base / "corpus"
    corpus.mkdir()
    docs = [
        {"id": f"{s}-{d}", "source": f"source-{s:04d}", "text": f"document {d} of source {s}"}
        for s in range(N_SOURCES)
        for d in range(1 + s % 5)
    ]
    (corpus / "all.jsonl").write_bytes(jsonl(docs))
    settings = AuditSettings(
        corpus=str(corpus), out=str(base / "runs" / "many"), run_id="many", sample_size=3
    )
    return audit(settings, spark), len(docs)


def test_one_validation_covers_every_source(many_sources):
    result, n_docs = many_sources
    verdicts = json.loads((result.run_dir / "verdicts.json").read_text())
    assert len(verdicts["sources"]) == N_SOURCES
    assert sum(r["n_read"] for r in verdicts["sources"]) == n_docs
    validation = json.loads((result.run_dir / verdicts["validation"]["result"]).read_text())
    assert validation["statistics"]["evaluated_expectations"] >= 6
    assert sorted(p.name for p in result.run_dir.glob("validation.corpus_audit.sources*.json")) == [
        "validation.corpus_audit.sources.json"
    ]


def test_sample_sizes_larger_than_sources_take_each_source_whole(many_sources):
    result, _ = many_sources
    rows = result.sources.to_dict(orient="records")
    for row in rows:
        assert row["n_sampled"] == min(3, row["n_eligible"])
    whole = [r for r in rows if r["n_eligible"] <= 3]
    assert whole and all(r["interval_method"] == "census" for r in whole)


def test_pages_stay_small_and_open_quickly(many_sources, tmp_path):
    result, _ = many_sources
    pages = sorted(p for p in result.run_dir.rglob("*.html") if "/static/" not in p.as_posix())
    assert pages
    for page in pages:
        assert page.stat().st_size < 3_000_000, (
            f"{page} is {page.stat().st_size} bytes for {N_SOURCES} sources"
        )
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: page load times not measured (apt-get install -y chromium)"
        )
    for i, page in enumerate(pages):
        dom, seconds = load_page(page, tmp_path / f"p{i}")
        assert seconds < 45, f"{page} took {seconds:.1f}s to load"
    index = result.docs_index
    dom, _ = load_page(index, tmp_path / "index")
    assert "corpus_audit" in dom
