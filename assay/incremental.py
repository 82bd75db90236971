"""Incremental audits: score only new or changed shards, keep the sample exactly uniform.

Every read task already reports, per shard, everything later stages need: per-source bottom-k
sample candidates (with text), review candidates, counts by reason, id keys and shard status.
Bottom-k is mergeable, so an incremental run that reuses the rows of unchanged shards from the
last run and reads only new or changed shards gets the same report a full re-run would - and
hence the same sample and the same verdicts. Removed shards are simply not in the current plan.

A run with `incremental=True`
- finds its baseline through `<output root>/_incremental/<corpus hash>.json` (written when an
  incremental run is published), loads that run's manifest.json and state/STATE.json;
- reuses a shard's rows when the current listing has the same object version (ETag or mtime),
  size and byte/row-group range, the baseline read it without error, and every setting that
  shapes the read report (the fingerprint) is unchanged; otherwise it reads the whole corpus;
- writes its own report rows to state/ so the next run can do the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from assay.settings import AuditSettings
from assay.storage import is_s3

log = logging.getLogger(__name__)

STATE_VERSION = 1
STATE_DIR = "state"
STATE_FILE = "STATE.json"
SCAN_DIR = "attributes"  # the automated scan's per-document attributes, in the run folder
POINTER_DIR = "_incremental"
# Settings that never change what a read task reports (decisions, outputs, plumbing).
# Any other setting, including ones added later, is part of the fingerprint.
NOT_READ_SHAPING = frozenset(
    {
        "corpus",
        "out",
        "run_id",
        "policy",
        "max_flagged_rate",
        "max_rejected_rate",
        "confidence",
        "interval_method",
        "decision_rule",
        "on_shard_error",
        "sampling_plan",
        "sprt_alpha",
        "sprt_beta",
        "sprt_margin",
        "sprt_batch",
        "include",
        "exclude",
        "shard_bytes",
        "aws_conn_id",
        "incremental",
        "scan_fraction",
        "min_review_acceptable",
        "min_scan_acceptable",
        "extra",
    }
)


def fingerprint(settings: AuditSettings, schema: pa.Schema) -> str:
    """A hash of everything that shapes per-shard report rows (settings, row schema, version)."""
    shaping = {
        f.name: getattr(settings, f.name)
        for f in fields(settings)
        if f.name not in NOT_READ_SHAPING
    }
    payload = json.dumps(
        {"state_version": STATE_VERSION, "settings": shaping, "schema": str(schema)},
        sort_keys=True,
        default=list,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def corpus_key(corpus: str) -> str:
    return hashlib.sha256(corpus.rstrip("/").encode()).hexdigest()[:20]


def _join(base: str, *parts: str) -> str:
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base).joinpath(*parts))


def pointer_uri(settings: AuditSettings) -> str:
    from assay.outputs import output_root

    return _join(output_root(settings.out), POINTER_DIR, f"{corpus_key(settings.corpus)}.json")


def _read_text(uri: str) -> str | None:
    if is_s3(uri):
        from assay import s3

        found = s3.get_bytes(uri)
        return found[0].decode() if found else None
    path = Path(uri)
    return path.read_text() if path.exists() else None


def shard_identity(uri: str, relpath: str, start: int, end: int, size: int, version: str) -> tuple:
    """What must be equal for a shard's rows to be reused: object, version, size, range."""
    return (relpath, uri, int(start), int(end), int(size), str(version))


@dataclass(frozen=True)
class Baseline:
    run_id: str
    run_uri: str
    state_files: list[str]
    shards: dict[tuple, tuple[int, str]]  # identity -> (baseline shard index, run that read it)
    scan: dict | None = None  # the baseline's automated scan: fraction, policy hash, files


def find_baseline(settings: AuditSettings, schema: pa.Schema) -> tuple[Baseline | None, str]:
    """The last published incremental run of this corpus, if its state can be reused."""
    pointer = _read_text(pointer_uri(settings))
    if pointer is None:
        return None, "no earlier incremental run of this corpus under the output root"
    ref = json.loads(pointer)
    run_uri = ref["run_uri"]
    state_text = _read_text(_join(run_uri, STATE_DIR, STATE_FILE))
    manifest_text = _read_text(_join(run_uri, "manifest.json"))
    if state_text is None or manifest_text is None:
        return None, f"baseline {run_uri} has no state/ or manifest.json"
    state = json.loads(state_text)
    if state.get("fingerprint") != fingerprint(settings, schema):
        return None, f"settings that shape reading changed since {ref['run_id']}"
    if state.get("corpus", "").rstrip("/") != settings.corpus.rstrip("/"):
        return None, "the baseline audited another corpus"
    manifest = json.loads(manifest_text)
    shards = {}
    for index, s in enumerate(manifest["shards"]):
        if s.get("error"):
            continue  # read again: the failure may have been transient
        ident = shard_identity(
            s["uri"], s["relpath"], s["range"][0], s["range"][1], s["size"], s["version"]
        )
        shards[ident] = (index, s.get("run_id") or manifest["run_id"])
    files = [_join(run_uri, STATE_DIR, name) for name in state["files"]]
    return Baseline(ref["run_id"], run_uri, files, shards, state.get("scan")), ""


@dataclass
class Increment:
    """What an incremental run reused and read; goes into stage.json and the manifest."""

    mode: str  # "full" or "incremental"
    reason: str = ""
    baseline_run: str = ""
    reused: dict[int, str] | None = None  # current shard index -> run that read it
    n_read: int = 0
    remap: dict[int, int] | None = None  # baseline shard index -> current shard index
    baseline: Baseline | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["n_reused"] = len(self.reused or {})
        for internal in ("reused", "remap", "baseline"):
            data.pop(internal)
        return data

    def scan_files(self, fraction: float, policy_hash: str) -> list[str]:
        """The baseline's scan attribute files, when its scan can stand for reused shards:
        the same fraction under the same policy (seed and fields are in the fingerprint)."""
        scan = self.baseline.scan if self.baseline is not None else None
        if not self.remap or not scan:
            return []
        if scan.get("fraction") != fraction or scan.get("policy_hash") != policy_hash:
            return []
        assert self.baseline is not None
        return [_join(self.baseline.run_uri, SCAN_DIR, name) for name in scan["files"]]


def read_report(spark, plan, settings: AuditSettings):
    """The read report for `plan`: reused baseline rows for unchanged shards, fresh reads else.

    Returns (persisted DataFrame, Increment).
    """
    from pyspark.storagelevel import StorageLevel

    from assay.audit import READ_SCHEMA, CorpusPlan, read_and_sample

    if not settings.incremental:
        return read_and_sample(spark, plan, settings), Increment(
            "full", "incremental is off", n_read=len(plan.shards)
        )
    baseline, reason = find_baseline(settings, READ_SCHEMA)
    if baseline is None:
        log.info("incremental: full read (%s)", reason)
        return read_and_sample(spark, plan, settings), Increment(
            "full", reason, n_read=len(plan.shards)
        )
    remap: dict[int, int] = {}
    reused: dict[int, str] = {}
    for shard in plan.shards:
        ident = shard_identity(
            shard.uri, shard.relpath, shard.start, shard.end, shard.size, shard.version
        )
        if ident in baseline.shards:
            old, read_by = baseline.shards[ident]
            remap[old] = shard.index
            reused[shard.index] = read_by
    fresh = [s for s in plan.shards if s.index not in reused]
    log.info(
        "incremental against %s: %d shards reused, %d to read, %d gone",
        baseline.run_id,
        len(reused),
        len(fresh),
        len(baseline.shards) - len(reused),
    )
    parts = []
    if fresh:
        parts.append(
            read_and_sample(spark, CorpusPlan(fresh, plan.ignored, plan.root_name), settings)
        )
    if remap:
        parts.append(reused_rows(spark, baseline.state_files, remap))
    if not parts:
        parts.append(read_and_sample(spark, plan, settings))
    report = parts[0]
    for part in parts[1:]:
        report = report.unionByName(part)
    if remap:
        report = report.persist(StorageLevel.MEMORY_AND_DISK)
    return report, Increment(
        "incremental", "", baseline.run_id, reused, len(fresh), remap, baseline
    )


def reused_rows(
    spark, state_files: list[str], remap: dict[int, int], schema: pa.Schema | None = None
):
    """The baseline's rows of reused shards, renumbered to this run's shard indices.

    Rows of the read report by default; `schema` names other per-shard rows (scan attributes).
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    from assay.audit import READ_SCHEMA
    from assay.connections import executor_access, use_in_executor

    schema = schema or READ_SCHEMA

    access_b = executor_access(spark)
    files_b = spark.sparkContext.broadcast(state_files)
    remap_b = spark.sparkContext.broadcast(remap)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        use_in_executor(access_b)
        for batch in batches:
            for i in batch.column(0).to_pylist():
                yield from remapped_state(files_b.value[i], remap_b.value, schema)

    tasks = spark.range(0, len(state_files), numPartitions=max(len(state_files), 1))
    return tasks.mapInArrow(task, from_arrow_schema(schema))


def remapped_state(
    uri: str, remap: dict[int, int], schema: pa.Schema | None = None
) -> Iterator[pa.RecordBatch]:
    """Rows of one state file whose shard is reused, with the shard renumbered."""
    import pyarrow.compute as pc

    from assay.audit import READ_SCHEMA
    from assay.storage import open_binary

    row_schema = schema or READ_SCHEMA

    old = pa.array(sorted(remap), pa.int32())
    new = pa.array([remap[k] for k in sorted(remap)], pa.int32())
    with open_binary(uri) as handle:
        table = pq.read_table(handle, schema=row_schema)
    table = table.filter(pc.is_in(table["shard"], value_set=old))
    if table.num_rows == 0:
        return
    shard = pc.take(new, pc.index_in(table["shard"], value_set=old))
    table = table.set_column(row_schema.get_field_index("shard"), "shard", shard.cast(pa.int32()))
    yield from table.combine_chunks().to_batches()


def save_state(
    report, staging: Path, settings: AuditSettings, scan: dict | None = None
) -> dict | None:
    """Write this run's report rows to state/ (incremental runs only) for the next run.

    scan: the automated scan's fraction, policy hash and attribute files, so that the next run
    can reuse the attributes of unchanged shards too.
    """
    from assay.audit import READ_SCHEMA, write_parquet

    if not settings.incremental:
        return None
    target = staging / STATE_DIR
    n_rows = report.count()
    write_parquet(report, target, n_rows, ["shard", "kind", "source", "key", "locator", "reason"])
    files = sorted(p.name for p in target.glob("*.parquet"))
    state = {
        "state_version": STATE_VERSION,
        "fingerprint": fingerprint(settings, READ_SCHEMA),
        "corpus": settings.corpus,
        "run_id": settings.run_id,
        "sample_size": settings.sample_size,
        "rows": n_rows,
        "files": files,
        "scan": scan,
    }
    (target / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    return state


def annotate_shards(shards: list[dict], increment: Increment, run_id: str) -> list[dict]:
    """Mark every shard with the run that read it (this run unless its rows were reused)."""
    reused = increment.reused or {}
    return [{**s, "read_by_run": reused.get(s["index"], run_id)} for s in shards]


def publish_pointer(settings: AuditSettings, run_uri: str) -> None:
    """Point the corpus's next incremental run at this (committed, published) run."""
    if not settings.incremental:
        return
    uri = pointer_uri(settings)
    data = json.dumps(
        {"run_id": settings.run_id, "run_uri": run_uri, "corpus": settings.corpus}, sort_keys=True
    ).encode()
    if is_s3(uri):
        from assay import s3

        s3.write_bytes(uri, data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
