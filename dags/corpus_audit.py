"""corpus_audit: sample every source of a corpus, score it against the policy, record verdicts.

Runbook (also shown in the Airflow UI as this DAG's doc):
1. prepare       - check the trigger form's values and fix this run's settings and output folder.
2. sample_and_score - Spark (spark_default connection): read every shard, draw the seeded
                   per-source sample, score it with the policy's detectors.
3. decide_and_publish - per-source verdicts with confidence intervals, the GX suite
                   `corpus_audit.sources`, Data Docs, verdicts.json and manifest.json, committed
                   atomically to <output_root>/<run id>/.
4. gate          - fails (red) when any source fails or is inconclusive, a shard was
                   unreadable, or an expectation failed; its log names them and the Data Docs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

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
    "text_field": Param("text", type="string", minLength=1, title="Text field", description="Document field holding the text."),
    "id_field": Param("id", type="string", minLength=1, title="Id field", description="Document id field; documents without one get file@offset."),
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
    "include": Param([], type="array", items={"type": "string"}, title="Include globs", description="Only files matching one of these globs (relative to the corpus root)."),
    "exclude": Param([], type="array", items={"type": "string"}, title="Exclude globs", description="Skip files matching any of these globs."),
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
        name="assay-corpus-audit",
        conf={"spark.sql.shuffle.partitions": "8", "spark.ui.showConsoleProgress": "false"},
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
