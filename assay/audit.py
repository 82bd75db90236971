"""The corpus audit's Spark stage: plan shards, read and sample them, score the sample, summarise.

`run_spark_stage` is what both `jobs/corpus_audit_job.py` (spark-submit from the DAG) and
`assay audit` (the console) call. It writes its results into the run's staging folder; deciding,
validating and publishing happen afterwards in `assay.run`, without Spark.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.storagelevel import StorageLevel

from assay.batches import DocumentBatch, read_batches
from assay.connections import executor_access, use_in_executor
from assay.corpus import (
    IgnoredFile,
    Shard,
    ShardReadError,
    derived_id,
    plan_shards,
)
from assay.incremental import Increment, annotate_shards, read_report, save_state
from assay.parquet_pages import TextFill
from assay.paths import file_escapes_corpus
from assay.sample import KEY_BITS, ColumnBottomK, review_keys, sample_keys
from assay.scoring import score_partitions, scored_schema
from assay.settings import AuditSettings
from assay.storage import list_objects

log = logging.getLogger(__name__)

# One row type for everything a read task reports: sample candidates, counts and shard status.
READ_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # "doc", "review", "count", "read", "ids" or "shard"
        ("shard", pa.int32()),
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("key", pa.int64()),  # sample or review key; for "ids" rows, the key bucket
        ("locator", pa.int64()),
        ("text", pa.string()),
        ("reason", pa.string()),  # rejection reason ("" = eligible) or shard error
        ("n", pa.int64()),
        ("keys", pa.binary()),  # "ids" rows: the bucket's sample keys of explicit ids (int64)
    ]
)
ID_BUCKET_BITS = 8  # explicit-id keys travel in 256 buckets by their top bits
CANDIDATE_COLUMNS = ["source", "doc_id", "key", "shard", "locator", "text"]
SAMPLE_COLUMNS = ["source", "rank", "doc_id", "key", "shard", "locator", "text"]


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
    escaping = [o for o in objects if file_escapes_corpus(o.uri, settings.corpus)]  # symlinks out
    objects = [o for o in objects if o not in escaping]
    shards, ignored = plan_shards(objects, settings, root_name)
    ignored += [IgnoredFile(o.relpath, o.size, "outside_corpus_roots") for o in escaping]
    return CorpusPlan(shards, ignored, root_name)


def bin_shards(shards: list[Shard], target_bytes: int) -> list[list[int]]:
    """Group consecutive small shards into read tasks of about target_bytes."""
    bins: list[list[int]] = []
    size = target_bytes
    for shard in shards:
        length = (
            (shard.end - shard.start)
            if shard.end >= 0 and shard.container != "parquet"
            else shard.size
        )
        if size + length > target_bytes and (not bins or bins[-1]):
            bins.append([])
            size = 0
        bins[-1].append(shard.index)
        size += length
    return [b for b in bins if b]


CRASH_ONCE_ENV = "ASSAY_TEST_CRASH_READ_ONCE"  # test-only: a marker path; see crash_once_for_tests


def crash_once_for_tests() -> None:
    """Fault injection for tests: the first read task to create the marker file kills its worker."""
    marker = os.environ.get(CRASH_ONCE_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(17)


def _read_one_shard(shard: Shard, settings: AuditSettings) -> pa.RecordBatch:
    """Everything the sampling pass keeps of one shard, as READ_SCHEMA rows.

    Per source: the bottom-k sample candidates (with text), documents read, eligible and
    rejected by reason, and the sample keys of explicit ids (to count repeated ids); the
    corpus-wide review candidates; and one "shard" row with the read error, if any.
    """
    crash_once_for_tests()
    sampler = _ShardSampler(shard, settings)
    error = ""
    try:
        # Parquet text may be deferred: read later for sampled rows only (parquet_pages).
        for batch in read_batches(shard, settings, defer_text=True):
            sampler.add(batch)
    except ShardReadError as exc:
        error = str(exc)
    return sampler.rows(error)


class _ShardSampler:
    """Per-source bottom-k, review bottom-k and counts over one shard's document batches."""

    def __init__(self, shard: Shard, settings: AuditSettings):
        self.shard, self.seed, self.k = shard, settings.seed, settings.sample_size
        self.samples: dict[str, ColumnBottomK] = {}
        self.review = ColumnBottomK(settings.review_sample_size)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.read: dict[str, int] = defaultdict(int)  # every record, counted as it was read
        self.id_keys: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, batch: DocumentBatch) -> None:
        for rejection in batch.rejections:
            self.read[rejection.source] += 1
            self.counts[(rejection.source, rejection.reason)] += 1
        if not len(batch):
            return
        for source, rows in batch.by_source():
            self._add_source(source, batch, rows)

    def _add_source(self, source: str, batch: DocumentBatch, rows: np.ndarray) -> None:
        self.read[source] += len(rows)
        self.counts[(source, "")] += len(rows)
        whole = len(rows) == len(batch)
        ids = batch.doc_id if whole else batch.doc_id.take(pa.array(rows))
        locator = batch.locator[rows]
        keys = sample_keys(self.seed, source, ids)
        self.id_keys[source].append(keys[self._explicit(ids, locator)])
        sample = self.samples.get(source)
        if sample is None:
            sample = self.samples[source] = ColumnBottomK(self.k)
        self._offer(sample, keys, rows, locator, batch, source=None)
        if self.review.k:
            self._offer(
                self.review, review_keys(self.seed, source, ids), rows, locator, batch, source
            )

    def _offer(self, heap, keys, rows, locator, batch, source: str | None) -> None:
        limit = heap.threshold()
        if limit is not None:
            inside = np.flatnonzero(keys <= limit)
            keys, rows, locator = keys[inside], rows[inside], locator[inside]
        if not len(keys):
            return
        take = pa.array(rows)
        payload = pa.table({"doc_id": batch.doc_id.take(take), "text": batch.text.take(take)})
        ties = [locator]
        if source is not None:  # the review sample orders equal keys by source, then locator
            ties = [np.full(len(keys), source, dtype=object), locator]
        heap.offer(keys, ties, payload)

    def _explicit(self, ids: pa.Array, locator: np.ndarray) -> np.ndarray:
        """Documents whose id came from the record, not derived from where it was read."""
        prefix = f"{self.shard.relpath}@"
        maybe = pc.starts_with(ids, prefix).to_numpy(zero_copy_only=False)
        explicit = np.ones(len(locator), dtype=bool)
        for i in np.flatnonzero(maybe):
            explicit[i] = ids[int(i)].as_py() != derived_id(self.shard.relpath, int(locator[i]))
        return explicit

    def rows(self, error: str) -> pa.RecordBatch:
        index = self.shard.index
        parts = []
        for source, sample in self.samples.items():
            parts.append(_candidate_rows("doc", index, [source] * len(sample), sample))
        if len(self.review):
            sources = self.review.ties[0].tolist()
            parts.append(_candidate_rows("review", index, sources, self.review))
        for source, chunks in self.id_keys.items():
            parts.append(_id_rows(index, source, np.concatenate(chunks)))
        counted = list(self.counts.items())
        parts.append(
            _report_rows(
                "count",
                index,
                [source for (source, _), _ in counted],
                reason=[reason for (_, reason), _ in counted],
                n=[n for _, n in counted],
            )
        )
        parts.append(_report_rows("read", index, list(self.read), n=list(self.read.values())))
        parts.append(
            _report_rows("shard", index, [None], reason=[error], n=[sum(self.read.values())])
        )
        return pa.concat_batches([p for p in parts if p.num_rows])


def _candidate_rows(kind: str, shard: int, sources: list, heap: ColumnBottomK) -> pa.RecordBatch:
    payload = heap.payload
    assert payload is not None
    return _report_rows(
        kind,
        shard,
        sources,
        doc_id=payload.column("doc_id").combine_chunks(),
        key=heap.keys,
        locator=heap.ties[-1],
        text=payload.column("text").combine_chunks(),
    )


def _id_rows(shard: int, source: str, keys: np.ndarray) -> pa.RecordBatch:
    """The sample keys of a shard's explicit ids, sorted, cut into buckets by their top bits."""
    keys = np.sort(keys)
    buckets = keys >> (KEY_BITS - ID_BUCKET_BITS)
    cuts = np.flatnonzero(np.diff(buckets)) + 1
    chunks = np.split(keys, cuts) if len(keys) else []
    return _report_rows(
        "ids",
        shard,
        [source] * len(chunks),
        key=[int(c[0] >> (KEY_BITS - ID_BUCKET_BITS)) for c in chunks],
        n=[len(c) for c in chunks],
        keys=[c.astype("<i8").tobytes() for c in chunks],
    )


def _report_rows(kind: str, shard: int, sources: list, **columns) -> pa.RecordBatch:
    """READ_SCHEMA rows of one kind; columns not given are null (reason: '', n: 0)."""
    n = len(sources)
    arrays = []
    for f in READ_SCHEMA:
        if f.name == "kind":
            arrays.append(pa.array([kind] * n, f.type))
        elif f.name == "shard":
            arrays.append(pa.array(np.full(n, shard, dtype=np.int32), f.type))
        elif f.name == "source":
            arrays.append(pa.array(sources, f.type))
        elif f.name in columns:
            arrays.append(pa.array(columns[f.name], f.type))
        elif f.name == "reason":
            arrays.append(pa.array([""] * n, f.type))
        elif f.name == "n":
            arrays.append(pa.array(np.zeros(n, dtype=np.int64), f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=READ_SCHEMA)


def over_shards(
    spark: SparkSession,
    plan: CorpusPlan,
    settings: AuditSettings,
    per_shard: Callable[[Shard, AuditSettings], Iterator[pa.RecordBatch]],
    schema: pa.Schema,
) -> DataFrame:
    """Run `per_shard` on every shard, one Spark task per bin of shards (mapInArrow)."""
    bins = bin_shards(plan.shards, settings.shard_bytes)
    shards_b = spark.sparkContext.broadcast({s.index: s.to_dict() for s in plan.shards})
    access_b = executor_access(spark)  # S3 endpoint/credentials for the executors' environment
    bins_b = spark.sparkContext.broadcast(bins)
    settings_json = settings.to_json()

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        use_in_executor(access_b)
        task_settings = AuditSettings.from_json(settings_json)
        all_shards = shards_b.value
        for batch in batches:
            for task_id in batch.column(0).to_pylist():
                for i in bins_b.value[task_id]:
                    yield from per_shard(Shard(**all_shards[i]), task_settings)

    tasks = spark.range(0, len(bins), numPartitions=max(len(bins), 1))
    return tasks.mapInArrow(task, from_arrow_schema(schema))


def read_and_sample(spark: SparkSession, plan: CorpusPlan, settings: AuditSettings) -> DataFrame:
    """Counts, shard status and sample candidates for every shard; persisted for reuse."""

    def per_shard(shard: Shard, task_settings: AuditSettings) -> Iterator[pa.RecordBatch]:
        yield _read_one_shard(shard, task_settings)

    report = over_shards(spark, plan, settings, per_shard, READ_SCHEMA)
    return report.persist(StorageLevel.MEMORY_AND_DISK)


def scan_corpus(spark: SparkSession, plan: CorpusPlan, settings: AuditSettings) -> DataFrame:
    """The automated scan: score the seeded scan_fraction of every source with every detector.

    Scoring happens in the read task, so scanned text never leaves it; only per-document
    attributes (flags, categories, spans with masked evidence) come out, like a tagger's.
    """
    from assay.scoring import ATTRIBUTE_SCHEMA, scan_shard

    return over_shards(spark, plan, settings, scan_shard, ATTRIBUTE_SCHEMA)


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


def draw_review_sample(report: DataFrame, k: int) -> DataFrame:
    """The corpus-wide review sample: the k smallest review keys over every source.

    Ranks (and the cut at k, should keys tie) are assigned by `review_stage` on the driver,
    where the at most k rows are collected anyway.
    """
    candidates = report.where(F.col("kind") == "review").select(*CANDIDATE_COLUMNS)
    keys = [r["key"] for r in candidates.select("key").orderBy("key").limit(k).collect()]
    chosen = candidates.where(F.col("key") <= keys[-1]) if keys else candidates.limit(0)
    return chosen.withColumn("rank", F.lit(0)).select(*SAMPLE_COLUMNS)


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
    """Per reported shard: documents read, eligible and rejected by reason, sources, read error."""
    status = {
        r["shard"]: r.asDict()
        for r in report.where(F.col("kind") == "shard").select("shard", "reason", "n").collect()
    }
    per_reason = (
        report.where(F.col("kind") == "count")
        .groupBy("shard", "source", "reason")
        .agg(F.sum("n").alias("n"))
        .collect()
    )
    eligible: dict[int, int] = defaultdict(int)
    rejected: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sources: dict[int, set[str]] = defaultdict(set)
    for r in per_reason:
        sources[r["shard"]].add(r["source"])
        if r["reason"]:
            rejected[r["shard"]][r["reason"]] += r["n"]
        else:
            eligible[r["shard"]] += r["n"]
    return [
        {
            "shard": i,
            "n_read": s["n"],
            "n_eligible": eligible.get(i, 0),
            "rejected": dict(sorted(rejected.get(i, {}).items())),
            "sources": sorted(sources.get(i, ())),
            "error": s["reason"],
        }
        for i, s in sorted(status.items())
    ]


UNREPORTED = "no report from its read task: the shard was not read; rerun the audit"


def shard_accounts(shards: list[Shard], shard_counts: list[dict]) -> list[dict]:
    """Every planned shard with its counts; a shard no task reported on gets an error."""
    reported = {c["shard"]: c for c in shard_counts}
    missing = {"n_read": 0, "n_eligible": 0, "rejected": {}, "error": UNREPORTED}
    return [
        {**s.to_dict(), **reported.get(s.index, {**missing, "sources": [s.path_source]})}
        for s in shards
    ]


def collect_read_counts(report: DataFrame) -> dict[str, int]:
    """Per source: records read, counted as they were read (before they were classified)."""
    rows = report.where(F.col("kind") == "read").groupBy("source").agg(F.sum("n").alias("n"))
    return {r["source"]: int(r["n"]) for r in rows.collect()}


def collect_duplicate_ids(report: DataFrame) -> dict[str, int]:
    """Per source: documents whose explicit id an earlier document of the source already had.

    Each key bucket of each source is gathered in one task, which counts the repeated keys.
    """
    out_schema = pa.schema([("source", pa.string()), ("n", pa.int64())])

    def repeats(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        groups: dict[tuple[str, int], list[np.ndarray]] = defaultdict(list)
        for batch in batches:
            columns = batch.to_pydict()
            for source, bucket, keys in zip(
                columns["source"], columns["key"], columns["keys"], strict=True
            ):
                groups[(source, bucket)].append(np.frombuffer(keys, dtype="<i8"))
        sources, counts = [], []
        for (source, _), parts in groups.items():
            keys = np.concatenate(parts)
            sources.append(source)
            counts.append(len(keys) - len(np.unique(keys)))
        yield pa.RecordBatch.from_pydict({"source": sources, "n": counts}, schema=out_schema)

    per_bucket = (
        report.where(F.col("kind") == "ids")
        .select("source", "key", "keys")
        .repartition("source", "key")
        .mapInArrow(repeats, from_arrow_schema(out_schema))
    )
    rows = per_bucket.groupBy("source").agg(F.sum("n").alias("n")).where(F.col("n") > 0)
    return {r["source"]: int(r["n"]) for r in rows.collect()}


def sample_stats(sample: DataFrame, scored: DataFrame) -> list[dict]:
    """Per source: documents drawn, scored and flagged, and flagged counts per category."""
    drawn = {r["source"]: r["count"] for r in sample.groupBy("source").count().collect()}
    per_source = {
        r["source"]: r
        for r in scored.groupBy("source")
        .agg(
            F.count("*").alias("n_scored"), F.sum(F.col("flagged").cast("long")).alias("n_flagged")
        )
        .collect()
    }
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
        {
            "source": source,
            "n_sampled": n,
            "n_scored": int(per_source[source]["n_scored"]) if source in per_source else 0,
            "n_flagged": int(per_source[source]["n_flagged"] or 0) if source in per_source else 0,
            "flagged_by_category": by_cat.get(source, {}),
        }
        for source, n in sorted(drawn.items())
    ]


def score_in_rounds(
    sample: DataFrame, settings: AuditSettings
) -> tuple[DataFrame, dict[str, dict]]:
    """Sequential sampling: score ranks batch by batch; a source stops once its SPRT decides.

    Returns the scored rows (only what was scored) and, per source, how its test ended.
    """
    from functools import reduce

    from assay.sequential import CONTINUE, VERDICT, next_n, plan_for, sprt_state

    plan = plan_for(
        settings.max_flagged_rate,
        alpha=settings.sprt_alpha,
        beta=settings.sprt_beta,
        relative_margin=settings.sprt_margin,
        batch_size=settings.sprt_batch,
        max_n=settings.sample_size,
    )
    available = {r["source"]: r["count"] for r in sample.groupBy("source").count().collect()}
    totals = {source: [0, 0] for source in available}  # k, n
    outcome: dict[str, dict] = {}
    parts: list[DataFrame] = []
    done, rounds = 0, 0
    while len(outcome) < len(available):
        upto = next_n(done, plan)
        active = sorted(s for s in available if s not in outcome)
        batch = sample.where(
            (F.col("rank") > done) & (F.col("rank") <= upto) & F.col("source").isin(active)
        )
        scored = score_sample(batch, settings.policy).persist(StorageLevel.MEMORY_AND_DISK)
        parts.append(scored)
        rounds += 1
        for r in (
            scored.groupBy("source")
            .agg(F.count("*").alias("n"), F.sum(F.col("flagged").cast("long")).alias("k"))
            .collect()
        ):
            totals[r["source"]][0] += int(r["k"] or 0)
            totals[r["source"]][1] += int(r["n"])
        for source in active:
            k, n = totals[source]
            state = sprt_state(k, n, plan, exhausted=n >= available[source])
            if state != CONTINUE:
                llr = plan.llr(k, n)
                inside = plan.lower < llr < plan.upper
                stopped = ("max_n" if n >= plan.max_n else "exhausted") if inside else "sprt"
                outcome[source] = {
                    "decision": VERDICT[state],
                    "n_used": n,
                    "k_used": k,
                    "rounds": rounds,
                    "stopped_by": stopped,
                }
        done = upto
        log.info(
            "sequential round %d: %d of %d sources decided", rounds, len(outcome), len(available)
        )
    scored_all = (
        reduce(DataFrame.unionByName, parts) if parts else score_sample(sample, settings.policy)
    )
    plan_info = {
        "p0": plan.p0,
        "p1": plan.p1,
        "alpha": plan.alpha,
        "beta": plan.beta,
        "batch_size": plan.batch_size,
        "max_n": plan.max_n,
    }
    return scored_all, {"plan": plan_info, "sources": outcome}


def write_parquet(frame: DataFrame, target: Path, n_rows: int, order: list[str]) -> None:
    """Write rows as Parquet parts named part-NNNNN.parquet, partitioned and sorted
    deterministically, so the same input gives the same files."""
    parts = max(1, -(-n_rows // 500_000))
    tmp = target.parent / f"_{target.name}_spark"
    (
        frame.repartition(parts, order[0])
        .sortWithinPartitions(*order)
        .write.mode("overwrite")
        .parquet(str(tmp))
    )
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(tmp.glob("part-*.parquet")):
        path.rename(target / ("-".join(path.name.split("-")[:2]) + ".parquet"))
    for leftover in sorted(tmp.iterdir(), reverse=True):
        leftover.unlink()
    tmp.rmdir()


def write_samples(scored: DataFrame, staging: Path, n_rows: int) -> None:
    """Samples with scores (access-controlled: full evidence) under samples/."""
    write_parquet(scored, staging / "samples", n_rows, ["source", "rank"])


def review_stage(
    report: DataFrame, settings: AuditSettings, staging: Path, fill: Callable | None = None
) -> dict | None:
    """Draw and score the corpus-wide review sample; export it as a masked review queue.

    fill: reads deferred Parquet text for the drawn rows (parquet_pages.TextFill).
    """
    from assay.review import export_review_queue

    if not settings.review_sample_size:
        return None
    review = draw_review_sample(report, settings.review_sample_size)
    if fill is not None:
        review = fill(review)
    frame = score_sample(review, settings.policy).toPandas()
    frame = frame.sort_values(["key", "source", "shard", "locator"]).head(
        settings.review_sample_size
    )
    frame["rank"] = range(1, len(frame) + 1)
    # A review queue row must name one document: where ids repeat, name the copy too.
    repeated = frame.duplicated(["source", "doc_id"], keep=False)
    frame.loc[repeated, "doc_id"] = (
        frame.loc[repeated, "doc_id"]
        + "#shard"
        + frame.loc[repeated, "shard"].astype(str)
        + "@"
        + frame.loc[repeated, "locator"].astype(str)
    )
    exported = export_review_queue(frame, staging / "review")
    return {
        "n": int(len(frame)),
        "n_flagged": int(frame["flagged"].sum()) if len(frame) else 0,
        "files": [Path(exported["csv"]).name, Path(exported["jsonl"]).name],
    }


def scan_stage(
    spark: SparkSession,
    plan: CorpusPlan,
    settings: AuditSettings,
    staging: Path,
    increment: Increment | None = None,
    policy_hash: str = "",
) -> dict | None:
    """The automated scan over scan_fraction of the corpus; attributes under attributes/.

    An incremental run scans only new or changed shards when its baseline scanned the same
    fraction under the same policy; unchanged shards keep the baseline's attributes.
    """
    from assay.incremental import SCAN_DIR, reused_rows
    from assay.scoring import ATTRIBUTE_SCHEMA

    if not settings.scan_fraction:
        return None
    reuse = increment.scan_files(settings.scan_fraction, policy_hash) if increment else []
    to_scan = plan
    if reuse:
        assert increment is not None and increment.remap is not None
        reused = set(increment.remap.values())
        to_scan = CorpusPlan(
            [s for s in plan.shards if s.index not in reused], plan.ignored, plan.root_name
        )
    attributes = scan_corpus(spark, to_scan, settings) if to_scan.shards else None
    if reuse:
        kept = reused_rows(spark, reuse, increment.remap, ATTRIBUTE_SCHEMA)
        attributes = kept if attributes is None else attributes.unionByName(kept)
    if attributes is None:
        attributes = scan_corpus(spark, plan, settings)
    attributes = attributes.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        per_source = {
            r["source"]: {"n": int(r["n"]), "n_flagged": int(r["k"] or 0)}
            for r in attributes.groupBy("source")
            .agg(F.count("*").alias("n"), F.sum(F.col("flagged").cast("long")).alias("k"))
            .collect()
        }
        n = sum(v["n"] for v in per_source.values())
        write_parquet(attributes, staging / SCAN_DIR, n, ["source", "doc_id", "shard", "locator"])
    finally:
        attributes.unpersist()
    return {
        "fraction": settings.scan_fraction,
        "n": n,
        "n_flagged": sum(v["n_flagged"] for v in per_source.values()),
        "sources": dict(sorted(per_source.items())),
        "shards_scanned": len(to_scan.shards) if reuse else len(plan.shards),
        "shards_reused": len(plan.shards) - len(to_scan.shards) if reuse else 0,
        "policy_hash": policy_hash,
        "files": sorted(p.name for p in (staging / SCAN_DIR).glob("*.parquet")),
    }


def _scan_state(scan: dict | None) -> dict | None:
    if scan is None:
        return None
    return {k: scan[k] for k in ("fraction", "policy_hash", "files")}


def run_spark_stage(spark: SparkSession, settings: AuditSettings, staging: Path) -> dict:
    """Read, sample, score and summarise; write samples and stage.json into `staging`."""
    from assay.policy import load_policy

    policy = load_policy(settings.policy)
    plan = plan_corpus(settings)
    log.info(
        "corpus %s: %d shards, %d files ignored",
        settings.corpus,
        len(plan.shards),
        len(plan.ignored),
    )
    for f in plan.ignored[:20]:
        log.warning("not read: %s (%s); see ignored_files in manifest.json", f.relpath, f.reason)
    report, increment = read_report(spark, plan, settings)  # full, or reusing unchanged shards
    text_fill = TextFill(spark, plan, settings)  # deferred Parquet text, read for drawn rows only
    try:
        counts = collect_counts(report)
        shard_counts = collect_shard_counts(report)
        read_counts = collect_read_counts(report)
        duplicate_ids = collect_duplicate_ids(report)
        log.info("read %d documents", sum(c["n"] for c in counts))
        sample = text_fill(draw_sample(report, settings.sample_size))
        sample = sample.persist(StorageLevel.MEMORY_AND_DISK)
        sequential = None
        if settings.sampling_plan == "sequential":
            scored, sequential = score_in_rounds(sample, settings)
        else:
            scored = score_sample(sample, settings.policy)
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        stats = sample_stats(sample, scored)
        write_samples(scored, staging, sum(s["n_scored"] for s in stats))
        sample.unpersist()
        scored.unpersist()
        review = review_stage(report, settings, staging, text_fill)
        scan = scan_stage(spark, plan, settings, staging, increment, policy.hash)
        save_state(report, staging, settings, _scan_state(scan))
    finally:
        report.unpersist()
    stage = {
        "settings": json.loads(settings.to_json()),
        "policy": {"name": policy.name, "version": policy.version, "hash": policy.hash},
        "counts": counts,
        "sample_stats": stats,
        "sequential": sequential,
        "review": review,
        "scan": scan,
        "read_counts": read_counts,
        "duplicate_ids": duplicate_ids,
        "shards": annotate_shards(
            shard_accounts(plan.shards, shard_counts), increment, settings.run_id
        ),
        "ignored_files": [vars(f) for f in plan.ignored],
        "incremental": {
            **increment.to_dict(),
            **({k: scan[k] for k in ("shards_scanned", "shards_reused")} if scan else {}),
        },
        "parquet_text_bytes_read": text_fill.bytes_read(),
    }
    (staging / "stage.json").write_text(json.dumps(stage, sort_keys=True, indent=1))
    return stage
