"""The answer_audit DAG, run for real with `airflow dags test` against the local chat server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.answers.banks import SHOULD_NOT_REFUSE, SHOULD_REFUSE, Question, write_bank
from assay.answers.keywords import build_for_policy

from .chat_server import ChatServer, Faults
from .conftest import xstest_rows

pytestmark = pytest.mark.slow

KEY = "sk-dag-SECRET-0042"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    pytest.importorskip("airflow")
    from assay.local_airflow import airflow_env as make_env
    from assay.local_airflow import migrate

    home = tmp_path_factory.mktemp("airflow_home")
    env = make_env(home)
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW_CONN_ASSAY_CHAT_KEY"] = json.dumps({"conn_type": "generic", "password": KEY})
    migrate(env)
    return env


def _banks(tmp_path) -> str:
    rows = xstest_rows("gpt4")
    refuse = [Question(r["id"], r["prompt"], r["type"], SHOULD_REFUSE)
              for r in rows if r["type"].startswith("contrast_")]  # fmt: skip
    safe = [Question(r["id"], r["prompt"], r["type"], SHOULD_NOT_REFUSE)
            for r in rows if not r["type"].startswith("contrast_")]  # fmt: skip
    content = build_for_policy(None, total=200, min_per_category=20, seed=1)
    return str(write_bank(refuse + safe + content, tmp_path / "banks.jsonl"))


def test_dag_runs_against_the_server_and_publishes_verdicts(airflow_env, recorded, tmp_path):
    from assay.local_airflow import dags_test

    faults = Faults(share_429=0.1, share_500=0.05, share_drop=0.05)
    with ChatServer(recorded, faults, api_key=KEY, echo_share=0.2) as server:
        conf = {
            "base_url": server.base_url,
            "model": "gpt4-recorded",
            "api_key_conn_id": "assay_chat_key",
            "banks": [_banks(tmp_path)],
            "content_sample": 60,
            "should_refuse_sample": 40,
            "should_not_refuse_sample": 40,
            "min_content_bank": 200,
            "min_should_refuse_bank": 200,
            "min_should_not_refuse_bank": 250,
            "min_per_category": 20,
            "concurrency": 4,
            "timeout_s": 5,
            "output_root": str(tmp_path / "runs"),
        }
        done = dags_test("answer_audit", conf, airflow_env)
    log = done.stdout + done.stderr
    runs = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, log[-4000:]
    run = runs[0]
    verdicts = json.loads((run / "verdicts.json").read_text())
    banks = {b["bank"]: b for b in verdicts["banks"]}
    assert {b: banks[b]["n_sampled"] for b in banks} == {
        "content": 60, "should_refuse": 40, "should_not_refuse": 40}  # fmt: skip
    assert all(b["n_failed"] == 0 for b in banks.values())  # every fault was retried
    assert server.auth_failures == 0 and sum(server.faults_sent.values()) > 0
    assert banks["content"]["n_with_findings"] > 0  # echoed keyword probes are flagged
    scored = [json.loads(x) for x in (run / "answers.jsonl").read_text().splitlines()]
    assert len(scored) == 140 and all(r["label"] for r in scored)
    assert verdicts["bank_check"]["passed"], verdicts["bank_check"]["problems"]
    assert (run / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    assert "answers: 140/140 (100.0%), 0 failed" in log  # progress in the task log
    # the gate task turns a not-passing model red and says why
    if verdicts["overall"] != "pass":
        assert done.returncode != 0 and "banks not passing" in log
    # the key is used (the server accepted it) but never written or logged
    for folder in (Path(airflow_env["AIRFLOW_HOME"]), run):
        for f in folder.rglob("*"):
            if f.is_file() and f.stat().st_size < 50_000_000:
                assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in log
