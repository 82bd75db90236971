"""A corpus audit run, start to finish: Spark stage, then decide, validate and publish.

The DAG runs `spark_stage` through spark-submit (jobs/corpus_audit_job.py) and `finalize` as a
plain task; `assay audit` runs both in one process. Both write the same run folder.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from assay.corpus_rules import rules_table, scan_rule, source_lists
from assay.publish import commit, fresh_staging, is_complete, run_lock, staging_dir, write_json
from assay.report import docs_meta
from assay.settings import AuditSettings
from assay.summary import summarise
from assay.verdict import category_stats, decide_sources, overall_verdict, worst_verdict

log = logging.getLogger(__name__)

VERDICT_COLUMNS = [
    "source",
    "n_read",
    "n_rejected",
    "n_eligible",
    "n_sampled",
    "n_scored",
    "n_flagged",
    "flagged_rate",
    "rate_low",
    "rate_high",
    "interval_method",
    "verdict",
    "decided_by",
    "naive_verdict",
    "rejected_by_reason",
    "flagged_by_category",
    "n_duplicate_ids",
    "n_shards_unaccounted",
    "warnings",
]


@dataclass
class RunResult:
    run_dir: Path
    overall: str
    validation_success: bool
    sources: pd.DataFrame
    docs_index: Path
    shard_errors: list[dict]
    on_shard_error: str = "fail"
    published: str = ""  # where the run folder was published (s3:// URI or the local folder)

    @property
    def exit_code(self) -> int:
        """0 when every source passes and every check holds, 1 otherwise, 2 for unread shards.

        Unreadable shards fail the run under on_shard_error="fail"; under "report" they are
        listed (and counted in the manifest) and the verdicts decide.
        """
        if self.shard_errors and self.on_shard_error == "fail":
            return 2
        if self.sources.empty:  # no documents at all: an input problem, not a verdict
            return 2
        return 0 if self.overall == "pass" and self.validation_success else 1


def spark_stage(settings: AuditSettings, spark=None) -> dict:
    """Read, sample and score into a fresh staging folder (what spark-submit runs)."""
    from assay.audit import run_spark_stage
    from assay.outputs import local_out
    from assay.spark import get_spark

    _s3_access(settings)
    with run_lock(Path(settings.out), settings.run_id):  # a second writer of this run is refused
        staging = fresh_staging(local_out(settings), settings.run_id)
        spark = spark or get_spark("assay-corpus-audit")
        return run_spark_stage(spark, settings, staging)


def finalize(settings: AuditSettings) -> RunResult:
    """Decide per source, validate with GX, write verdicts and manifest, commit the run folder.

    Safe to retry: a run already committed is read back, a fully staged one is committed.
    """
    with run_lock(Path(settings.out), settings.run_id):
        return _finalize(settings)


def _finalize(settings: AuditSettings) -> RunResult:
    from assay.outputs import local_out, publish_outputs
    from assay.validation import validate_table

    _s3_access(settings)
    out = local_out(settings)
    staging = staging_dir(out, settings.run_id)
    stage_path = staging / "stage.json"
    if not stage_path.exists() and is_complete(staging):
        commit(staging, out)  # an earlier attempt staged everything but stopped before the rename
    if not stage_path.exists() and (published := _published(out, settings)) is not None:
        log.info("run %s is already published at %s", settings.run_id, out)
        return published
    if not stage_path.exists():
        raise FileNotFoundError(
            f"{stage_path} is missing: the Spark stage did not finish for run {settings.run_id}"
        )
    stage = json.loads(stage_path.read_text())
    decided = decide_sources(
        _with_accounting(summarise(_all_counts(stage), stage["sample_stats"]), stage),
        settings,
        stage.get("sequential"),
    )
    decided["n_sample_expected"] = decided["n_eligible"].clip(upper=settings.sample_size)
    decided = decided.sort_values(["verdict", "source"], key=_failing_first).reset_index(drop=True)
    shutil.rmtree(staging / "gx", ignore_errors=True)  # a retried attempt validates afresh
    history, evidence = _history_and_evidence(decided, stage, settings, staging)
    decided["warnings"] = decided["source"].map(history.warnings_for)
    outcome = validate_table(
        decided,
        "corpus_audit.sources",
        {
            "max_flagged_rate": settings.max_flagged_rate,
            "max_rejected_rate": settings.max_rejected_rate,
            "n_read_by_shards": sum(int(s.get("n_read", 0)) for s in stage["shards"]),
        },
        staging,
        settings.run_id,
        docs_meta=docs_meta(decided, evidence, settings),
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
            for k in (
                "sample_size",
                "seed",
                "max_flagged_rate",
                "max_rejected_rate",
                "confidence",
                "interval_method",
                "decision_rule",
                "sampling_plan",
            )
        },
        "sequential_plan": (stage.get("sequential") or {}).get("plan"),
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
    verdicts["categories"] = category_stats(decided, settings, _detector_error(settings))
    verdicts["corpus_rules"] = _corpus_rules(stage, decided, settings, staging)
    scan = verdicts["corpus_rules"].get("automated_scan")
    if scan:
        overall = verdicts["overall"] = worst_verdict([overall, scan["verdict"]])
    verdicts["history"] = history.summary()
    write_json(staging / "verdicts.json", verdicts)
    write_json(staging / "sources.json", source_lists(decided))
    write_json(staging / "manifest.json", _manifest(stage, settings))
    docs_rel = outcome.docs_index.relative_to(staging)
    _pages_and_metrics(staging, verdicts, history, evidence)
    stage_path.unlink()
    commit(staging, out)
    published = publish_outputs(settings, out)
    return RunResult(
        out,
        overall,
        outcome.success,
        decided,
        out / docs_rel,
        shard_errors,
        settings.on_shard_error,
        published,
    )


def _history_and_evidence(
    decided: pd.DataFrame, stage: dict, settings: AuditSettings, staging: Path
):
    """This run against the metrics store (warnings only), and masked evidence per source."""
    from assay.history import check_history
    from assay.report import collect_evidence

    history = check_history(decided, settings, stage["policy"]["hash"], staging)
    return history, collect_evidence(staging / "samples")


def _pages_and_metrics(staging: Path, verdicts: dict, history, evidence: dict) -> None:
    """report.html, offline Data Docs, and this run's rows appended to the metrics store."""
    from assay.history import metrics_frame, now, record_metrics, trend_frame
    from assay.report import publish_pages

    rows = metrics_frame(verdicts, now())
    publish_pages(staging, verdicts, trend_frame(history.past, rows), evidence)
    record_metrics(history.root, rows)


def _s3_access(settings: AuditSettings) -> None:
    """Where the corpus or the outputs are on S3: this process uses the run's connection."""
    if any(u.startswith("s3://") for u in (settings.corpus, settings.out)):
        from assay.connections import ensure

        ensure(settings.aws_conn_id)


def _corpus_rules(
    stage: dict, decided: pd.DataFrame, settings: AuditSettings, staging: Path
) -> dict:
    """The automated scan decided and validated now; the review queue awaits people's labels."""
    from assay.validation import validate_table

    out: dict = {"review": stage.get("review")}
    if stage.get("review"):
        out["review"] = {**stage["review"], "status": "awaiting labels: assay review import"}
    if stage.get("scan"):
        rule = scan_rule(stage["scan"], int(decided["n_eligible"].sum()), settings)
        outcome = validate_table(
            rules_table([rule]),
            "corpus_audit.corpus",
            {},
            staging,
            settings.run_id,
            index_column="rule",
        )
        out["automated_scan"] = {**rule, "validation_success": outcome.success}
    return out


def _detector_error(settings: AuditSettings):
    from assay.policy import load_policy

    return load_policy(settings.policy).detector_error


def _all_counts(stage: dict) -> list[dict]:
    """Count rows, plus an empty one for any source that was read but never classified."""
    counted = {c["source"] for c in stage["counts"]}
    missing = sorted(set(stage.get("read_counts") or {}) - counted)
    return stage["counts"] + [{"source": s, "reason": "", "n": 0} for s in missing]


def shard_accounted(shard: dict) -> bool:
    """A shard's books balance: its task reported, and read = eligible + rejected."""
    if "n_eligible" not in shard or shard.get("error", "").startswith("no report"):
        return False
    return int(shard["n_read"]) == int(shard["n_eligible"]) + sum(shard["rejected"].values())


def _with_accounting(summary: pd.DataFrame, stage: dict) -> pd.DataFrame:
    """Records read as counted while reading, duplicate ids, and shards that do not balance."""
    out = summary.copy()
    read = stage.get("read_counts")
    if read is not None:
        out["n_read"] = out["source"].map(lambda s: int(read.get(s, 0)))
    unaccounted: dict[str, int] = {}
    for shard in stage["shards"]:
        if not shard_accounted(shard):
            for source in shard.get("sources") or [shard["path_source"]]:
                unaccounted[source] = unaccounted.get(source, 0) + 1
    duplicates = stage.get("duplicate_ids") or {}
    out["n_duplicate_ids"] = out["source"].map(lambda s: int(duplicates.get(s, 0)))
    out["n_shards_unaccounted"] = out["source"].map(lambda s: unaccounted.get(s, 0))
    return out


def _published(out: Path, settings: AuditSettings) -> RunResult | None:
    """The committed run folder of this run id read back (a retried task), or None."""
    verdicts_path = out / "verdicts.json"
    if not is_complete(out) or not verdicts_path.exists():
        return None
    verdicts = json.loads(verdicts_path.read_text())
    if verdicts.get("run_id") != settings.run_id:
        return None
    docs = sorted(out.glob("gx/**/data_docs/local_site/index.html"))
    return RunResult(
        out,
        verdicts["overall"],
        bool(verdicts["validation"]["success"]),
        pd.DataFrame(verdicts["sources"]),
        docs[0] if docs else out,
        verdicts["shard_errors"],
        settings.on_shard_error,
    )


def _published_result(out: Path, verdicts: dict) -> RunResult:
    docs = sorted(out.glob("gx/**/local_site/index.html"))
    return RunResult(
        out,
        verdicts["overall"],
        verdicts["validation"]["success"],
        pd.DataFrame(verdicts["sources"]),
        docs[0] if docs else out,
        verdicts["shard_errors"],
    )


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
            "n_eligible": s.get("n_eligible", 0),
            "rejected": s.get("rejected", {}),
            "accounted": shard_accounted(s),
            "sources": s.get("sources", []),
            "error": s.get("error", ""),
            "run_id": s.get("read_by_run") or settings.run_id,
        }
        for s in stage["shards"]
    ]
    return {
        "run_id": settings.run_id,
        "corpus": settings.corpus,
        "policy_hash": stage["policy"]["hash"],
        "shards": shards,
        "ignored_files": stage["ignored_files"],
        "incremental": stage.get("incremental"),
        "shard_errors": {
            "n": sum(1 for s in shards if s["error"]),
            "rule": settings.on_shard_error,
        },
    }


def audit(settings: AuditSettings, spark=None) -> RunResult:
    """The whole audit in this process (the console's `assay audit`)."""
    spark_stage(settings, spark)
    return finalize(settings)
