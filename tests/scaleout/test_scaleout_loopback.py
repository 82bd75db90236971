"""Scale-out for real, on loopback: scripts/scaleout.py against PostgreSQL, Airflow and Spark.

One run of the script (about 6-10 minutes on 2 cores) starts a Spark master and two workers,
Airflow's API server, scheduler and DAG processor on a fresh PostgreSQL database, triggers
corpus_audit through the REST API twice (a plain run; a run that loses its Spark driver and then
a worker) and stops everything. These tests read what it saw. Skips (with the reason) where
PostgreSQL or Java is missing. Run alone: `pytest -m scaleout` or `make scaleout-test`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from assay import cluster

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "scaleout.py"
TIMEOUT_S = 1500

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """Run the scale-out script once; always end every process it started and drop its database."""
    workdir = tmp_path_factory.mktemp("scaleout")
    tag = uuid.uuid4().hex[:12]
    path = workdir / "report.json"
    log = workdir / "scaleout.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--workdir",
                str(workdir / "w"),
                "--report",
                str(path),
                "--tag",
                tag,
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # the script stops its services on SIGTERM
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        finally:
            leftovers = cluster.tagged_pids(tag)
            for pid in leftovers:
                os.kill(pid, signal.SIGKILL)
            if cluster.postgres_problem() is None and cluster.database_exists(
                f"assay_airflow_{tag}"
            ):
                cluster.drop_database(f"assay_airflow_{tag}")
    text = log.read_text(errors="replace")
    if proc.returncode == 3:
        pytest.skip(text.strip().splitlines()[-1])
    assert path.exists(), f"the script wrote no report (exit {proc.returncode}):\n{text[-5000:]}"
    data = json.loads(path.read_text())
    data["_exit"], data["_log"], data["_leftovers_seen_by_test"] = proc.returncode, text, leftovers
    return data


def _run(report: dict, name: str) -> dict:
    assert "error" not in report, f"{report['error']}\n{report['_log'][-6000:]}"
    assert name in report["runs"], f"run {name} missing; problems: {report.get('problems')}"
    return report["runs"][name]


def test_script_reports_every_check_held(report):
    assert report["problems"] == [], "\n".join(report["problems"]) + "\n" + report["_log"][-4000:]
    assert report["_exit"] == 0
    for line in ("cluster_run_s:", "failure_run_s:", "total_s:"):
        assert line in report["_log"]


def test_plain_run_task_states(report):
    run = _run(report, "baseline")
    tasks = run["tasks"]
    assert (tasks["prepare"], tasks["sample_and_score"], tasks["decide_and_publish"]) == (
        "success",
    ) * 3
    assert run["spark_tries"] == ["success"]
    # The demo corpus holds failing sources: the gate must go red, and only then.
    failing = [s["source"] for s in run["outputs"]["verdicts"]["sources"] if s["verdict"] != "pass"]
    assert failing, "the demo corpus should have failing sources"
    assert tasks["gate"] == "failed" and run["state"] == "failed"


def test_cluster_verdicts_equal_local_mode(report):
    local = report["local"]["sources"]
    assert local and len({s["source"] for s in local}) == 5
    for name in ("baseline", "failures"):
        assert _run(report, name)["outputs"]["verdicts"]["sources"] == local, name


def test_spark_ran_on_both_workers_with_the_shipped_library(report):
    run = _run(report, "baseline")
    (app,) = run["apps"]
    summary = run["app_summaries"][app["id"]]
    assert app["state"] == "FINISHED" and app["cores"] == 2
    assert summary["completed"] and summary["workers_used"] == [0, 1]
    assert all(n > 0 for n in summary["tasks_succeeded"].values())
    assert summary["py_files"] == report["py_files"]
    assert Path(report["py_files"]).name == f"assay-{cluster.library_version()}.zip"


def test_data_docs_are_written(report):
    for name in ("baseline", "failures"):
        out = _run(report, name)["outputs"]
        assert out["data_docs"], name
        assert (Path(out["run_dir"]) / out["data_docs"][0]).stat().st_size > 1000


def test_worker_lost_mid_stage_spark_retries(report):
    run = _run(report, "failures")
    killed = run["events"]["worker_killed"]
    assert killed["active_tasks"] >= 1
    summary = run["app_summaries"][killed["app"]]
    assert summary["completed"], "the application did not finish after losing a worker"
    assert any(f["executor"] == killed["executor"] for f in summary["tasks_failed"])
    assert any(r["executor"] == killed["executor"] for r in summary["executors_removed"])
    assert run["tasks"]["sample_and_score"] == "success"


def test_airflow_retry_after_partial_write_leaves_one_clean_run(report):
    run = _run(report, "failures")
    base = _run(report, "baseline")
    assert run["events"]["driver_killed"]["staging_existed"]
    assert run["events"]["debris_planted"]["files"]
    assert run["spark_tries"] == ["failed", "success"]
    assert run["debris_found"] == []
    assert run["staging_left"] == []
    out, base_out = run["outputs"], base["outputs"]
    assert out["duplicate_sample_ids"] == 0
    assert out["sample_rows"] == base_out["sample_rows"] > 0
    assert out["sample_files"] == base_out["sample_files"]
    not_gx = sorted(f for f in out["files"] if not f.startswith("gx/"))
    assert not_gx == sorted(f for f in base_out["files"] if not f.startswith("gx/"))
    assert "stage.json" not in out["files"]


def test_nothing_listens_beyond_loopback(report):
    sampled = report["listeners"]["sampled"]
    # Services up: API server, Spark master and workers (RPC + UI); mid-stage: driver, executors.
    assert sampled["services up"] >= 7 and sampled["spark stage running"] > sampled["services up"]
    assert report["listeners"]["beyond_loopback"] == []


def test_everything_stopped_and_database_dropped(report):
    assert report["cleanup"]["leftover_pids"] == []
    assert report["_leftovers_seen_by_test"] == []
    assert report["cleanup"]["database_exists"] is False
    assert not cluster.database_exists(report["database"])
