"""History: every run's per-source metrics in a store, and this run checked against them.

The store is a Parquet table a warehouse can read: `<root>/corpus_audit/corpus_id=<id>/<run
id>.parquet`, one file per run (concurrent runs never write the same file; a retried run
rewrites its own), partitioned by a short hash of the corpus location so one corpus's history
is one listing. The root is `settings.extra["metrics_root"]`, else `ASSAY_METRICS_ROOT`, else
`_metrics/` beside the run folders; s3:// roots go through `assay.storage`.

The checks are the GX suite `expectations/corpus_audit.history.json`: a source whose flagged
rate rose sharply or whose volume changed abruptly gets a *warning*. Warnings never fail a run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assay import storage
from assay.settings import AuditSettings

log = logging.getLogger(__name__)

SUITE = "corpus_audit.history"
TABLE = "corpus_audit"
TREND_RUNS = 30

SCHEMA = pa.schema(
    [
        ("corpus", pa.string()),
        ("source", pa.string()),
        ("policy_hash", pa.string()),
        ("run_id", pa.string()),
        ("run_time", pa.timestamp("us", tz="UTC")),
        ("n_read", pa.int64()),
        ("n_rejected", pa.int64()),
        ("n_eligible", pa.int64()),
        ("n_sampled", pa.int64()),
        ("n_used", pa.int64()),
        ("n_flagged", pa.int64()),
        ("flagged_rate", pa.float64()),
        ("rate_low", pa.float64()),
        ("rate_high", pa.float64()),
        ("rejected_rate", pa.float64()),
        ("verdict", pa.string()),
        ("n_warnings", pa.int64()),
        ("warnings", pa.string()),  # JSON list
        ("flagged_by_category", pa.string()),  # JSON object
        ("max_flagged_rate", pa.float64()),
        ("decision_rule", pa.string()),
        ("sample_size", pa.int64()),
        ("seed", pa.int64()),
    ]
)
HISTORY_COLUMNS = [
    "source",
    "baseline_runs",
    "baseline_rate",
    "flagged_rate",
    "rate_rise",
    "rate_rise_rel",
    "baseline_n_read",
    "n_read",
    "volume_ratio",
]


def metrics_root(settings: AuditSettings) -> str:
    """Where the metrics store lives for this run's output root."""
    explicit = (settings.extra or {}).get("metrics_root") or os.environ.get("ASSAY_METRICS_ROOT")
    if explicit:
        return str(explicit).rstrip("/")
    out = settings.out.rstrip("/")
    parent = out.rsplit("/", 1)[0] if storage.is_s3(out) else str(Path(out).resolve().parent)
    return f"{parent}/_metrics"


def corpus_key(corpus: str) -> str:
    """One spelling per corpus: absolute local paths, s3:// URIs without a trailing slash."""
    if storage.is_s3(corpus):
        return corpus.rstrip("/")
    return str(Path(corpus).resolve())


def corpus_id(corpus: str) -> str:
    return hashlib.sha256(corpus_key(corpus).encode()).hexdigest()[:16]


def corpus_prefix(root: str, corpus: str) -> str:
    return f"{root.rstrip('/')}/{TABLE}/corpus_id={corpus_id(corpus)}"


def used(record: dict) -> int:
    """Documents the verdict rests on: n_used (sequential sampling), else n_scored, else n_sampled."""
    for key in ("n_used", "n_scored", "n_sampled"):
        value = record.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return int(value)
    return 0


def metrics_frame(verdicts: dict, run_time: datetime) -> pd.DataFrame:
    """This run's per-source metrics as rows of the store."""
    s = verdicts.get("settings", {})
    rows = []
    for r in verdicts["sources"]:
        warnings = list(r.get("warnings") or [])
        n_read = int(r.get("n_read", 0))
        rows.append(
            {
                "corpus": corpus_key(verdicts["corpus"]),
                "source": str(r["source"]),
                "policy_hash": str((verdicts.get("policy") or {}).get("hash", "")),
                "run_id": verdicts["run_id"],
                "run_time": run_time,
                "n_read": n_read,
                "n_rejected": int(r.get("n_rejected", 0)),
                "n_eligible": int(r.get("n_eligible", 0)),
                "n_sampled": int(r.get("n_sampled", 0)),
                "n_used": used(r),
                "n_flagged": int(r.get("n_flagged", 0)),
                "flagged_rate": float(r.get("flagged_rate") or 0.0),
                "rate_low": float(r.get("rate_low") or 0.0),
                "rate_high": float(r.get("rate_high") or 0.0),
                "rejected_rate": int(r.get("n_rejected", 0)) / n_read if n_read else 0.0,
                "verdict": str(r.get("verdict", "")),
                "n_warnings": len(warnings),
                "warnings": json.dumps(warnings, sort_keys=True, default=str),
                "flagged_by_category": json.dumps(
                    r.get("flagged_by_category") or {}, sort_keys=True
                ),
                "max_flagged_rate": float(s.get("max_flagged_rate", math.nan)),
                "decision_rule": str(s.get("decision_rule", "")),
                "sample_size": int(s.get("sample_size", 0)),
                "seed": int(s.get("seed", 0)),
            }
        )
    return pd.DataFrame(rows, columns=SCHEMA.names)


def append_metrics(root: str, frame: pd.DataFrame) -> str:
    """Write one run's rows as its own Parquet file; returns its location."""
    if frame.empty:
        return ""
    run_id = str(frame["run_id"].iloc[0])
    uri = f"{corpus_prefix(root, str(frame['corpus'].iloc[0]))}/{run_id}.parquet"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False), sink)
    if storage.is_s3(uri):
        storage.write_bytes(uri, sink.getvalue())
    else:
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(sink.getvalue())
        os.replace(tmp, path)  # readers see the whole file or none
    log.info("metrics: %d rows -> %s", len(frame), uri)
    return uri


def record_metrics(root: str, frame: pd.DataFrame) -> str:
    """`append_metrics` for a finishing run: a store that cannot be written is logged, not fatal."""
    try:
        return append_metrics(root, frame)
    except Exception as exc:  # the verdicts stand; only the history misses this run
        log.error(
            "metrics store %s not written (%s): this run will be missing from trends", root, exc
        )
        return ""


def read_metrics(root: str, corpus: str) -> pd.DataFrame:
    """Every stored row of this corpus (all runs, all policies), oldest first."""
    prefix = corpus_prefix(root, corpus)
    try:
        objects = [o for o in storage.list_objects(prefix) if o.relpath.endswith(".parquet")]
    except (storage.StorageError, FileNotFoundError):
        return pd.DataFrame(columns=SCHEMA.names)
    tables = []
    for obj in objects:
        with storage.open_binary(obj.uri) as handle:
            table = pq.read_table(io.BytesIO(handle.read()))
        tables.append(table.select([n for n in SCHEMA.names if n in table.column_names]))
    if not tables:
        return pd.DataFrame(columns=SCHEMA.names)
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    frame = frame[frame["corpus"] == corpus_key(corpus)]
    return frame.sort_values(["run_time", "run_id", "source"]).reset_index(drop=True)


def suite_limits(settings: AuditSettings | None = None) -> dict:
    """The checks' limits: the suite's defaults, overridden by settings.extra['history']."""
    from assay.validation import load_suite

    limits = dict(load_suite(SUITE).get("meta", {}).get("parameters", {}))
    if settings is not None:
        limits.update((settings.extra or {}).get("history") or {})
    return limits


def history_table(
    current: pd.DataFrame, past: pd.DataFrame, policy_hash: str, limits: dict
) -> pd.DataFrame:
    """Per source: this run against the median of its last `baseline_runs` earlier runs."""
    n_runs = int(limits.get("baseline_runs", 5))
    floor = float(limits.get("min_rate_rise_for_rel", 0.0))
    rows = []
    for r in current.itertuples(index=False):
        mine = past[past["source"] == r.source]
        volume = _last_runs(mine, n_runs)
        rates = _last_runs(mine[mine["policy_hash"] == policy_hash], n_runs)
        rate = float(r.flagged_rate)
        base_rate = float(rates["flagged_rate"].median()) if len(rates) else math.nan
        rise = rate - base_rate if len(rates) else math.nan
        rel = math.nan
        if len(rates) and rise >= floor and rise > 0:
            rel = rise / max(base_rate, floor, 1e-9)  # a zero baseline counts as the floor
        base_n = float(volume["n_read"].median()) if len(volume) else math.nan
        ratio = int(r.n_read) / base_n if len(volume) and base_n > 0 else math.nan
        rows.append(
            {
                "source": r.source,
                "baseline_runs": len(rates),
                "baseline_rate": base_rate,
                "flagged_rate": rate,
                "rate_rise": rise,
                "rate_rise_rel": rel,
                "baseline_n_read": base_n,
                "n_read": int(r.n_read),
                "volume_ratio": ratio,
            }
        )
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _last_runs(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    return rows.sort_values("run_time").tail(n) if len(rows) else rows


@dataclass
class HistoryCheck:
    """This run against the store: the compared table, the GX outcome, warnings per source."""

    table: pd.DataFrame
    past: pd.DataFrame
    limits: dict
    success: bool = True
    result_file: str = ""
    warnings: dict[str, list[dict]] = field(default_factory=dict)
    root: str = ""

    def warnings_for(self, source: str) -> list[dict]:
        return self.warnings.get(source, [])

    def summary(self) -> dict:
        """The `history` block of verdicts.json."""
        return {
            "suite": SUITE,
            "severity": "warning",
            "success": self.success,
            "result": self.result_file,
            "store": self.root,
            "earlier_runs": int(self.past["run_id"].nunique()) if len(self.past) else 0,
            "limits": self.limits,
            "warned_sources": sorted(self.warnings),
        }


def check_history(
    decided: pd.DataFrame, settings: AuditSettings, policy_hash: str, run_dir: Path
) -> HistoryCheck:
    """Compare this run with the store and validate `corpus_audit.history` (warnings only)."""
    from assay.validation import validate_table

    root = metrics_root(settings)
    limits = suite_limits(settings)
    try:
        past = read_metrics(root, settings.corpus)
    except Exception as exc:  # history is advisory: an unreadable store must not sink the run
        log.warning("metrics store %s unreadable (%s); history checks skipped", root, exc)
        past = pd.DataFrame(columns=SCHEMA.names)
    past = past[past["run_id"] != settings.run_id]
    table = history_table(decided, past, policy_hash, limits)
    outcome = validate_table(table, SUITE, limits, run_dir, settings.run_id)
    check = HistoryCheck(table, past, limits, outcome.success, outcome.result_path.name, root=root)
    by_source = table.set_index("source")
    for expectation in outcome.expectations:
        for source in expectation.failing:
            if source in by_source.index:
                message = _warning(expectation.column or "", by_source.loc[source], limits)
                check.warnings.setdefault(source, []).append(message)
    if check.warnings:
        log.warning(
            "history warnings: %s",
            {s: [w["check"] for w in ws] for s, ws in check.warnings.items()},
        )
    return check


def _warning(column: str, row: pd.Series, limits: dict) -> dict:
    """A warning a person can act on: what moved, from what, to what, against which limit."""
    base, rate = float(row["baseline_rate"]), float(row["flagged_rate"])
    runs = int(row["baseline_runs"])
    if column == "rate_rise":
        value, limit = float(row["rate_rise"]), float(limits["max_rate_rise"])
        text = (
            f"flagged rate rose sharply: {rate:.2%} against {base:.2%} (median of {runs} earlier runs), "
            f"+{value * 100:.1f} points; warning above +{limit * 100:.1f}"
        )
    elif column == "rate_rise_rel":
        value, limit = float(row["rate_rise_rel"]), float(limits["max_rate_rise_rel"])
        growth = "from zero" if base == 0 else f"+{value:.0%}"
        text = (
            f"flagged rate rose {growth}: {rate:.2%} against {base:.2%} (median of {runs} earlier runs); "
            f"warning above +{limit:.0%}"
        )
    else:
        value = float(row["volume_ratio"])
        limit = [float(limits["min_volume_ratio"]), float(limits["max_volume_ratio"])]
        text = (
            f"volume changed abruptly: {int(row['n_read'])} documents read against "
            f"{float(row['baseline_n_read']):.0f} earlier (x{value:.2f}; expected x{limit[0]:g}..x{limit[1]:g})"
        )
    return {"check": column, "severity": "warning", "message": text, "value": value, "limit": limit}


def trend_frame(past: pd.DataFrame, current: pd.DataFrame, runs: int = TREND_RUNS) -> pd.DataFrame:
    """Flagged rate per source and run for the trend chart: the last `runs` runs, this one included."""
    columns = [
        "run_id",
        "run_time",
        "source",
        "flagged_rate",
        "rate_low",
        "rate_high",
        "n_read",
        "policy_hash",
    ]
    frames = [f[columns] for f in (past, current) if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    both = pd.concat(frames, ignore_index=True)
    both["run_time"] = pd.to_datetime(both["run_time"], utc=True)
    keep = both.drop_duplicates("run_id").sort_values("run_time").tail(runs)["run_id"]
    return (
        both[both["run_id"].isin(set(keep))]
        .sort_values(["run_time", "source"])
        .reset_index(drop=True)
    )


def now() -> datetime:
    return datetime.now(UTC)
