"""What the answer_audit DAG's tasks call: Params in, settings and small summaries out."""

from __future__ import annotations

import logging
from pathlib import Path

from assay.answers import audit
from assay.answers.audit import AnswerAuditSettings
from assay.orchestration import safe_run_id
from assay.settings import REPO_ROOT

log = logging.getLogger(__name__)


def settings_from_params(params: dict, airflow_run_id: str) -> AnswerAuditSettings:
    """Turn the trigger form's Params into checked settings for this run."""
    data = dict(params)
    run_id = safe_run_id(airflow_run_id)
    root = Path(data.pop("output_root", "") or REPO_ROOT / "runs")
    data["out"] = str(root / run_id)
    data["run_id"] = run_id
    settings = AnswerAuditSettings.from_params(data)
    mode = f"offline file {settings.offline_file}" if settings.offline else settings.base_url
    log.info("answer audit %s: %s -> %s", run_id, mode, settings.out)
    return settings


def check_banks_step(settings_json: str) -> dict:
    settings = AnswerAuditSettings.from_json(settings_json)
    if settings.offline:
        log.info("offline mode: no question banks to check")
        return {"skipped": True}
    return audit.check_banks(settings)


def sample_step(settings_json: str) -> dict:
    settings = AnswerAuditSettings.from_json(settings_json)
    if settings.offline:
        log.info("offline mode: every row of %s is scored", settings.offline_file)
        return {"skipped": True}
    return audit.draw_sample(settings)


def api_key(conn_id: str) -> str:
    """The API key: the password of an Airflow connection (empty conn id: no key)."""
    if not conn_id:
        return ""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id).password or ""


def ask_step(settings_json: str) -> dict:
    settings = AnswerAuditSettings.from_json(settings_json)
    if settings.offline:
        log.info("offline mode: the endpoint is not called")
        return {"skipped": True}
    return audit.ask(settings, api_key(settings.api_key_conn_id))


def publish_step(settings_json: str) -> dict:
    return audit.decide_and_publish(AnswerAuditSettings.from_json(settings_json))
