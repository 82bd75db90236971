"""The corpus audit's trigger form: one definition of its Params for every corpus_audit DAG.

Each Param has a title, a description and a JSON-schema type with bounds, because the form is
the operator's interface: bad values are refused by the form, not discovered in a task.
"""

from __future__ import annotations

import copy
from datetime import timedelta


def task_defaults() -> dict:
    """Every Assay DAG's task defaults: owner, retries with exponential backoff, failure alerts."""
    from assay.notify import on_failure

    return {
        "owner": "assay",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_failure,
    }


def corpus_audit_params(only: tuple[str, ...] | None = None, **defaults) -> dict:
    """Fresh Params of the corpus audit form; `only` picks some, `defaults` change defaults."""
    from airflow.sdk import Param

    params = {
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
    chosen = {name: params[name] for name in (only or tuple(params))}
    for name, value in defaults.items():
        base = chosen[name]
        chosen[name] = Param(value, base.description, schema=copy.deepcopy(base.schema))
    return chosen
