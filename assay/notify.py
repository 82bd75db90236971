"""Failure notices: when an audit task fails, say which sources failed and link to the evidence.

`on_failure` is the DAGs' task failure callback. It posts a short JSON summary to a webhook
(an Airflow HTTP connection) and/or mails it (an Airflow SMTP connection). Configuration, each
from an environment variable or else the Airflow Variable of the lower-case name:

- ASSAY_ALERT_HTTP_CONN_ID: HTTP connection of the webhook (its extra may set "endpoint").
- ASSAY_ALERT_EMAIL_CONN_ID and ASSAY_ALERT_EMAIL_TO (comma-separated): SMTP connection, recipients.
- ASSAY_DOCS_BASE_URL: public URL of the output root (e.g. an S3 static-website prefix), so links
  in notices and in the Airflow UI open the run's report and Data Docs; unset: file:// links.

A notice never raises: a broken webhook is logged, and the task's own failure stands.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

HTTP_CONN = "ASSAY_ALERT_HTTP_CONN_ID"
EMAIL_CONN = "ASSAY_ALERT_EMAIL_CONN_ID"
EMAIL_TO = "ASSAY_ALERT_EMAIL_TO"
DOCS_BASE_URL = "ASSAY_DOCS_BASE_URL"
PUBLISH_TASK = "decide_and_publish"
MAX_SOURCES = 20


def setting(name: str) -> str:
    """An environment variable, else the Airflow Variable of the lower-case name, else ''."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        from airflow.sdk import Variable

        return str(Variable.get(name.lower(), default="") or "")
    except Exception:  # outside Airflow, or no such variable: not configured
        return ""


def run_links(run_uri: str, files: dict[str, str], base_url: str | None = None) -> dict[str, str]:
    """URLs of files inside a run folder (name -> path relative to it), for UI links and notices.

    With a docs base URL (the output root as served, e.g. an S3 static website) the URL is
    base/<run folder>/<file>; without one, s3:// URIs and file:// URLs.
    """
    base = (base_url if base_url is not None else setting(DOCS_BASE_URL)).rstrip("/")
    run = run_uri.rstrip("/")
    name = run.rsplit("/", 1)[-1]
    out = {}
    for key, rel in files.items():
        if base:
            out[key] = f"{base}/{quote(name)}/{quote(rel)}"
        elif run.startswith("s3://"):
            out[key] = f"{run}/{rel}"
        else:
            out[key] = (Path(run) / rel).resolve().as_uri()
    return out


def failure_summary(context: dict) -> dict:
    """What failed, where, and why, from the task context and the publish task's XCom."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    published: dict = {}
    if ti is not None:
        try:
            published = ti.xcom_pull(task_ids=PUBLISH_TASK) or {}
        except Exception as exc:  # no XCom yet: the failure came before publishing
            log.info("no %s result to report (%s)", PUBLISH_TASK, type(exc).__name__)
    error = context.get("exception")
    failing = list(published.get("failing_sources") or [])
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", ""),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", ""),
        "task_id": getattr(ti, "task_id", ""),
        "try_number": getattr(ti, "try_number", None),
        "error": (str(error)[:500] if error else ""),
        "overall": published.get("overall", ""),
        "failing_sources": failing[:MAX_SOURCES],
        "more_failing_sources": max(0, len(failing) - MAX_SOURCES),
        "warned_sources": list(published.get("warned_sources") or [])[:MAX_SOURCES],
        "shard_errors": len(published.get("shard_errors") or []),
        "docs_url": published.get("docs_url", ""),
        "report_url": published.get("report_url", ""),
    }


def text(summary: dict) -> str:
    """One paragraph a person reads in a chat channel."""
    parts = [
        f"Assay {summary['dag_id']} run {summary['run_id']} failed at task {summary['task_id']}."
    ]
    if summary["failing_sources"]:
        more = (
            f" and {summary['more_failing_sources']} more"
            if summary["more_failing_sources"]
            else ""
        )
        parts.append(f"Sources not passing: {', '.join(summary['failing_sources'])}{more}.")
    if summary["shard_errors"]:
        parts.append(f"{summary['shard_errors']} shard(s) unreadable.")
    if summary["warned_sources"]:
        parts.append(f"Trend warnings: {', '.join(summary['warned_sources'])}.")
    if summary["error"] and not summary["failing_sources"]:
        parts.append(f"Error: {summary['error']}")
    if summary["report_url"]:
        parts.append(f"Report: {summary['report_url']}")
    if summary["docs_url"]:
        parts.append(f"Data Docs: {summary['docs_url']}")
    return " ".join(parts)


def post_webhook(conn_id: str, summary: dict) -> int:
    """POST {"text": ..., "summary": {...}} to the HTTP connection; returns the status code."""
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=conn_id)
    endpoint = (hook.get_connection(conn_id).extra_dejson or {}).get("endpoint", "")
    response = hook.run(
        endpoint=endpoint,
        json={"text": text(summary), "summary": summary},
        headers={"Content-Type": "application/json"},
        extra_options={"timeout": 10},
    )
    return int(response.status_code)


def send_email(conn_id: str, to: list[str], summary: dict) -> None:
    """Mail the notice through the SMTP connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = f"<p>{html.escape(text(summary))}</p>"
    for label in ("report_url", "docs_url"):
        if summary[label]:
            url = html.escape(summary[label], quote=True)
            body += f'<p><a href="{url}">{"Run report" if label == "report_url" else "Data Docs"}</a></p>'
    subject = f"[assay] {summary['dag_id']} failed: {', '.join(summary['failing_sources'][:3]) or summary['task_id']}"
    with SmtpHook(smtp_conn_id=conn_id) as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=body)


def notify(summary: dict) -> dict[str, str]:
    """Send the notice wherever configured; returns what happened per channel."""
    sent: dict[str, str] = {}
    http_conn = setting(HTTP_CONN)
    if http_conn:
        try:
            sent["webhook"] = f"HTTP {post_webhook(http_conn, summary)}"
        except Exception as exc:
            sent["webhook"] = f"failed: {type(exc).__name__}"
            log.warning("failure webhook %s: %s", http_conn, exc)
    email_conn, recipients = (
        setting(EMAIL_CONN),
        [r.strip() for r in setting(EMAIL_TO).split(",") if r.strip()],
    )
    if email_conn and recipients:
        try:
            send_email(email_conn, recipients, summary)
            sent["email"] = "sent"
        except Exception as exc:
            sent["email"] = f"failed: {type(exc).__name__}"
            log.warning("failure e-mail via %s: %s", email_conn, exc)
    if not sent:
        log.info("no failure notice configured (%s, %s)", HTTP_CONN, EMAIL_CONN)
    return sent


def on_failure(context: dict) -> None:
    """Airflow task failure callback."""
    summary = failure_summary(context)
    log.info("failure notice: %s -> %s", text(summary), notify(summary))
