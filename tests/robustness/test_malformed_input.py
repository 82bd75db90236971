"""The malformed-input catalogue, end to end through Spark: each case is a counted rejection with a
reason (the run goes on) or plain documents; the books balance per source and per shard."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from .cases import CASE_NAMES, SAMPLE_SIZE


def _samples(run) -> list[dict]:
    return pq.read_table(run.result.run_dir / "samples").to_pylist()


def test_catalogue_builds_every_named_case(catalogue):
    assert sorted(catalogue.expect) == sorted(CASE_NAMES)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_case_is_read_rejected_or_counted_as_expected(catalogue, case):
    want = catalogue.expect[case]
    row = catalogue.source(case)
    assert row is not None, f"source {case} missing from verdicts.json"
    assert row["n_read"] == want.n_read
    assert row["n_eligible"] == want.n_eligible
    assert row["rejected_by_reason"] == want.rejected
    assert row["n_rejected"] == sum(want.rejected.values())
    assert row["n_duplicate_ids"] == want.n_duplicate_ids
    assert row["n_sampled"] == min(SAMPLE_SIZE, want.n_eligible)


def test_the_run_completes_and_every_source_balances(catalogue):
    assert catalogue.result.shard_errors == []
    assert catalogue.result.exit_code in (0, 1)  # a verdict, not an input error
    for row in catalogue.verdicts["sources"]:
        assert row["n_read"] == row["n_eligible"] + row["n_rejected"], row["source"]
        assert row["n_shards_unaccounted"] == 0, row["source"]
    checks = {
        (r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column")): r
        for r in catalogue.validation["results"]
    }
    assert checks[("expect_column_pair_values_to_be_equal", None)]["success"]
    assert checks[("expect_column_values_to_be_between", "n_shards_unaccounted")]["success"]
    total = checks[("expect_column_sum_to_be_between", "n_read")]
    assert total["success"] and total["result"]["observed_value"] == sum(
        e.n_read for e in catalogue.expect.values()
    )


def test_every_shard_is_in_the_manifest_and_balances(catalogue):
    shards = catalogue.manifest["shards"]
    files = {
        p.relative_to(catalogue.corpus).as_posix()
        for p in catalogue.corpus.rglob("*")
        if p.is_file()
    }
    ignored = {f["relpath"] for f in catalogue.manifest["ignored_files"]}
    assert {s["relpath"] for s in shards} | ignored == files
    for s in shards:
        assert s["accounted"], s
        assert s["n_read"] == s["n_eligible"] + sum(s["rejected"].values()), s
    # the 12 KB line-ending files were cut into several byte ranges, and no line was lost
    crlf = [s for s in shards if s["relpath"] == "line_endings/crlf.jsonl"]
    assert len(crlf) >= 3
    assert sum(s["n_read"] for s in crlf) == 20
    per_case: dict[str, int] = {}
    for s in shards:
        case = s["relpath"].split("/")[0]
        per_case[case] = per_case.get(case, 0) + s["n_read"]
    assert {c: n for c, n in per_case.items() if n} == {
        c: e.n_read for c, e in catalogue.expect.items()
    }


def test_empty_files_are_listed_with_zero_documents(catalogue):
    empty = [s for s in catalogue.manifest["shards"] if s["relpath"].startswith("empty_file/")]
    assert sorted(s["relpath"] for s in empty) == [
        "empty_file/blank_lines.jsonl",
        "empty_file/empty.jsonl",
    ]
    assert all(s["n_read"] == 0 and s["accounted"] and not s["error"] for s in empty)
    assert catalogue.source("empty_file") is None  # no documents, so no source row to decide


def test_unknown_extensions_are_listed_not_skipped_silently(catalogue):
    ignored = {f["relpath"]: f["reason"] for f in catalogue.manifest["ignored_files"]}
    assert ignored == {
        "unknown_extension/notes.md": "unknown_extension",
        "unknown_extension/table.csv": "unknown_extension",
    }


def test_bom_line_endings_and_nul_bytes_reach_the_sample_clean(catalogue):
    rows = _samples(catalogue)
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    texts = {r["text"] for r in by_source["bom"]}
    assert "first text line" in texts and not any(t.startswith("\ufeff") for t in texts)
    assert {r["doc_id"] for r in by_source["bom"] if r["doc_id"].startswith("bom-")} == {
        "bom-0", "bom-1", "bom-2",
    }  # fmt: skip
    endings = by_source["line_endings"]
    assert len(endings) == 45 and not any("\r" in r["text"] or "\n" in r["text"] for r in endings)
    assert {r["doc_id"] for r in endings if r["doc_id"].startswith("cr-")} == {
        f"cr-{i}" for i in range(20)
    }
    assert {r["text"] for r in endings if r["doc_id"].startswith("line_endings/mixed.txt")} == {
        "one", "two", "three", "four", "five",
    }  # fmt: skip
    nul = {r["doc_id"]: r["text"] for r in by_source["nul_bytes"]}
    assert nul["esc"] == "escaped \x00 nul"
    assert "text with \x00 inside" in nul.values()


def test_duplicate_ids_are_counted_and_sampled_deterministically(catalogue):
    rows = sorted(
        (r for r in _samples(catalogue) if r["source"] == "duplicate_ids"), key=lambda r: r["rank"]
    )
    assert [r["rank"] for r in rows] == list(range(1, 7))
    # copies share a sample key, so they sit together in the sample's order, file order within
    ids = [r["doc_id"] for r in rows]
    for doc_id in ("a", "b"):
        where = [i for i, d in enumerate(ids) if d == doc_id]
        assert where == list(range(where[0], where[0] + len(where)))
    texts_a = [r["text"] for r in rows if r["doc_id"] == "a"]
    assert texts_a == ["dup a in file one", "dup a in file one", "dup a in file two"]


def test_a_source_smaller_than_the_sample_is_taken_whole(catalogue):
    small = catalogue.source("invalid_json")
    assert small["n_sampled"] == small["n_eligible"] == 3
    assert small["interval_method"] == "census"
    big = catalogue.source("larger_than_sample")
    assert big["n_sampled"] == SAMPLE_SIZE and big["interval_method"] != "census"
