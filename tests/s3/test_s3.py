"""Listing and reading corpora on a real S3-compatible server (moto over HTTP on 127.0.0.1)."""

from __future__ import annotations

import gzip
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from assay import s3
from assay.audit import _read_one_shard
from assay.corpus import Document, ShardReadError, plan_shards, read_shard
from assay.settings import AuditSettings
from assay.storage import StorageError, list_objects

from .conftest import put

DOCS = [{"id": f"d{i}", "text": f"line {i} " + "x" * (i % 17)} for i in range(300)]
JSONL = ("\n".join(json.dumps(d) for d in DOCS) + "\n").encode()


def settings(corpus: str, **kw) -> AuditSettings:
    return AuditSettings(corpus=corpus, out="/tmp/unused", run_id="t", **kw)


def parquet_bytes(rows: list[dict], row_group_size: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, row_group_size=row_group_size)
    return sink.getvalue()


def documents(uri: str, s: AuditSettings) -> list[tuple[str, str, str]]:
    objects = list_objects(uri, s.include, s.exclude)
    shards, _ = plan_shards(objects, s, "corpus")
    out = []
    for shard in shards:
        out += [
            (r.source, r.doc_id, r.text) for r in read_shard(shard, s) if isinstance(r, Document)
        ]
    return sorted(out)


def test_listing_pages_past_1000_objects_with_globs(bucket, s3_env):
    keys = [f"big/part-{i:05d}.jsonl" for i in range(1105)] + ["big/skip/x.jsonl", "big/.hidden"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: put(f"s3://{bucket}/{k}", b'{"id":1,"text":"t"}\n'), keys))
    before = s3_env.proxy.requests
    found = list_objects(f"s3://{bucket}/big/", exclude=("skip/*",))
    assert len(found) == 1106
    assert found[0].relpath == ".hidden" and found[-1].relpath == "part-01104.jsonl"
    shards, ignored = plan_shards(found, settings(f"s3://{bucket}/big/"), "big")
    assert len(shards) == 1105 and [(i.relpath, i.reason) for i in ignored] == [
        (".hidden", "hidden")
    ]
    assert all(o.version and o.size == 20 for o in found[1:])
    assert s3_env.proxy.requests - before >= 2  # more than one page
    only = list_objects(f"s3://{bucket}/big", include=("part-0000*.jsonl",))
    assert [o.relpath for o in only] == [f"part-{i:05d}.jsonl" for i in range(10)]


def test_single_object_and_missing_prefix(bucket, s3_env):
    put(f"s3://{bucket}/one/file.jsonl", JSONL)
    (obj,) = list_objects(f"s3://{bucket}/one/file.jsonl")
    assert obj.relpath == "file.jsonl" and obj.size == len(JSONL)
    with pytest.raises(StorageError, match="no objects"):
        list_objects(f"s3://{bucket}/nothing-here")


def test_gzip_zstd_parquet_and_byte_ranges_give_the_same_documents(bucket, s3_env):
    base = f"s3://{bucket}/c"
    put(f"{base}/plain/a.jsonl", JSONL)
    put(f"{base}/gz/a.jsonl.gz", gzip.compress(JSONL))
    put(f"{base}/zst/a.jsonl.zst", zstandard.ZstdCompressor().compress(JSONL))
    put(f"{base}/pq/a.parquet", parquet_bytes(DOCS, row_group_size=40))
    s = settings(base, source_field="", shard_bytes=1000)  # plain file and Parquet split up
    shards, _ = plan_shards(list_objects(base), s, "c")
    assert sum(sh.relpath == "plain/a.jsonl" for sh in shards) > 5
    assert sum(sh.relpath == "pq/a.parquet" for sh in shards) > 1
    expected = sorted((d["id"], d["text"]) for d in DOCS)
    got = documents(base, s)
    for source in ("plain", "gz", "zst", "pq"):
        assert sorted((i, t) for src, i, t in got if src == source) == expected, source


def test_source_from_key_layout(bucket, s3_env):
    base = f"s3://{bucket}/lay"
    put(f"{base}/source=forum/2024/a.jsonl", b'{"id":1,"text":"a"}\n')
    put(f"{base}/books/2024/b.jsonl", b'{"id":2,"text":"b"}\n')
    put(f"{base}/books/2025/c.jsonl", b'{"id":3,"text":"c","source":"named"}\n')
    by_folder = {d[1]: d[0] for d in documents(base, settings(base))}
    assert by_folder == {"1": "forum", "2": "books/2024", "3": "named"}
    first = {d[1]: d[0] for d in documents(base, settings(base, source_layout="first_segment"))}
    assert first == {"1": "forum", "2": "books", "3": "named"}


def test_object_deleted_between_listing_and_reading_is_a_reported_error(bucket, s3_env):
    base = f"s3://{bucket}/del"
    put(f"{base}/a.jsonl.gz", gzip.compress(JSONL))
    put(f"{base}/b.parquet", parquet_bytes(DOCS, 100))
    put(f"{base}/c.jsonl", JSONL)
    s = settings(base, shard_bytes=2000)
    shards, _ = plan_shards(list_objects(base), s, "del")
    for name in ("a.jsonl.gz", "b.parquet", "c.jsonl"):
        s3.client().delete_object(Bucket=bucket, Key=f"del/{name}")
    for shard in shards:
        with pytest.raises(ShardReadError, match="deleted or renamed after"):
            list(read_shard(shard, s))
        status = _read_one_shard(shard, s).to_pylist()[-1]
        assert status["kind"] == "shard" and "NoSuchKey" in status["reason"]


def test_throttling_and_server_errors_are_retried(bucket, s3_env):
    base = f"s3://{bucket}/retry"
    put(f"{base}/a.jsonl.zst", zstandard.ZstdCompressor().compress(JSONL))
    put(f"{base}/b.parquet", parquet_bytes(DOCS, 50))
    s = settings(base, source_field="")
    shards, _ = plan_shards(list_objects(base), s, "retry")
    slow = s3_env.proxy.inject("GET /" + bucket + "/retry/", 503, "SlowDown", times=3)
    broken = s3_env.proxy.inject("GET /" + bucket + "/retry/", 500, "InternalError", times=2)
    listing = s3_env.proxy.inject(f"GET /{bucket}?list-type=2", 503, "SlowDown", times=1)
    got = documents(base, s)
    assert len(got) == 2 * len(DOCS)
    assert (slow.hits, broken.hits, listing.hits) == (3, 2, 1)
    assert len(shards) >= 2


def test_a_shard_that_keeps_failing_is_reported_with_its_error(bucket, s3_env):
    base = f"s3://{bucket}/bad"
    put(f"{base}/a.jsonl", JSONL)
    put(f"{base}/b.jsonl", JSONL)
    s = settings(base)
    shards, _ = plan_shards(list_objects(base), s, "bad")
    s3_env.proxy.inject(f"/{bucket}/bad/b.jsonl", 500, "InternalError", times=-1)
    good, bad = (_read_one_shard(sh, s).to_pylist() for sh in shards)
    assert good[-1]["reason"] == "" and good[-1]["n"] == len(DOCS)
    assert "InternalError" in bad[-1]["reason"] and bad[-1]["n"] == 0


def test_object_changed_while_reading_is_detected(bucket, s3_env):
    uri = f"s3://{bucket}/chg/a.jsonl"
    put(uri, JSONL)
    with s3.open_object(uri) as handle:
        handle.raw.read(10)  # pins the ETag
        put(uri, JSONL + JSONL)
        with pytest.raises(s3.S3ReadError, match="changed while it was being read"):
            handle.raw.read(10)


def test_unreadable_shards_decide_the_run_by_the_rule():
    import pandas as pd

    from assay.run import RunResult

    def result(errors, rule):
        sources = pd.DataFrame([{"source": "web", "verdict": "pass"}])
        return RunResult(Path("/r"), "pass", True, sources, Path("/d"), errors, rule)

    error = [{"shard": "b.jsonl", "error": "cannot read s3://x/b.jsonl: InternalError"}]
    assert result(error, "fail").exit_code == 2
    assert result(error, "report").exit_code == 0
    assert result([], "fail").exit_code == 0
