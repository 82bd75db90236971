"""The corpus audit's Spark stage: plan shards, read and sample them, score the sample, summarise.

`run_spark_stage` is what both `jobs/corpus_audit_job.py` (spark-submit from the DAG) and
`assay audit` (the console) call. It writes its results into the run's staging folder; deciding,
validating and publishing happen afterwards in `assay.run`, without Spark.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.storagelevel import StorageLevel

from assay.corpus import (
    Document,
    IgnoredFile,
    Shard,
    ShardReadError,
    plan_shards,
    read_shard,
)
from assay.sample import BottomK, Candidate, sample_key
from assay.scoring import score_partitions, scored_schema
from assay.settings import AuditSettings
from assay.storage import list_objects

log = logging.getLogger(__name__)

# One row type for everything a read task reports: sample candidates, counts and shard status.
READ_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # "doc", "count" or "shard"
        ("shard", pa.int32()),
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("key", pa.int64()),
        ("locator", pa.int64()),
        ("text", pa.string()),
        ("reason", pa.string()),  # rejection reason ("" = eligible) or shard error
        ("n", pa.int64()),
    ]
)
CANDIDATE_COLUMNS = ["source", "doc_id", "key", "shard", "locator", "text"]


@dataclass(frozen=True)
class CorpusPlan:
    shards: list[Shard]
    ignored: list[IgnoredFile]
    root_name: str


def plan_corpus(settings: AuditSettings) -> CorpusPlan:
    """List the corpus and cut it into shards (driver side; reads listings and footers only)."""
    root = settings.corpus.rstrip("/")
    root_name = PurePosixPath(root.split("://", 1)[-1]).name or "corpus"
    objects = list_objects(settings.corpus, settings.include, settings.exclude)
    shards, ignored = plan_shards(objects, settings, root_name)
    return CorpusPlan(shards, ignored, root_name)


def bin_shards(shards: list[Shard], target_bytes: int) -> list[list[int]]:
    """Group consecutive small shards into read tasks of about target_bytes."""
    bins: list[list[int]] = []
    size = target_bytes
    for shard in shards:
        length = (shard.end - shard.start) if shard.end >= 0 and shard.container != "parquet" else shard.size
        if size + length > target_bytes and (not bins or bins[-1]):
            bins.append([])
            size = 0
        bins[-1].append(shard.index)
        size += length
    return [b for b in bins if b]


def read_task(
    task_shards: list[Shard], settings: AuditSettings
) -> Iterator[pa.RecordBatch]:
    """Read shards; yield per-shard bottom-k candidates per source, counts and shard status."""
    for shard in task_shards:
        yield _read_one_shard(shard, settings)


def _read_one_shard(shard: Shard, settings: AuditSettings) -> pa.RecordBatch:
    heaps: dict[str, BottomK] = {}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    error = ""
    k, seed = settings.sample_size, settings.seed
    try:
        for record in read_shard(shard, settings):
            if not isinstance(record, Document):
                counts[(record.source, record.reason)] += 1
                continue
            counts[(record.source, "")] += 1
            key = sample_key(seed, record.source, record.doc_id)
            heap = heaps.get(record.source)
            if heap is None:
                heap = heaps[record.source] = BottomK(k)
            worst = heap.worst_key()
            if worst is not None and key > worst:
                continue
            heap.offer(Candidate(key, shard.relpath, record.locator, record.doc_id, record.text))
    except ShardReadError as exc:
        error = str(exc)
    rows: dict[str, list] = {f.name: [] for f in READ_SCHEMA}

    def add(kind, source, doc_id=None, key=None, locator=None, text=None, reason="", n=0):
        for name, value in zip(
            READ_SCHEMA.names,
            (kind, shard.index, source, doc_id, key, locator, text, reason, n),
            strict=True,
        ):
            rows[name].append(value)

    for source, heap in heaps.items():
        for c in heap.items():
            add("doc", source, c.doc_id, c.key, c.locator, c.text)
    for (source, reason), n in counts.items():
        add("count", source, reason=reason, n=n)
    add("shard", None, reason=error, n=sum(counts.values()))
    return pa.RecordBatch.from_pydict(rows, schema=READ_SCHEMA)


def read_and_sample(spark: SparkSession, plan: CorpusPlan, settings: AuditSettings) -> DataFrame:
    """One Spark task per bin of shards; returns the persisted read-report rows."""
    bins = bin_shards(plan.shards, settings.shard_bytes)
    shards_b = spark.sparkContext.broadcast([s.to_dict() for s in plan.shards])
    bins_b = spark.sparkContext.broadcast(bins)
    settings_json = settings.to_json()

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        task_settings = AuditSettings.from_json(settings_json)
        all_shards = shards_b.value
        for batch in batches:
            for task_id in batch.column(0).to_pylist():
                task_shards = [Shard(**all_shards[i]) for i in bins_b.value[task_id]]
                yield from read_task(task_shards, task_settings)

    tasks = spark.range(0, len(bins), numPartitions=max(len(bins), 1))
    report = tasks.mapInArrow(task, from_arrow_schema(READ_SCHEMA))
    return report.persist(StorageLevel.MEMORY_AND_DISK)


def draw_sample(report: DataFrame, k: int) -> DataFrame:
    """The global bottom-k per source, with each document's rank in the sample's random order.

    A keys-only pass finds each source's k-th key; then only candidates at or below it are
    kept, so document text is never shuffled beyond the sample itself.
    """
    candidates = report.where(F.col("kind") == "doc").select(*CANDIDATE_COLUMNS)
    order = [F.col("key"), F.col("shard"), F.col("locator")]
    by_source = Window.partitionBy("source").orderBy(*order)
    cutoffs = (
        candidates.select("source", "key", "shard", "locator")
        .withColumn("_rank", F.row_number().over(by_source))
        .where(F.col("_rank") == k)
        .select(
            "source",
            F.col("key").alias("_ck"),
            F.col("shard").alias("_cs"),
            F.col("locator").alias("_cl"),
        )
    )
    at_or_below = (
        F.col("_ck").isNull()
        | (F.col("key") < F.col("_ck"))
        | ((F.col("key") == F.col("_ck")) & (F.col("shard") < F.col("_cs")))
        | (
            (F.col("key") == F.col("_ck"))
            & (F.col("shard") == F.col("_cs"))
            & (F.col("locator") <= F.col("_cl"))
        )
    )
    sample = candidates.join(F.broadcast(cutoffs), "source", "left").where(at_or_below)
    return sample.withColumn("rank", F.row_number().over(by_source)).select(
        "source", "rank", "doc_id", "key", "shard", "locator", "text"
    )


def score_sample(sample: DataFrame, policy_path: str | None) -> DataFrame:
    """Append flagged, categories and findings to every sampled document."""
    input_schema = pa.schema(
        [
            ("source", pa.string()),
            ("rank", pa.int32()),
            ("doc_id", pa.string()),
            ("key", pa.int64()),
            ("shard", pa.int32()),
            ("locator", pa.int64()),
            ("text", pa.string()),
        ]
    )
    out_schema = from_arrow_schema(scored_schema(input_schema))

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from score_partitions(batches, policy_path)

    return sample.mapInArrow(task, out_schema)


def collect_counts(report: DataFrame) -> list[dict]:
    """Per (source, reason) document counts; reason '' means eligible for sampling."""
    rows = (
        report.where(F.col("kind") == "count")
        .groupBy("source", "reason")
        .agg(F.sum("n").alias("n"))
        .collect()
    )
    return [r.asDict() for r in rows]


def collect_shard_counts(report: DataFrame) -> list[dict]:
    """Per shard: documents read and rejected by reason, and any read error."""
    status = {
        r["shard"]: r.asDict()
        for r in report.where(F.col("kind") == "shard").select("shard", "reason", "n").collect()
    }
    per_reason = (
        report.where((F.col("kind") == "count") & (F.col("reason") != ""))
        .groupBy("shard", "reason")
        .agg(F.sum("n").alias("n"))
        .collect()
    )
    rejected: dict[int, dict[str, int]] = defaultdict(dict)
    for r in per_reason:
        rejected[r["shard"]][r["reason"]] = r["n"]
    return [
        {"shard": i, "n_read": s["n"], "rejected": rejected.get(i, {}), "error": s["reason"]}
        for i, s in sorted(status.items())
    ]


def sample_stats(scored: DataFrame) -> list[dict]:
    """Per source: documents sampled and flagged, and flagged counts per category."""
    per_source = scored.groupBy("source").agg(
        F.count("*").alias("n_sampled"),
        F.sum(F.col("flagged").cast("long")).alias("n_flagged"),
    )
    per_category = (
        scored.select("source", F.explode("categories").alias("category"))
        .groupBy("source", "category")
        .count()
        .collect()
    )
    by_cat: dict[str, dict[str, int]] = defaultdict(dict)
    for r in per_category:
        by_cat[r["source"]][r["category"]] = r["count"]
    return [
        {**r.asDict(), "flagged_by_category": by_cat.get(r["source"], {})}
        for r in per_source.collect()
    ]


def write_samples(scored: DataFrame, staging: Path, n_rows: int) -> None:
    """Samples with scores as Parquet, partitioned and named deterministically."""
    parts = max(1, -(-n_rows // 500_000))
    tmp = staging / "_samples_spark"
    (
        scored.repartition(parts, "source")
        .sortWithinPartitions("source", "rank")
        .write.mode("overwrite")
        .parquet(str(tmp))
    )
    target = staging / "samples"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(tmp.glob("part-*.parquet")):
        path.rename(target / (path.name.split("-")[0] + "-" + path.name.split("-")[1] + ".parquet"))
    for leftover in sorted(tmp.iterdir(), reverse=True):
        leftover.unlink()
    tmp.rmdir()


def run_spark_stage(spark: SparkSession, settings: AuditSettings, staging: Path) -> dict:
    """Read, sample, score and summarise; write samples and stage.json into `staging`."""
    from assay.policy import load_policy

    policy = load_policy(settings.policy)
    plan = plan_corpus(settings)
    log.info("corpus %s: %d shards, %d files ignored", settings.corpus, len(plan.shards), len(plan.ignored))
    report = read_and_sample(spark, plan, settings)
    try:
        counts = collect_counts(report)
        shard_counts = collect_shard_counts(report)
        log.info("read %d documents", sum(c["n"] for c in counts))
        scored = score_sample(draw_sample(report, settings.sample_size), settings.policy)
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        stats = sample_stats(scored)
        write_samples(scored, staging, sum(s["n_sampled"] for s in stats))
        scored.unpersist()
    finally:
        report.unpersist()
    stage = {
        "settings": json.loads(settings.to_json()),
        "policy": {"name": policy.name, "version": policy.version, "hash": policy.hash},
        "counts": counts,
        "sample_stats": stats,
        "shards": [
            {**s.to_dict(), **shard_counts[i]} if i < len(shard_counts) else s.to_dict()
            for i, s in enumerate(plan.shards)
        ],
        "ignored_files": [vars(f) for f in plan.ignored],
    }
    (staging / "stage.json").write_text(json.dumps(stage, sort_keys=True, indent=1))
    return stage
