"""assay.cluster without a cluster: process-group cleanup, the py-files zip, connections, event logs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from assay import cluster


def test_stop_all_ends_stubborn_children_and_escaped_sessions(tmp_path):
    procs = cluster.ProcessSet(uuid.uuid4().hex, tmp_path / "logs")
    # A service whose child ignores SIGINT/SIGTERM and whose grandchild left the group (setsid),
    # as Airflow's task supervisors and PySpark's daemons do.
    script = (
        "trap '' INT TERM; setsid sleep 300 & bash -c \"trap '' INT TERM; sleep 300\" & sleep 300"
    )
    service = procs.start("stubborn", ["bash", "-c", script], dict(os.environ), signal.SIGINT)

    def escaped() -> list[int]:
        return [
            p for p in cluster.tagged_pids(procs.tag) if p not in cluster.group_pids(service.pgid)
        ]

    cluster.wait_for("the setsid child to leave the group", escaped, 10)
    cluster.wait_for("both sleepers", lambda: len(cluster.tagged_pids(procs.tag)) >= 4, 10)
    gone_astray = escaped()
    report = procs.stop_all(grace=1.0)
    assert report["leftover_pids"] == []
    assert cluster.tagged_pids(procs.tag) == []
    assert report["forced_services"] == ["stubborn"]
    assert any(str(p) in " ".join(report["stragglers"]) for p in gone_astray)
    assert service.proc.poll() is not None


def test_stop_all_is_quiet_for_a_well_behaved_service(tmp_path):
    procs = cluster.ProcessSet(uuid.uuid4().hex, tmp_path / "logs")
    procs.start("polite", ["sleep", "300"], dict(os.environ))
    report = procs.stop_all(grace=5.0)
    assert report == {"forced_services": [], "stragglers": [], "leftover_pids": []}


def test_kill_tree_kills_descendants(tmp_path):
    procs = cluster.ProcessSet(uuid.uuid4().hex, tmp_path / "logs")
    service = procs.start("tree", ["bash", "-c", "sleep 300 & sleep 300 & wait"], dict(os.environ))
    cluster.wait_for("children", lambda: len(cluster.descendants(service.proc.pid)) >= 2, 10)
    killed = cluster.kill_tree(service.proc.pid)
    service.proc.wait(timeout=10)
    assert len(killed) >= 3
    time.sleep(0.3)
    assert cluster.tagged_pids(procs.tag) == []
    procs.stop_all(grace=1.0)


def test_listening_sockets_sees_this_process():
    import socket

    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", 0))
        v4.listen()
        v6.bind(("::", 0))
        v6.listen()
        found = {(s["address"], s["port"]) for s in cluster.listening_sockets([os.getpid()])}
        assert ("127.0.0.1", v4.getsockname()[1]) in found
        assert ("::", v6.getsockname()[1]) in found
    assert cluster.is_loopback("127.0.0.1") and cluster.is_loopback("::1")
    assert not cluster.is_loopback("::") and not cluster.is_loopback("0.0.0.0")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_py_files_zip_is_reproducible_and_importable(tmp_path):
    first = cluster.build_py_files(tmp_path / "a")
    second = cluster.build_py_files(tmp_path / "b")
    assert first.name == f"assay-{cluster.library_version()}.zip"
    assert _sha(first) == _sha(second)
    import zipfile

    names = zipfile.ZipFile(first).namelist()
    assert "assay/__init__.py" in names and "assay/audit.py" in names
    assert "assay/policies/default.yaml" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # Spark puts the zip first on the executors' sys.path: the code must come from it.
    code = (
        "import sys; sys.path.insert(1, sys.argv[1]); import assay.settings as s; print(s.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(first)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().startswith(str(first))


def test_spark_connection_resolves_to_the_master_and_library(monkeypatch):
    conn = cluster.spark_connection("spark://127.0.0.1:7077", "/opt/lib/assay.zip")
    data = json.loads(conn)
    assert data["host"] == "spark://127.0.0.1" and data["port"] == 7077
    assert data["extra"] == {"deploy-mode": "client", "py-files": "/opt/lib/assay.zip"}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", conn)
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    hook = SparkSubmitHook(conn_id="spark_default", py_files="/opt/lib/assay.zip")
    command = hook._build_spark_submit_command("job.py")
    assert command[command.index("--master") + 1] == "spark://127.0.0.1:7077"
    assert command[command.index("--py-files") + 1] == "/opt/lib/assay.zip"
    assert command[command.index("--deploy-mode") + 1] == "client"


def test_app_summary_maps_executors_to_workers(tmp_path):
    spark = cluster.SparkCluster(tmp_path, worker_ui_ports=[18081, 18082])
    url = "http://127.0.0.1:{}/logPage/?appId=app-1&executorId={}&logType=stdout"
    events = [
        {
            "Event": "SparkListenerExecutorAdded",
            "Executor ID": "0",
            "Executor Info": {"Log Urls": {"stdout": url.format(18081, 0)}},
        },
        {
            "Event": "SparkListenerExecutorAdded",
            "Executor ID": "1",
            "Executor Info": {"Log Urls": {"stdout": url.format(18082, 1)}},
        },
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": 0,
            "Task Info": {"Executor ID": "0"},
            "Task End Reason": {"Reason": "Success"},
        },
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": 0,
            "Task Info": {"Executor ID": "1"},
            "Task End Reason": {"Reason": "ExecutorLostFailure"},
        },
        {
            "Event": "SparkListenerExecutorRemoved",
            "Executor ID": "1",
            "Removed Reason": "worker lost",
        },
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": 0,
            "Task Info": {"Executor ID": "0"},
            "Task End Reason": {"Reason": "Success"},
        },
        {"Event": "SparkListenerApplicationEnd"},
    ]
    summary = cluster.app_summary(events, spark)
    assert summary["executors"] == {"0": 0, "1": 1}
    assert summary["workers_used"] == [0]
    assert summary["tasks_succeeded"] == {"0": 2}
    assert summary["tasks_failed"] == [
        {"executor": "1", "stage": 0, "reason": "ExecutorLostFailure"}
    ]
    assert summary["executors_removed"] == [{"executor": "1", "reason": "worker lost"}]
    assert summary["completed"] is True
    assert summary["py_files"] == ""
    shipped = {
        "Event": "SparkListenerEnvironmentUpdate",
        "Spark Properties": {"spark.submit.pyFiles": "/b/assay.zip"},
    }
    assert cluster.app_summary([shipped], spark)["py_files"] == "/b/assay.zip"


def test_read_event_log_reads_zstd_rolling_logs(tmp_path):
    import zstandard

    folder = tmp_path / "eventlog_v2_app-7"
    folder.mkdir()
    lines = [{"Event": "SparkListenerApplicationStart"}, {"Event": "SparkListenerApplicationEnd"}]
    raw = "".join(json.dumps(e) + "\n" for e in lines).encode()
    (folder / "events_1_app-7.zstd").write_bytes(zstandard.ZstdCompressor().compress(raw))
    assert cluster.read_event_log(tmp_path, "app-7") == lines
    with pytest.raises(FileNotFoundError):
        cluster.read_event_log(tmp_path, "app-8")
