"""The sampler: exact size, no duplicates, the same sample at any parallelism, seed-dependent."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from assay.audit import draw_sample, plan_corpus, read_and_sample
from assay.sample import BottomK, Candidate, bottom_k, sample_key
from assay.settings import AuditSettings


def test_sample_key_is_stable_and_seeded():
    assert sample_key(1, "web", "doc-1") == sample_key(1, "web", "doc-1")
    assert sample_key(1, "web", "doc-1") != sample_key(2, "web", "doc-1")
    assert sample_key(1, "web", "doc-1") != sample_key(1, "news", "doc-1")
    assert 0 <= sample_key(3, "a", "b") < 2**63


def test_bottom_k_keeps_the_k_smallest_whatever_the_order():
    items = [Candidate(sample_key(0, "s", str(i)), "f", i, str(i), "") for i in range(1000)]
    expected = sorted(items)[:10]
    for trial in range(3):
        random.Random(trial).shuffle(items)
        heap = BottomK(10)
        for c in items:
            heap.offer(c)
        assert heap.items() == expected


def test_bottom_k_merges_from_parts():
    items = [Candidate(sample_key(5, "s", str(i)), "f", i, str(i), "") for i in range(500)]
    parts = [items[i::7] for i in range(7)]
    merged = bottom_k([c for p in parts for c in bottom_k(p, 25)], 25)
    assert merged == sorted(items)[:25]


def _write_corpus(root, sizes: dict[str, int], files_per_source: int = 4):
    for source, n in sizes.items():
        folder = root / source
        folder.mkdir(parents=True)
        for f in range(files_per_source):
            with open(folder / f"part-{f}.jsonl", "w") as out:
                for i in range(f, n, files_per_source):
                    out.write(f'{{"id": "{source}-{i}", "text": "document {i} of {source}"}}\n')
    return root


def _sample_ids(spark, corpus, seed, k, shard_bytes=128 * 1024 * 1024):
    settings = AuditSettings(
        corpus=str(corpus), out="/tmp/unused", sample_size=k, seed=seed, shard_bytes=shard_bytes
    )
    report = read_and_sample(spark, plan_corpus(settings), settings)
    rows = draw_sample(report, k).select("source", "rank", "doc_id").collect()
    report.unpersist()
    return sorted((r.source, r.rank, r.doc_id) for r in rows)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("corpus"), {"big": 3000, "mid": 700, "small": 40})


def test_exact_size_no_duplicates_small_sources_whole(spark, corpus):
    rows = _sample_ids(spark, corpus, seed=11, k=500)
    by_source: dict[str, list[str]] = {}
    for source, _, doc_id in rows:
        by_source.setdefault(source, []).append(doc_id)
    assert len(by_source["big"]) == 500
    assert len(by_source["mid"]) == 500
    assert len(set(by_source["big"])) == 500
    assert sorted(by_source["small"]) == sorted(f"small-{i}" for i in range(40))
    ranks = sorted(r for s, r, _ in rows if s == "big")
    assert ranks == list(range(1, 501))


def test_same_sample_with_1_2_and_8_partitions(spark, corpus):
    # shard_bytes sets how many read tasks the corpus is cut into.
    one = _sample_ids(spark, corpus, seed=11, k=300)
    for shard_bytes in (20_000, 4_000):
        assert _sample_ids(spark, corpus, seed=11, k=300, shard_bytes=shard_bytes) == one
    for partitions in (1, 2, 8):
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        assert _sample_ids(spark, corpus, seed=11, k=300) == one
    spark.conf.set("spark.sql.shuffle.partitions", "8")


def test_another_seed_gives_another_sample(spark, corpus):
    a = {d for s, _, d in _sample_ids(spark, corpus, seed=1, k=300) if s == "big"}
    b = {d for s, _, d in _sample_ids(spark, corpus, seed=2, k=300) if s == "big"}
    assert a != b
    assert len(a & b) < 150  # two 10% samples overlap by about 30 documents


def test_sample_is_uniform_over_positions(spark, corpus):
    # Every tenth of the source should hold about a tenth of the sample.
    rows = _sample_ids(spark, corpus, seed=3, k=1000)
    positions = [int(d.split("-")[1]) // 300 for s, _, d in rows if s == "big"]
    counts = [positions.count(i) for i in range(10)]
    assert min(counts) > 60 and max(counts) < 140, counts


def test_read_tasks_never_collect_the_corpus(spark, corpus):
    settings = AuditSettings(corpus=str(corpus), out="/tmp/unused", sample_size=50)
    report = read_and_sample(spark, plan_corpus(settings), settings)
    docs = report.where(F.col("kind") == "doc").count()
    report.unpersist()
    # 3 sources x 4 files, at most k candidates per source per shard
    assert docs <= 3 * 4 * 50
