"""Scheduled corpus audits: nightly (cron) and whenever the corpus Asset is updated.

Both audit the corpus named by ASSAY_SCHEDULED_CORPUS (an s3:// prefix or a folder) into
ASSAY_SCHEDULED_OUTPUT_ROOT, incrementally: only shards that are new or changed since the last
run are read; the per-source samples and verdicts equal a full run's (assay.incremental).

Runbook:
- corpus_audit_nightly      - cron ASSAY_SCHEDULED_CRON (default 02:00 UTC daily).
- corpus_audit_on_update    - runs when a producer DAG publishes the corpus Asset
                              (a task with `outlets=[Asset("<corpus URI>")]`, or an asset event
                              posted through the API) after writing new shards.
1. prepare            - fix this run's settings (incremental on).
2. sample_and_score   - Spark: read new/changed shards, merge kept shard state, sample, score.
3. decide_and_publish - verdicts, GX, manifest; upload to an s3:// output root; Data Docs
                        rebuilt by a single writer; emits the audit-results Asset.
4. gate               - red when a source fails, a shard was unreadable or a check failed.
S3 endpoint and keys come from the Airflow connection named in aws_conn_id (aws_default).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowFailException

from assay.connections import spark_submit_pre_execute
from assay.params import corpus_audit_params, task_defaults

REPO = Path(__file__).resolve().parent.parent
JOB = str(REPO / "jobs" / "corpus_audit_job.py")
CORPUS = os.environ.get("ASSAY_SCHEDULED_CORPUS", "s3://corpus/")
OUTPUT_ROOT = os.environ.get("ASSAY_SCHEDULED_OUTPUT_ROOT", "")
CRON = os.environ.get("ASSAY_SCHEDULED_CRON", "0 2 * * *")

RESULTS_URI = (
    OUTPUT_ROOT if OUTPUT_ROOT.startswith("s3://") else f"file://{OUTPUT_ROOT or REPO / 'runs'}"
)
CORPUS_ASSET = Asset(
    name="assay_corpus", uri=CORPUS if "://" in CORPUS else f"file://{CORPUS}", group="corpus"
)
AUDIT_RESULTS = Asset(name="assay_corpus_audit_results", uri=RESULTS_URI, group="audit")

# corpus_audit's form (assay/params.py) with this deployment's corpus and output root, run
# incrementally.
PARAMS = corpus_audit_params(
    only=(
        "corpus",
        "output_root",
        "aws_conn_id",
        "incremental",
        "sample_size",
        "seed",
        "max_flagged_rate",
        "max_rejected_rate",
        "source_layout",
    ),
    corpus=CORPUS,
    output_root=OUTPUT_ROOT,
    incremental=True,
)

DEFAULT_ARGS = task_defaults()


def audit_tasks() -> None:
    """The four steps of the runbook above, in order."""

    @task
    def prepare(params: dict | None = None, run_id: str | None = None) -> str:
        """Fix this run's settings."""
        from assay.orchestration import settings_from_params

        return settings_from_params(params or {}, run_id or "scheduled").to_json()

    settings_json = prepare()
    sample_and_score = SparkSubmitOperator(
        task_id="sample_and_score",
        application=JOB,
        application_args=["--settings-json", "{{ ti.xcom_pull(task_ids='prepare') }}"],
        conn_id="spark_default",
        py_files="{{ conn.spark_default.extra_dejson.get('py-files', '') }}",
        name="assay-corpus-audit",
        conf={"spark.sql.shuffle.partitions": "8", "spark.ui.showConsoleProgress": "false"},
        pre_execute=spark_submit_pre_execute,
    )

    @task(outlets=[AUDIT_RESULTS])
    def decide_and_publish(settings: str) -> dict:
        """Verdicts, GX validation, manifest; publish; rebuild Data Docs."""
        from assay.orchestration import finalize_run

        return finalize_run(settings)

    @task
    def gate(summary: dict) -> None:
        """Red when the corpus did not pass."""
        from assay.orchestration import gate_message

        problem = gate_message(summary)
        if problem:
            raise AirflowFailException(problem)

    published = decide_and_publish(settings_json)
    settings_json >> sample_and_score >> published
    gate(published)


with DAG(
    dag_id="corpus_audit_nightly",
    description="Incremental corpus audit on a cron schedule",
    doc_md=__doc__,
    schedule=CRON,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["assay", "corpus", "audit", "scheduled"],
    default_args=DEFAULT_ARGS,
):
    audit_tasks()

with DAG(
    dag_id="corpus_audit_on_update",
    description="Incremental corpus audit whenever the corpus Asset is updated",
    doc_md=__doc__,
    schedule=[CORPUS_ASSET],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["assay", "corpus", "audit", "scheduled"],
    default_args=DEFAULT_ARGS,
):
    audit_tasks()
