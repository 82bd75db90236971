"""The trigger form through the REST API the Airflow UI uses, the UI links, and every DAG's hygiene.

A real `airflow api-server` on 127.0.0.1 (free port, isolated AIRFLOW_HOME on SQLite, the simple
auth manager with every user an admin) serves the DAG as the UI sees it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from assay.local_airflow import airflow, airflow_env, migrate

DAG = "corpus_audit"
LINKS = {"Assay run report", "Assay Data Docs"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 - loopback test server
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """(base URL, environment) of a running api-server with the DAGs serialized."""
    home = tmp_path_factory.mktemp("airflow-api")
    port = _free_port()
    env = airflow_env(home)
    env.update(
        {
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
        }
    )
    migrate(env)
    log = (home / "api-server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "airflow"),
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share the group: stopped together below
    )
    try:
        done = airflow(["dags", "reserialize"], env)
        assert done.returncode == 0, done.stderr[-3000:]
        base = f"http://127.0.0.1:{port}/api/v2"
        deadline = time.monotonic() + 180
        while True:
            try:
                if _request("GET", f"{base}/dags/{DAG}")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, (home / "api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "api-server did not serve the DAG in 180 s"
            time.sleep(1)
        yield base, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_every_param_renders_with_title_and_description(api):
    base, _ = api
    status, details = _request("GET", f"{base}/dags/{DAG}/details")
    assert status == 200
    params = details["params"]
    assert {"corpus", "sample_size", "max_flagged_rate", "decision_rule"} <= set(params)
    for name, param in params.items():
        assert param["schema"].get("title"), f"{name} has no title"
        assert param.get("description"), f"{name} has no description"
        assert param["schema"].get("type"), f"{name} has no type"
    assert "## Params" in details["doc_md"] and "## Reading the results" in details["doc_md"]
    assert details["owners"] == ["assay"] and "assay" in details["tags"][0]["name"] + "".join(
        t["name"] for t in details["tags"]
    )


INVALID = [
    ({}, "corpus"),
    ({"corpus": ""}, "corpus"),
    ({"corpus": "/data/c", "sample_size": 0}, "sample_size"),
    ({"corpus": "/data/c", "sample_size": "many"}, "sample_size"),
    ({"corpus": "/data/c", "max_flagged_rate": 1.5}, "max_flagged_rate"),
    ({"corpus": "/data/c", "confidence": 1.0}, "confidence"),
    ({"corpus": "/data/c", "decision_rule": "coin"}, "decision_rule"),
    ({"corpus": "/data/c", "include": "*.jsonl"}, "include"),
]


@pytest.mark.parametrize(("conf", "param"), INVALID, ids=[p for _, p in INVALID])
def test_invalid_input_is_refused(api, conf, param):
    base, _ = api
    status, body = _request(
        "POST", f"{base}/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf}
    )
    assert 400 <= status < 500, body
    assert f"param {param}" in json.dumps(body), body


def test_valid_input_is_accepted_and_links_resolve(api):
    base, env = api
    runs = []
    for _ in range(2):
        status, run = _request(
            "POST",
            f"{base}/dags/{DAG}/dagRuns",
            {"logical_date": None, "conf": {"corpus": "/data/c"}},
        )
        assert status == 200 and run["state"] == "queued", run  # no scheduler here: it only waits
        runs.append(run["dag_run_id"])
    status, plugins = _request("GET", f"{base}/plugins")
    assert any(p["name"] == "assay" for p in plugins["plugins"]), plugins
    # The first run published (its decide_and_publish XCom, written as the task would).
    script = (
        "import sys\n"
        "from airflow.models.xcom import XComModel\n"
        "from airflow.utils.session import create_session\n"
        "value = {'report_url': 'https://audits.example/runs/r1/report.html', 'docs_url': 'javascript:alert(1)'}\n"
        "with create_session() as session:\n"
        "    XComModel.set(key='return_value', value=value, dag_id='corpus_audit',"
        " task_id='decide_and_publish', run_id=sys.argv[1], session=session)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, runs[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # What the UI asks for when an operator opens the red gate task: its extra links.
    status, links = _request("GET", f"{base}/dags/{DAG}/dagRuns/{runs[0]}/taskInstances/gate/links")
    assert status == 200, links
    assert links["extra_links"]["Assay run report"] == "https://audits.example/runs/r1/report.html"
    assert links["extra_links"]["Assay Data Docs"] is None, (
        "only http(s), file and s3 links are offered"
    )
    status, links = _request("GET", f"{base}/dags/{DAG}/dagRuns/{runs[1]}/taskInstances/gate/links")
    assert status == 200 and set(links["extra_links"]) >= LINKS
    assert all(v is None for k, v in links["extra_links"].items() if k in LINKS), (
        "nothing published yet"
    )


DAGBAG_SCRIPT = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=__import__("os").environ["AIRFLOW__CORE__DAGS_FOLDER"])
out = {"import_errors": {str(k): str(v)[-500:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags or []),
        "owners": sorted({t.owner for t in dag.tasks}),
        "retries": sorted({t.retries for t in dag.tasks}),
        "doc_md": dag.doc_md or "",
        "callbacks": sorted({t.task_id for t in dag.tasks if t.on_failure_callback}),
        "tasks": sorted(t.task_id for t in dag.tasks),
        "params": {k: {"title": p.schema.get("title"), "type": p.schema.get("type"), "description": p.description}
                   for k, p in dag.params.items()},
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    env = airflow_env(tmp_path_factory.mktemp("airflow-dagbag"))
    done = subprocess.run(
        [sys.executable, "-c", DAGBAG_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dagbag_imports_cleanly(dagbag):
    assert dagbag["import_errors"] == {}
    assert DAG in dagbag["dags"]


def test_every_dag_is_documented_owned_tagged_and_retried(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert dag["tags"], f"{dag_id}: no tags"
        assert dag["owners"] and "airflow" not in dag["owners"], f"{dag_id}: owner {dag['owners']}"
        assert min(dag["retries"]) >= 1, f"{dag_id}: a task without retries"
        assert len(dag["doc_md"]) > 200, f"{dag_id}: doc_md missing or too short to explain the DAG"


def test_every_param_has_title_description_and_type(dagbag):
    missing = [
        f"{dag_id}.{name}: {', '.join(k for k, v in p.items() if not v)}"
        for dag_id, dag in dagbag["dags"].items()
        for name, p in dag["params"].items()
        if not all(p.values())
    ]
    assert missing == [], "Params without " + "; ".join(missing)


def test_corpus_audit_tasks_call_the_failure_notice(dagbag):
    dag = dagbag["dags"][DAG]
    assert dag["callbacks"] == dag["tasks"]
