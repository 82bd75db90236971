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

from datetime import timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from assay.connections import spark_submit_pre_execute
from assay.notify import on_failure

REPO = Path(__file__).resolve().parent.parent
JOB = str(REPO / "jobs" / "corpus_audit_job.py")

PARAMS = {
    "corpus": Param(
        type="string",
        minLength=1,
        title="Corpus",
        description="Folder, file or s3://bucket/prefix of the corpus (JSONL, JSONL.gz/.zst, Parquet, text).",
    ),
    "output_root": Param(
        "",
        type="string",
        title="Output root",
        description="Folder that receives <run id>/ with verdicts, samples and Data Docs. Empty: runs/ in the Assay checkout.",
    ),
    "sample_size": Param(
        4000,
        type="integer",
        minimum=1,
        maximum=1_000_000,
        title="Sample size per source",
        description="Documents drawn at random from each source (all of a smaller source). TC260 reviews >= 4000.",
    ),
    "seed": Param(
        0,
        type="integer",
        minimum=0,
        title="Seed",
        description="Sampling seed: the same corpus and seed always give the same sample.",
    ),
    "max_flagged_rate": Param(
        0.05,
        type="number",
        minimum=0,
        maximum=1,
        title="Max flagged rate",
        description="A source fails when its problematic share exceeds this (TC260: 0.05).",
    ),
    "max_rejected_rate": Param(
        0.05,
        type="number",
        minimum=0,
        maximum=1,
        title="Max rejected rate",
        description="Highest acceptable share of unreadable documents (bad JSON, no text) per source.",
    ),
    "confidence": Param(
        0.95,
        type="number",
        minimum=0.5,
        exclusiveMaximum=1,
        title="Confidence level",
        description="Confidence of the interval each verdict rests on.",
    ),
    "decision_rule": Param(
        "interval",
        type="string",
        enum=["interval", "naive"],
        title="Decision rule",
        description="interval: pass only when the whole confidence interval is below the threshold, fail when above, else inconclusive. naive: compare the sample rate alone.",
    ),
    "sampling_plan": Param(
        "fixed",
        type="string",
        enum=["fixed", "sequential"],
        title="Sampling plan",
        description="fixed: score every sampled document. sequential: score in batches of 200 and stop a source once a Wald SPRT (alpha = beta = 2.5%) decides; undecided sources go on to the full sample.",
    ),
    "text_field": Param(
        "text",
        type="string",
        minLength=1,
        title="Text field",
        description="Document field holding the text.",
    ),
    "id_field": Param(
        "id",
        type="string",
        minLength=1,
        title="Id field",
        description="Document id field; documents without one get file@offset.",
    ),
    "source_field": Param(
        "source",
        type="string",
        title="Source field",
        description="Document field naming its source; where absent, the file's folder is the source. Empty: folders only.",
    ),
    "policy": Param(
        "",
        type="string",
        title="Policy file",
        description="Path of a policy YAML. Empty: Assay's default policy (offensive language, personal data, secrets).",
    ),
    "include": Param(
        [],
        type="array",
        items={"type": "string"},
        title="Include globs",
        description="Only files matching one of these globs (relative to the corpus root).",
    ),
    "exclude": Param(
        [],
        type="array",
        items={"type": "string"},
        title="Exclude globs",
        description="Skip files matching any of these globs.",
    ),
    "source_layout": Param(
        "folder",
        type="string",
        enum=["folder", "first_segment"],
        title="Source from key layout",
        description="Where documents name no source: folder = the file's folder; first_segment = its first folder. A source=<name>/ folder always names it.",
    ),
    "aws_conn_id": Param(
        "",
        type="string",
        title="AWS connection",
        description="Airflow connection for s3:// corpora and outputs (endpoint, region, keys). Empty: aws_default if defined, else the worker's AWS environment.",
    ),
    "incremental": Param(
        False,
        type="boolean",
        title="Incremental",
        description="Read only shards that are new or changed since the last incremental run under this output root; the sample and verdicts equal a full run's.",
    ),
}

with DAG(
    dag_id="corpus_audit",
    description="Sample, score and validate a corpus against the content policy",
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    params=PARAMS,
    tags=["assay", "corpus", "audit"],
    default_args={
        "owner": "assay",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_failure,
    },
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
