"""What the DAGs' tasks call: Params in, settings and results out. DAG files stay runbooks."""

from __future__ import annotations

import logging
import re

from assay.settings import AuditSettings, SettingsError

log = logging.getLogger(__name__)


def safe_run_id(airflow_run_id: str) -> str:
    """Airflow run ids (e.g. 'manual__2026-11-27T02:00:00+00:00') as folder-safe run ids."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", airflow_run_id)[:128]


def settings_from_params(params: dict, airflow_run_id: str) -> AuditSettings:
    """Turn the trigger form's Params into checked settings for this run."""
    data = dict(params)
    data["run_id"] = safe_run_id(airflow_run_id)
    include = data.pop("include", None) or []
    exclude = data.pop("exclude", None) or []
    for name, globs in (("include", include), ("exclude", exclude)):
        if isinstance(globs, str) or not isinstance(globs, list | tuple):
            raise SettingsError(f"{name} {globs!r}: give a list of glob patterns")
    settings = AuditSettings.from_params(
        {**data, "include": tuple(include), "exclude": tuple(exclude)}
    )
    log.info("run %s: corpus %s -> %s", settings.run_id, settings.corpus, settings.out)
    return settings


def finalize_run(settings_json: str) -> dict:
    """Decide, validate and publish; return a short summary for XCom and the gate."""
    from assay.report_text import verdict_table
    from assay.run import finalize

    result = finalize(AuditSettings.from_json(settings_json))
    log.info("verdicts:\n%s", verdict_table(result.sources))
    log.info("Data Docs: %s", result.docs_index)
    summary = {
        "run_dir": str(result.run_dir),
        "published": result.published or str(result.run_dir),
        "overall": result.overall,
        "validation_success": result.validation_success,
        "failing_sources": result.sources.loc[
            result.sources["verdict"] != "pass", "source"
        ].tolist(),
        "shard_errors": result.shard_errors,
        "docs_index": str(result.docs_index),
    }
    summary.update(_links(result))
    log.info("run report: %s", summary.get("report_url", ""))
    return summary


def _links(result) -> dict:
    """Trend-warned sources and the URLs of the run report and Data Docs (UI links, notices)."""
    from assay.notify import run_links

    rows = result.sources
    warned = (
        [
            str(s)
            for s, w in zip(rows["source"], rows["warnings"], strict=True)
            if isinstance(w, list) and w
        ]
        if "warnings" in rows
        else []
    )
    files = {"report_url": "report.html"}
    if result.docs_index.is_relative_to(result.run_dir):
        files["docs_url"] = result.docs_index.relative_to(result.run_dir).as_posix()
    return {"warned_sources": warned, **run_links(result.published or str(result.run_dir), files)}


def gate_message(summary: dict) -> str | None:
    """Why the run must be marked failed, or None when the corpus passed every check."""
    problems = []
    if summary["shard_errors"]:
        problems.append(f"{len(summary['shard_errors'])} shard(s) unreadable")
    if summary["failing_sources"]:
        shown = ", ".join(summary["failing_sources"][:20])
        more = len(summary["failing_sources"]) - 20
        problems.append(f"sources not passing: {shown}" + (f" and {more} more" if more > 0 else ""))
    if not summary["validation_success"] and not problems:
        problems.append("a data-quality expectation failed (see Data Docs)")
    if not problems:
        return None
    return "; ".join(problems) + f". Data Docs: {summary['docs_index']}"
