"""Links from a task in the Airflow UI to the run's report and Data Docs: red task -> reason, one click.

Global operator extra links (every task shows them; they are empty unless the DAG run has a
`decide_and_publish` result). The URLs are computed on the worker when the run is published
(`assay.orchestration.finalize_run`, with ASSAY_DOCS_BASE_URL) and read here from that task's
XCom in the metadata database, so the API server needs no access to the run folders.
"""

from __future__ import annotations

import json
import logging

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

log = logging.getLogger(__name__)

PUBLISH_TASK = "decide_and_publish"


def published(dag_id: str, run_id: str) -> dict:
    """The publish task's return value for this DAG run, or {} (API-server side: reads the DB)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(
                key="return_value", run_id=run_id, dag_ids=dag_id, task_ids=PUBLISH_TASK
            ).with_only_columns(XComModel.value)
        ).first()
    if not row:
        return {}
    value = row.value
    try:
        value = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _RunLink(BaseOperatorLink):
    key = ""

    def get_link(self, operator, *, ti_key) -> str:
        try:
            url = published(ti_key.dag_id, ti_key.run_id).get(self.key) or ""
        except Exception as exc:  # a link must never break the task page
            log.warning("assay link %s: %s", self.name, exc)
            return ""
        return (
            url
            if isinstance(url, str) and url.startswith(("http://", "https://", "file://", "s3://"))
            else ""
        )


class RunReportLink(_RunLink):
    name = "Assay run report"
    key = "report_url"


class DataDocsLink(_RunLink):
    name = "Assay Data Docs"
    key = "docs_url"


class AssayPlugin(AirflowPlugin):
    name = "assay"
    global_operator_extra_links = [RunReportLink(), DataDocsLink()]
