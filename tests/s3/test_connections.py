"""S3 access from an Airflow connection or the AWS environment; secrets never shown."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from assay import connections
from assay.connections import APPLIED_MARKER, S3Access

from .conftest import SECRET_KEY

CONN = {
    "conn_type": "aws",
    "login": "AKIACONNTEST",
    "password": SECRET_KEY,
    "extra": {"endpoint_url": "http://127.0.0.1:9999", "region_name": "eu-central-1"},
}


@pytest.fixture
def clean_env(monkeypatch):
    for key in (*connections.EXPORTED_ENV, "AWS_PROFILE", "AIRFLOW_CTX_DAG_ID"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_repr_and_description_hide_secrets():
    access = S3Access("http://e", "r", "AKIA", SECRET_KEY, "tok-secret")
    assert SECRET_KEY not in repr(access) and "tok-secret" not in repr(access)
    assert SECRET_KEY not in access.describe() and "credentials set" in access.describe()
    assert access.env()["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert access.env()["AWS_ENDPOINT_URL_S3"] == "http://e"


def test_environment_outside_airflow(clean_env):
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1234")
    clean_env.setenv("AWS_REGION", "ap-east-1")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    access = connections.resolve("")
    assert (access.origin, access.endpoint_url, access.region) == (
        "environment",
        "http://127.0.0.1:1234",
        "ap-east-1",
    )
    assert access.secret_access_key == SECRET_KEY


def test_airflow_connection_in_a_task_wins_and_reaches_spark_submit_env(clean_env, caplog):
    caplog.set_level(logging.DEBUG)
    clean_env.setenv("AIRFLOW_CONN_ASSAY_S3_TEST", json.dumps(CONN))
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "not-this-one")
    clean_env.setattr(connections, "in_airflow_task", lambda: True)
    task = SimpleNamespace(env_vars={"KEEP": "1"})
    connections.spark_submit_pre_execute({"params": {"aws_conn_id": "assay_s3_test"}, "task": task})
    assert task.env_vars["KEEP"] == "1"
    assert task.env_vars["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert task.env_vars["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9999"
    assert task.env_vars["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert task.env_vars[APPLIED_MARKER] == "Airflow connection assay_s3_test"
    # A missing named connection is an error, not a silent fallback to other credentials.
    with pytest.raises(LookupError, match="not defined"):
        connections.resolve("no_such_connection")
    # In the spark-submit child the marker says: the environment already holds the connection.
    for key, value in task.env_vars.items():
        clean_env.setenv(key, value)
    assert connections.resolve("assay_s3_test").secret_access_key == SECRET_KEY
    assert SECRET_KEY not in caplog.text


def test_executors_get_the_environment_without_conf_or_gateway(spark, clean_env, caplog):
    caplog.set_level(logging.DEBUG)
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4321")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    access = connections.executor_access(spark)

    def task(batches):
        import os

        import pyarrow as pa

        connections.use_in_executor(access)
        for _ in batches:
            yield pa.RecordBatch.from_pydict(
                {
                    "e": [os.environ.get("AWS_ENDPOINT_URL_S3")],
                    "s": [os.environ.get("AWS_SECRET_ACCESS_KEY") == SECRET_KEY],
                }
            )

    rows = spark.range(0, 2, numPartitions=2).mapInArrow(task, "e string, s boolean").collect()
    assert {(r.e, r.s) for r in rows} == {("http://127.0.0.1:4321", True)}
    assert all(SECRET_KEY not in str(v) for _, v in spark.sparkContext.getConf().getAll())
    assert SECRET_KEY not in caplog.text
