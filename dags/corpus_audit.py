"""# corpus_audit: audit a corpus against the content policy

Samples every source of a corpus, scores the sample with the policy's detectors and records a
verdict per source (pass / fail / inconclusive) with its confidence interval.

## Tasks
1. **prepare**: checks the trigger form's values; fixes this run's settings and output folder.
2. **sample_and_score**: Spark (connection `spark_default`) reads every shard, draws the
   seeded per-source sample and scores it.
3. **decide_and_publish**: verdicts, GX suites `corpus_audit.sources` (decides) and
   `corpus_audit.history` (trend warnings), Data Docs, `report.html`, `verdicts.json`; the
   run folder `<output_root>/<run id>/` is committed atomically; metrics go to `_metrics/`.
4. **gate**: red when a source fails or is inconclusive, a shard was unreadable, or an
   expectation failed. Its log line names the sources.

## Params
Every field of the trigger form has a title and a description. The key ones: **corpus**
(folder, file or s3:// prefix), **output_root**, **sample_size** per source (TC260: 4000),
**seed** (same seed, same sample), **max_flagged_rate** (TC260: 0.05), **confidence** and
**decision_rule** (interval: decide only when the whole interval is on one side of the
threshold). Values out of range are refused before a run starts.

## Reading the results
- On any task, the buttons **Assay run report** and **Assay Data Docs** open this run's pages.
- `report.html`: flagged rate per source with interval bars and the threshold, what drives the
  flags, documents behind each verdict, and trends over earlier runs.
- Data Docs, validation page, section **Sources**: counts, rate, interval, decision, driving
  categories and masked evidence per source, failing sources first.
- `verdicts.json`: `overall`, and per source `verdict` and `warnings`. A warning (rate rose
  sharply, volume changed abruptly) asks for a look; it never fails the run.

## Alerts
When a task fails for good, a summary (failing sources, links) goes to the webhook of the HTTP
connection named by `ASSAY_ALERT_HTTP_CONN_ID` and/or by mail (`ASSAY_ALERT_EMAIL_CONN_ID`,
`ASSAY_ALERT_EMAIL_TO`); `ASSAY_DOCS_BASE_URL` makes the links web links. See docs/REPORTS.md.
"""

from __future__ import annotations

from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from assay.connections import spark_submit_pre_execute
from assay.params import corpus_audit_params, task_defaults

REPO = Path(__file__).resolve().parent.parent
JOB = str(REPO / "jobs" / "corpus_audit_job.py")

# The trigger form: title, description, type and bounds of every field (assay/params.py).
PARAMS = corpus_audit_params()

with DAG(
    dag_id="corpus_audit",
    description="Sample, score and validate a corpus against the content policy",
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    params=PARAMS,
    tags=["assay", "corpus", "audit"],
    default_args=task_defaults(),
) as dag:

    @task
    def prepare(params: dict | None = None, run_id: str | None = None) -> str:
        """Check the form's values and fix this run's settings."""
        from assay.orchestration import settings_from_params

        return settings_from_params(params or {}, run_id or "manual").to_json()

    settings_json = prepare()

    sample_and_score = SparkSubmitOperator(
        task_id="sample_and_score",
        application=JOB,
        application_args=["--settings-json", "{{ ti.xcom_pull(task_ids='prepare') }}"],
        conn_id="spark_default",
        # On a cluster the connection's extra "py-files" names the packaged library (docs/SCALING.md).
        py_files="{{ conn.spark_default.extra_dejson.get('py-files', '') }}",
        name="assay-corpus-audit",
        conf={"spark.sql.shuffle.partitions": "8", "spark.ui.showConsoleProgress": "false"},
        # S3 endpoint/keys from the aws_conn_id connection, as spark-submit's environment.
        pre_execute=spark_submit_pre_execute,
    )

    @task
    def decide_and_publish(settings: str) -> dict:
        """Verdicts, GX validation, Data Docs; commit the run folder."""
        from assay.orchestration import finalize_run

        return finalize_run(settings)

    @task
    def gate(summary: dict) -> None:
        """Red when the corpus did not pass; the message names the sources and the Data Docs."""
        from assay.orchestration import gate_message

        problem = gate_message(summary)
        if problem:
            raise AirflowFailException(problem)

    published = decide_and_publish(settings_json)
    settings_json >> sample_and_score >> published
    gate(published)
