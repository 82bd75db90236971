"""Two-pass Parquet: ids first, text by pages for sampled rows only - same documents, fewer bytes."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.audit import draw_sample, plan_corpus, read_and_sample
from assay.corpus import Document, plan_shards, read_shard
from assay.parquet_pages import TextFill, fetch_texts
from assay.settings import AuditSettings
from assay.storage import list_objects

N = 3000


def rows(n: int = N, null_every: int = 0) -> list[dict]:
    rng = random.Random(4)
    out = []
    for i in range(n):
        text = f"doc {i} " + "".join(rng.choice("abcdefgh é中") for _ in range(rng.randint(0, 300)))
        out.append(
            {
                "id": f"id-{i}",
                "text": None if null_every and i % null_every == 0 else text,
                "source": "s" if i % 3 else "t",
            }
        )
    return out


def settings(corpus, **kw) -> AuditSettings:
    return AuditSettings(corpus=str(corpus), out="/tmp/unused", run_id="t", **kw)


WRITERS = [
    {"compression": "snappy", "use_dictionary": False, "write_page_index": True},
    {"compression": "zstd", "use_dictionary": False, "data_page_version": "2.0"},
    {"compression": "gzip", "use_dictionary": True, "write_page_index": True},
    {"compression": "none", "use_dictionary": False},
    {
        "compression": "snappy",
        "use_dictionary": True,
        "data_page_version": "2.0",
        "write_page_index": True,
    },
]


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: "-".join(str(v) for v in w.values()))
def test_fetch_texts_matches_pyarrow_and_reads_a_fraction(tmp_path, writer):
    data = rows()
    if writer.get("use_dictionary"):
        for i, r in enumerate(data):
            r["text"] = f"repeated text {i % 40}"
    path = tmp_path / "c.parquet"
    pq.write_table(
        pa.Table.from_pylist(data),
        path,
        row_group_size=1000,
        data_page_size=4096,
        write_batch_size=50,
        **writer,
    )
    s = settings(path)
    (shard,) = plan_shards(list_objects(str(path)), s, "c")[0][:1]
    wanted = sorted(random.Random(1).sample(range(N), 25))
    texts, n_bytes = fetch_texts(shard, wanted, s)
    assert texts == {r: data[r]["text"] for r in wanted}
    meta = pq.ParquetFile(path).metadata
    text_bytes = sum(
        meta.row_group(g).column(1).total_compressed_size for g in range(meta.num_row_groups)
    )
    if not writer.get("use_dictionary"):
        assert n_bytes < text_bytes * (0.5 if writer.get("write_page_index") else 0.75)


def test_first_pass_counts_and_ids_equal_a_full_read_nulls_included(tmp_path):
    pq.write_table(pa.Table.from_pylist(rows()), tmp_path / "a.parquet", row_group_size=700)
    pq.write_table(
        pa.Table.from_pylist(rows(500, null_every=7)), tmp_path / "b.parquet", row_group_size=100
    )
    s = settings(tmp_path)
    shards, _ = plan_shards(list_objects(str(tmp_path)), s, "c")
    for shard in shards:
        full = list(read_shard(shard, s))
        deferred = list(read_shard(shard, s, defer_text=True))
        strip = [
            (type(r).__name__, r.source, getattr(r, "doc_id", r.__dict__.get("reason")), r.locator)
            for r in full
        ]
        assert strip == [
            (type(r).__name__, r.source, getattr(r, "doc_id", r.__dict__.get("reason")), r.locator)
            for r in deferred
        ]
        docs = [r for r in deferred if isinstance(r, Document)]
        if shard.relpath == "a.parquet":
            assert all(d.text is None for d in docs)  # no nulls, small pages: all deferred
        else:
            assert all(d.text is not None for d in docs)  # nulls in text: read as before


def test_sample_with_deferred_text_equals_the_same_corpus_as_jsonl(spark, tmp_path):
    data = [r for r in rows() if r["text"] is not None]
    (tmp_path / "pq").mkdir()
    (tmp_path / "js").mkdir()
    pq.write_table(
        pa.Table.from_pylist(data),
        tmp_path / "pq" / "a.parquet",
        row_group_size=400,
        data_page_size=2048,
        write_batch_size=25,
        write_page_index=True,
        use_dictionary=["id"],
    )
    (tmp_path / "js" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))

    def sample(corpus):
        s = settings(corpus, sample_size=15, seed=9, review_sample_size=0)
        plan = plan_corpus(s)
        report = read_and_sample(spark, plan, s)
        fill = TextFill(spark, plan, s)
        got = sorted(
            tuple(r)
            for r in fill(draw_sample(report, 15))
            .select("source", "rank", "doc_id", "text")
            .collect()
        )
        report.unpersist()
        return got, fill.bytes_read()

    from_parquet, n_bytes = sample(tmp_path / "pq")
    from_jsonl, _ = sample(tmp_path / "js")
    assert from_parquet == from_jsonl and len(from_parquet) == 30
    meta = pq.ParquetFile(tmp_path / "pq" / "a.parquet").metadata
    text_bytes = sum(
        meta.row_group(g).column(1).total_compressed_size for g in range(meta.num_row_groups)
    )
    assert 0 < n_bytes < text_bytes * 0.4  # 30 rows of ~3000: about 30 pages of 120
