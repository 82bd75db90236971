"""`airflow dags test corpus_audit_on_update` on an s3:// corpus and output root, with the S3
endpoint and keys only in the Airflow connection aws_default: the run publishes to S3 and the
secret key appears in no task log or console output."""

from __future__ import annotations

import gzip
import json

import pytest

from assay import outputs, s3
from assay.local_airflow import airflow_env, dags_test, migrate

from .conftest import ACCESS_KEY, SECRET_KEY, put

pytestmark = pytest.mark.slow


def test_asset_scheduled_dag_audits_s3_with_the_airflow_connection(tmp_path, bucket, s3_env):
    corpus, root = f"s3://{bucket}/corpus", f"s3://{bucket}/audits"
    for source in ("forum", "web"):
        lines = [
            json.dumps({"id": f"{source}-{i}", "text": f"a calm note {i}"}) for i in range(120)
        ]
        put(f"{corpus}/source={source}/part.jsonl.gz", gzip.compress("\n".join(lines).encode()))
    env = airflow_env(tmp_path / "airflow")
    for key in [k for k in env if k.startswith("AWS_") or k == "ASSAY_S3_CONNECTION"]:
        del env[key]  # the connection is the only source of access
    env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": s3_env.endpoint, "region_name": "us-east-1"},
        }
    )
    env["ASSAY_WORK_DIR"] = str(tmp_path / "work")
    env["ASSAY_SCHEDULED_CORPUS"] = corpus
    migrate(env)
    done = dags_test(
        "corpus_audit_on_update",
        {"corpus": corpus, "output_root": root, "sample_size": 50},
        env,
    )
    log = done.stdout + done.stderr
    runs = outputs.complete_runs(root)
    assert len(runs) == 1, log[-6000:]
    (run_id,) = runs
    verdicts = json.loads(s3.get_bytes(f"{root}/{run_id}/verdicts.json")[0])
    assert {s["source"]: s["n_sampled"] for s in verdicts["sources"]} == {"forum": 50, "web": 50}
    manifest = json.loads(s3.get_bytes(f"{root}/{run_id}/manifest.json")[0])
    assert manifest["incremental"]["mode"] == "full"  # first run: nothing to reuse yet
    assert outputs.current_build(root)["runs"] == [run_id]
    assert "S3 via Airflow connection aws_default" in log
    assert SECRET_KEY not in log
    for path in (tmp_path / "airflow").rglob("*"):
        if path.is_file() and path.suffix in ("", ".log", ".json", ".txt"):
            assert SECRET_KEY.encode() not in path.read_bytes(), path
