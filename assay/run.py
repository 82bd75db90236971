"""A corpus audit run, start to finish: Spark stage, then decide, validate and publish.

The DAG runs `spark_stage` through spark-submit (jobs/corpus_audit_job.py) and `finalize` as a
plain task; `assay audit` runs both in one process. Both write the same run folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from assay.publish import commit, fresh_staging, staging_dir, write_json
from assay.settings import AuditSettings
from assay.summary import summarise
from assay.verdict import decide_sources, overall_verdict

log = logging.getLogger(__name__)

VERDICT_COLUMNS = [
    "source",
    "n_read",
    "n_rejected",
    "n_eligible",
    "n_sampled",
    "n_flagged",
    "flagged_rate",
    "rate_low",
    "rate_high",
    "interval_method",
    "verdict",
    "naive_verdict",
    "rejected_by_reason",
    "flagged_by_category",
]


@dataclass
class RunResult:
    run_dir: Path
    overall: str
    validation_success: bool
    sources: pd.DataFrame
    docs_index: Path
    shard_errors: list[dict]

    @property
    def exit_code(self) -> int:
        """0 when every source passes and every check holds, 1 otherwise, 2 for unread shards."""
        if self.shard_errors:
            return 2
        return 0 if self.overall == "pass" and self.validation_success else 1


def spark_stage(settings: AuditSettings, spark=None) -> dict:
    """Read, sample and score into a fresh staging folder (what spark-submit runs)."""
    from assay.audit import run_spark_stage
    from assay.spark import get_spark

    staging = fresh_staging(Path(settings.out), settings.run_id)
    spark = spark or get_spark("assay-corpus-audit")
    return run_spark_stage(spark, settings, staging)


def finalize(settings: AuditSettings) -> RunResult:
    """Decide per source, validate with GX, write verdicts and manifest, commit the run folder."""
    from assay.validation import validate_table

    out = Path(settings.out)
    staging = staging_dir(out, settings.run_id)
    stage_path = staging / "stage.json"
    if not stage_path.exists():
        raise FileNotFoundError(f"{stage_path} is missing: the Spark stage did not finish for run {settings.run_id}")
    stage = json.loads(stage_path.read_text())
    decided = decide_sources(summarise(stage["counts"], stage["sample_stats"]), settings)
    decided["n_sample_expected"] = decided["n_eligible"].clip(upper=settings.sample_size)
    decided = decided.sort_values(["verdict", "source"], key=_failing_first).reset_index(drop=True)
    outcome = validate_table(
        decided,
        "corpus_audit.sources",
        {"max_flagged_rate": settings.max_flagged_rate, "max_rejected_rate": settings.max_rejected_rate},
        staging,
        settings.run_id,
    )
    shard_errors = [
        {"shard": s["relpath"], "error": s["error"]} for s in stage["shards"] if s.get("error")
    ]
    overall = overall_verdict(decided)
    verdicts = {
        "run_id": settings.run_id,
        "corpus": settings.corpus,
        "policy": stage["policy"],
        "settings": {
            k: stage["settings"][k]
            for k in ("sample_size", "seed", "max_flagged_rate", "max_rejected_rate", "confidence", "interval_method", "decision_rule")
        },
        "overall": overall,
        "validation": {
            "suite": outcome.suite,
            "success": outcome.success,
            "failing_sources": outcome.failing_keys,
            "result": outcome.result_path.name,
        },
        "shard_errors": shard_errors,
        "sources": decided[VERDICT_COLUMNS].to_dict(orient="records"),
    }
    write_json(staging / "verdicts.json", verdicts)
    write_json(staging / "manifest.json", _manifest(stage, settings))
    docs_rel = outcome.docs_index.relative_to(staging)
    stage_path.unlink()
    commit(staging, out)
    return RunResult(out, overall, outcome.success, decided, out / docs_rel, shard_errors)


def _failing_first(column: pd.Series) -> pd.Series:
    if column.name == "verdict":
        return column.map({"fail": 0, "inconclusive": 1, "pass": 2})
    return column


def _manifest(stage: dict, settings: AuditSettings) -> dict:
    """What this verdict covers: every shard with its identity and counts, and files passed over."""
    shards = [
        {
            "uri": s["uri"],
            "relpath": s["relpath"],
            "range": [s["start"], s["end"]],
            "size": s["size"],
            "version": s["version"],
            "n_read": s.get("n_read", 0),
            "rejected": s.get("rejected", {}),
            "error": s.get("error", ""),
            "run_id": settings.run_id,
        }
        for s in stage["shards"]
    ]
    return {
        "run_id": settings.run_id,
        "corpus": settings.corpus,
        "policy_hash": stage["policy"]["hash"],
        "shards": shards,
        "ignored_files": stage["ignored_files"],
    }


def audit(settings: AuditSettings, spark=None) -> RunResult:
    """The whole audit in this process (the console's `assay audit`)."""
    spark_stage(settings, spark)
    return finalize(settings)
