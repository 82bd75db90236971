"""`assay audit s3://...` through Spark against moto over HTTP: outputs on S3, incremental runs
equal to a full run, faults retried, and the secret key in no log, output or object."""

from __future__ import annotations

import gzip
import io
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from assay import outputs, s3
from assay.run import audit
from assay.settings import AuditSettings

from .conftest import SECRET_KEY, put

SAMPLE = 30


def jsonl(source: str, ids: range, tag: str = "") -> bytes:
    rows = [json.dumps({"id": f"{source}-{i}", "text": f"{tag}text {i} of {source}"}) for i in ids]
    return ("\n".join(rows) + "\n").encode()


def parquet(source: str, ids: range, tag: str = "") -> bytes:
    rows = [{"id": f"{source}-{i}", "text": f"{tag}text {i} of {source}"} for i in ids]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, row_group_size=25)
    return sink.getvalue()


def upload_v1(corpus: str) -> None:
    put(f"{corpus}/source=web/a.jsonl.gz", gzip.compress(jsonl("web", range(0, 80))))
    put(
        f"{corpus}/source=web/b.jsonl.zst",
        zstandard.ZstdCompressor().compress(jsonl("web", range(80, 160))),
    )
    put(f"{corpus}/source=news/n.parquet", parquet("news", range(0, 100)))
    put(f"{corpus}/source=forum/f.jsonl", jsonl("forum", range(0, 120)))  # cut into byte ranges
    put(f"{corpus}/source=forum/g.jsonl", jsonl("forum", range(120, 160)))


def change_to_v2(bucket: str, corpus: str) -> None:
    put(f"{corpus}/source=web/0-new.jsonl.gz", gzip.compress(jsonl("web", range(160, 240))))
    put(f"{corpus}/source=news/n.parquet", parquet("news", range(0, 70), tag="edited "))
    s3.client().delete_object(Bucket=bucket, Key="corpus/source=forum/g.jsonl")


def run(spark, corpus: str, out: str, run_id: str, incremental: bool):
    settings = AuditSettings(
        corpus=corpus,
        out=out,
        run_id=run_id,
        sample_size=SAMPLE,
        seed=3,
        shard_bytes=2048,
        incremental=incremental,
        review_sample_size=0,
    )
    return audit(settings, spark)


def sample_rows(run_dir) -> list[tuple]:
    table = pq.read_table(run_dir / "samples")
    cols = ["source", "rank", "doc_id", "text", "flagged", "key"]
    return sorted(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


def s3_json(uri: str) -> dict:
    found = s3.get_bytes(uri)
    assert found is not None, f"{uri} missing"
    return json.loads(found[0])


@pytest.fixture
def work_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_WORK_DIR", str(tmp_path / "work"))
    return tmp_path / "work"


def test_s3_audit_publishes_and_incremental_equals_full(
    spark, bucket, s3_env, work_dir, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    corpus, runs = f"s3://{bucket}/corpus", f"s3://{bucket}/runs"
    upload_v1(corpus)
    throttled = s3_env.proxy.inject(f"GET /{bucket}/corpus/", 503, "SlowDown", times=2)
    failed = s3_env.proxy.inject(f"GET /{bucket}/corpus/", 500, "InternalError", times=1)

    first = run(spark, corpus, f"{runs}/A", "A", True)

    # Faults were answered and retried; nothing was left unread.
    assert throttled.hits == 2 and failed.hits == 1
    assert first.shard_errors == [] and first.published == f"{runs}/A"
    # The run folder is on S3, complete: verdicts, manifest, samples, GX result, Data Docs, state.
    keys = {uri.rsplit("/runs/A/", 1)[1] for uri, _, _ in s3.list_keys(f"{runs}/A/")}
    for name in (
        "_COMPLETE",
        "verdicts.json",
        "manifest.json",
        "validation.corpus_audit.sources.json",
        "state/STATE.json",
    ):
        assert name in keys, name
    assert any(k.startswith("samples/part-") for k in keys)
    assert any(k.endswith("data_docs/local_site/index.html") for k in keys)
    man = s3_json(f"{runs}/A/manifest.json")
    assert {s["sources"][0] for s in man["shards"]} == {"web", "news", "forum"}
    assert sum(s["relpath"] == "source=forum/f.jsonl" for s in man["shards"]) > 1  # byte ranges
    assert sum(s["relpath"] == "source=news/n.parquet" for s in man["shards"]) > 1  # row groups
    assert all(s["version"] and s["accounted"] and s["run_id"] == "A" for s in man["shards"])
    assert sum(s["n_read"] for s in man["shards"]) == 160 + 100 + 160
    assert outputs.current_build(runs)["runs"] == ["A"]

    change_to_v2(bucket, corpus)
    inc = run(spark, corpus, f"{runs}/B", "B", True)
    full = run(spark, corpus, f"{runs}/C", "C", False)

    b, c = s3_json(f"{runs}/B/manifest.json"), s3_json(f"{runs}/C/manifest.json")
    assert b["incremental"]["mode"] == "incremental" and b["incremental"]["baseline_run"] == "A"
    reused = {s["relpath"] for s in b["shards"] if s["run_id"] == "A"}
    assert reused == {"source=web/a.jsonl.gz", "source=web/b.jsonl.zst", "source=forum/f.jsonl"}
    assert b["incremental"]["n_read"] == sum(s["run_id"] == "B" for s in b["shards"]) >= 2
    assert sample_rows(inc.run_dir) == sample_rows(full.run_dir)
    assert (
        s3_json(f"{runs}/B/verdicts.json")["sources"]
        == s3_json(f"{runs}/C/verdicts.json")["sources"]
    )
    strip = lambda shards: [{k: v for k, v in s.items() if k != "run_id"} for s in shards]  # noqa: E731
    assert strip(b["shards"]) == strip(c["shards"])
    assert "forum-130" not in {r[2] for r in sample_rows(inc.run_dir)}
    assert outputs.current_build(runs)["runs"] == ["A", "B", "C"]
    # The combined Data Docs are Assay's pages (per-source section), with CSS/JS inside the build.
    build = f"{runs}/data_docs/builds/{outputs.current_build(runs)['build']}"
    pages = {u: s3.get_bytes(u)[0].decode() for u, _, _ in s3.list_keys(f"{build}/validations/")}
    sources_pages = [page for u, page in pages.items() if "/corpus_audit/sources/" in u]
    assert len(sources_pages) == 3 and all("Sources" in page for page in sources_pages)
    index = s3.get_bytes(f"{build}/index.html")[0].decode()
    assert "static/vendor/" in index and "cdn" not in index.lower()
    # Builds the index no longer names are pruned once past the grace period.
    assert outputs.prune_builds(runs, keep=set(), grace_seconds=0) > 0
    left = {
        u.split("/builds/")[1].split("/")[0]
        for u, _, _ in s3.list_keys(f"{runs}/data_docs/builds/")
    }
    assert left == {outputs.current_build(runs)["build"]}

    # The secret key appears nowhere: logs (DEBUG, botocore included), console, Spark conf,
    # settings, local run folders, or any object written under the output root.
    captured = capsys.readouterr()
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in captured.out + captured.err
    assert all(SECRET_KEY not in str(v) for _, v in spark.sparkContext.getConf().getAll())
    for path in work_dir.rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path
    for uri, _, _ in s3.list_keys(f"{runs}/"):
        assert SECRET_KEY.encode() not in s3.get_bytes(uri)[0], uri
