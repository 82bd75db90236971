"""Where S3 access comes from: an Airflow connection or the standard AWS environment, never code.

Inside an Airflow task the connection named by the run's `aws_conn_id` (default `aws_default`,
when it is defined) wins; elsewhere, and when no such connection exists, the process environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) and boto3's usual chain apply.

How the values travel, without entering settings JSON, XCom, rendered templates or logs:
- the spark-submit task resolves the connection in `pre_execute` and hands it to spark-submit as
  process environment (driver; in local mode also the executors' Python workers);
- the driver broadcasts it to the read tasks, which put it into their worker process's
  environment (`executor_access`, `use_in_executor`): it never crosses the Py4J gateway or
  Spark conf, so neither Py4J's DEBUG log nor the Spark UI can show it;
- plain tasks (deciding, publishing) put it into their own process environment (`ensure`).
Secrets are registered with Airflow's log masker; `S3Access` never shows them in its repr.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "aws_default"
# Marks a process whose environment already holds the named connection's values (not secret).
APPLIED_MARKER = "ASSAY_S3_CONNECTION"
# Variables that executors need to reach the store the same way the driver does.
EXPORTED_ENV = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ASSAY_S3_MAX_ATTEMPTS",
    "ASSAY_S3_ADDRESSING_STYLE",
    APPLIED_MARKER,
)


@dataclass(frozen=True)
class S3Access:
    """Endpoint, region and credentials for one object store; secrets hidden from repr."""

    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    origin: str = "environment"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that make boto3 use exactly this access."""
        pairs = {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }
        return {k: v for k, v in pairs.items() if v}

    def describe(self) -> str:
        """What a log may say: where the access came from, the endpoint and region only."""
        creds = "credentials set" if self.access_key_id else "no explicit credentials"
        return f"S3 via {self.origin}: endpoint {self.endpoint_url or 'AWS default'}, region {self.region or 'default'}, {creds}"


def from_environment(environ: dict[str, str] | None = None) -> S3Access:
    """The standard AWS environment variables of this process."""
    env = os.environ if environ is None else environ
    return S3Access(
        endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL", ""),
        region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION", ""),
        access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
        session_token=env.get("AWS_SESSION_TOKEN", ""),
    )


def from_airflow(conn_id: str) -> S3Access | None:
    """An Airflow AWS connection's values, or None when it is not defined."""
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and friends: not defined here
        log.info(
            "Airflow connection %s not available (%s); using the environment",
            conn_id,
            type(exc).__name__,
        )
        return None
    wrapped = AwsConnectionWrapper(conn)
    access = S3Access(
        endpoint_url=wrapped.get_service_endpoint_url("s3") or "",
        region=wrapped.region_name or "",
        access_key_id=wrapped.aws_access_key_id or "",
        secret_access_key=wrapped.aws_secret_access_key or "",
        session_token=wrapped.aws_session_token or "",
        origin=f"Airflow connection {conn_id}",
    )
    _mask(access)
    return access


def _mask(access: S3Access) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        return
    for secret in (access.secret_access_key, access.session_token):
        if secret:
            mask_secret(secret)


def in_airflow_task() -> bool:
    """True in an Airflow task process that can ask for connections (not in its spark-submit child)."""
    if "AIRFLOW_CTX_DAG_ID" not in os.environ:
        return False
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def resolve(conn_id: str = "") -> S3Access:
    """The access this process should use: Airflow connection (in a task) or the environment."""
    marker = os.environ.get(APPLIED_MARKER)
    if marker:
        return from_environment()
    if in_airflow_task():
        found = from_airflow(conn_id or DEFAULT_CONN_ID)
        if found is not None:
            return found
        if conn_id and conn_id != DEFAULT_CONN_ID:
            raise LookupError(f"Airflow connection {conn_id!r} (aws_conn_id) is not defined")
    return from_environment()


def apply(access: S3Access) -> None:
    """Make this process (and any child it starts) use `access`."""
    for key in (
        "AWS_ENDPOINT_URL_S3",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        value = access.env().get(key)
        if value:
            os.environ[key] = value
    os.environ[APPLIED_MARKER] = access.origin


def ensure(conn_id: str = "") -> S3Access:
    """Resolve once per process and apply; logs where the access came from, never its secrets."""
    access = resolve(conn_id)
    if access.origin != "environment" or APPLIED_MARKER not in os.environ:
        apply(access)
        log.info("%s", access.describe())
    return access


def executor_access(spark):
    """This driver's S3 environment for the executors, as a broadcast (or None when unset).

    A broadcast reaches executors as a file, not through the Py4J gateway (whose DEBUG log
    prints every command) nor through Spark conf (shown in the UI and event logs).
    """
    found = {key: os.environ[key] for key in EXPORTED_ENV if os.environ.get(key)}
    return spark.sparkContext.broadcast(found) if found else None


def use_in_executor(access) -> None:
    """In a task: put the driver's S3 environment into this worker process (boto3 reads it)."""
    if access is None:
        return
    for key, value in access.value.items():
        if key in EXPORTED_ENV and os.environ.get(key) != value:
            os.environ[key] = value


def spark_submit_pre_execute(context) -> None:
    """`pre_execute` hook of the spark-submit task: connection values as spark-submit's env.

    Runs after the task's templates were rendered and recorded, so the values never appear in
    rendered fields; the secret is registered with the log masker first.
    """
    params = context.get("params") or {}
    access = resolve(str(params.get("aws_conn_id") or ""))
    task = context["task"]
    task.env_vars = {**(task.env_vars or {}), **access.env(), APPLIED_MARKER: access.origin}
    log.info("%s", access.describe())
