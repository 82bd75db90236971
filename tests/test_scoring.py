"""Scoring columns: built column by column, they equal the per-finding dict conversion."""

from __future__ import annotations

import pyarrow as pa
import pytest

from assay.policy import load_policy
from assay.scoring import (
    ATTRIBUTE_FINDING,
    FINDING_TYPE,
    score_arrays,
    score_partitions,
    score_texts,
    scored_schema,
)

TEXTS = [
    "mail j.doe@corp.com, you fucking moron",
    "nothing to see here",
    None,
    "",
    "身份证号11010519491231002X，你他妈的傻逼 AKIAZ7Q3W5RT2YUI8OPL",
    "shit " * 40 + "call (415) 555-0132 now",
]


@pytest.fixture(scope="module")
def scanner():
    return load_policy(None).scanner()


def _as_dict_lists(texts, scanner, finding_type):
    flagged, categories, findings = score_texts([t or "" for t in texts], scanner)
    names = {f.name for f in finding_type}
    findings = [[{k: v for k, v in f.items() if k in names} for f in found] for found in findings]
    return (
        pa.array(flagged, pa.bool_()),
        pa.array(categories, pa.list_(pa.string())),
        pa.array(findings, pa.list_(finding_type)),
    )


@pytest.mark.parametrize("finding_type", [FINDING_TYPE, ATTRIBUTE_FINDING])
@pytest.mark.parametrize("texts", [TEXTS, TEXTS[1:4], [], ["no hits", "none here"]])
def test_score_arrays_equal_the_dict_conversion(scanner, texts, finding_type):
    got = score_arrays(texts, scanner, finding_type)
    want = _as_dict_lists(texts, scanner, finding_type)
    for g, w in zip(got, want, strict=True):
        assert g.type == w.type
        assert g.to_pylist() == w.to_pylist()


def test_score_arrays_find_what_the_scanner_finds(scanner):
    flagged, categories, findings = score_arrays(TEXTS, scanner)
    assert flagged.to_pylist() == [True, False, False, False, True, True]
    rows = findings.to_pylist()
    assert {f["kind"] for f in rows[0]} >= {"email"}
    assert all(f["masked"] and "j.doe@corp.com" not in f["masked"] for f in rows[0])
    assert categories.to_pylist()[1:4] == [[], [], []]


def test_score_partitions_appends_score_columns(scanner):
    batch = pa.record_batch({"id": list(range(len(TEXTS))), "text": TEXTS})
    (out,) = list(score_partitions(iter([batch]), None))
    assert out.schema == scored_schema(batch.schema)
    assert out.column("id").to_pylist() == list(range(len(TEXTS)))
    assert out.column("flagged").to_pylist() == score_arrays(TEXTS, scanner)[0].to_pylist()


def test_score_partitions_in_spark_map_in_arrow(spark, scanner):
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string())])
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id long, text string")
    out = df.mapInArrow(
        lambda it: score_partitions(it, None), from_arrow_schema(scored_schema(schema))
    )
    rows = {r["id"]: r.asDict(recursive=True) for r in out.collect()}
    want = score_arrays(TEXTS, scanner)
    assert [rows[i]["flagged"] for i in range(len(TEXTS))] == want[0].to_pylist()
    assert [rows[i]["categories"] for i in range(len(TEXTS))] == want[1].to_pylist()
    assert [rows[i]["findings"] for i in range(len(TEXTS))] == want[2].to_pylist()


def test_scan_shard_attributes_whole_corpus_and_fraction(scanner, tmp_path):
    """Scanning every document (rows sliced) and a fraction (rows taken) give each scanned
    document the attributes score_arrays gives its text."""
    import json

    from assay.audit import plan_corpus
    from assay.scoring import ATTRIBUTE_SCHEMA, scan_shard
    from assay.settings import AuditSettings

    texts = [t for t in TEXTS if t] * 300  # more than one scan batch
    src = tmp_path / "corpus" / "src"
    src.mkdir(parents=True)
    (src / "part.jsonl").write_text(
        "".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    want = dict(
        zip((f"d{i}" for i in range(len(texts))), score_arrays(texts, scanner, ATTRIBUTE_FINDING)[2].to_pylist(), strict=True)
    )  # fmt: skip
    scanned = {}
    for fraction in (1.0, 0.5):
        settings = AuditSettings(
            corpus=str(tmp_path / "corpus"), out=str(tmp_path / "out"), scan_fraction=fraction
        )
        (shard,) = plan_corpus(settings).shards
        batches = list(scan_shard(shard, settings))
        assert all(b.schema == ATTRIBUTE_SCHEMA for b in batches)
        rows = pa.Table.from_batches(batches).to_pylist()
        scanned[fraction] = rows
        assert all(r["findings"] == want[r["doc_id"]] for r in rows)
        assert all(r["flagged"] == bool(r["findings"]) for r in rows)
    assert [r["doc_id"] for r in scanned[1.0]] == list(want)  # every document, in file order
    assert 0.4 * len(texts) < len(scanned[0.5]) < 0.6 * len(texts)
