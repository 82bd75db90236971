"""docker/compose.yaml: parses, pins what requirements.txt pins, and has the loopback topology.

No Docker engine runs here, so the file is checked as data; `docker compose config` runs too
where the compose plugin exists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from assay.cluster import AirflowServices, SparkCluster, library_version

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"

AIRFLOW_SERVICES = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor"}
EXPECTED = AIRFLOW_SERVICES | {
    "postgres",
    "minio",
    "airflow-init",
    "airflow-triggerer",
    "spark-master",
}


def pins() -> dict[str, str]:
    """name -> version of every `name==version` line in requirements.txt (extras dropped)."""
    out = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#]+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(3)
    return out


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def default(value: str) -> str:
    """The default of a compose `${VAR:-default}` reference, or the value itself."""
    m = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]*)\}", value)
    return m.group(1) if m else value


def test_parses_and_has_every_service(compose):
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict)
    missing = EXPECTED - set(compose["services"])
    assert not missing, f"services missing from compose.yaml: {sorted(missing)}"


def test_spark_workers_match_the_loopback_cluster(compose):
    loopback = SparkCluster(Path("/nonexistent"))
    workers = sorted(s for s in compose["services"] if s.startswith("spark-worker-"))
    assert len(workers) == loopback.workers
    for name in workers:
        command = compose["services"][name]["command"]
        assert command[:3] == [
            "spark-class",
            "org.apache.spark.deploy.worker.Worker",
            "spark://spark-master:7077",
        ]
        assert default(command[command.index("--cores") + 1]) == str(loopback.worker_cores)
        assert default(command[command.index("--memory") + 1]) == loopback.worker_memory
    master = compose["services"]["spark-master"]["command"]
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert master[master.index("--port") + 1] == "7077"


def test_airflow_processes_match_the_loopback_deployment(compose):
    commands = {name: compose["services"][name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-api-server"][:2] == ["airflow", "api-server"]
    assert commands["airflow-scheduler"] == ["airflow", *AirflowServices.SCHEDULER_ARGS]
    assert commands["airflow-dag-processor"] == ["airflow", *AirflowServices.DAG_PROCESSOR_ARGS]
    env = compose["services"]["airflow-scheduler"]["environment"]
    loopback = AirflowServices(Path("/nonexistent"), "postgresql+psycopg://x", "{}", {})
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        assert env[key] == loopback.env()[key], key
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg://")


def test_image_versions_are_the_pinned_ones(compose):
    pinned = pins()
    args = compose["services"]["spark-master"]["build"]["args"]
    assert args["PYSPARK_VERSION"] == pinned["pyspark"]
    assert args["AIRFLOW_VERSION"] == pinned["apache-airflow"]
    assert default(args["ASSAY_VERSION"]) == library_version()
    # Spark master, workers and every Airflow process run one image built from those pins.
    images = {
        compose["services"][s]["image"]
        for s in compose["services"]
        if s not in ("postgres", "minio")
    }
    assert len(images) == 1
    for name in ("postgres", "minio"):
        image = compose["services"][name]["image"]
        tag = default(image.split(":", 1)[1]) if ":" in image else ""
        assert tag and tag != "latest", f"{name} image is not pinned: {image}"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "-r requirements.txt -c constraints.txt" in dockerfile
    assert "PYSPARK_VERSION" in dockerfile and "AIRFLOW_VERSION" in dockerfile


def test_spark_default_names_the_cluster_and_the_library(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    conn = json.loads(
        env["AIRFLOW_CONN_SPARK_DEFAULT"].replace("${ASSAY_VERSION:-0.1.0}", library_version())
    )
    assert (conn["conn_type"], conn["host"], conn["port"]) == (
        "spark",
        "spark://spark-master",
        7077,
    )
    assert conn["extra"]["deploy-mode"] == "client"
    py_files = Path(conn["extra"]["py-files"])
    assert py_files.name == f"assay-{library_version()}.zip"
    mounts = {v.split(":")[1] for v in compose["services"]["airflow-scheduler"]["volumes"]}
    assert str(py_files.parent) in mounts
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert f"package --dest {py_files.parent}" in init


def test_secrets_come_from_the_environment_and_ports_stay_local(compose):
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (DOCKER / "env.example").read_text()
    declared = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert required <= declared, f"not in env.example: {sorted(required - declared)}"
    for line in example.splitlines():
        if re.match(r"^[A-Z0-9_]*(PASSWORD|SECRET|KEY)[A-Z0-9_]*=", line):
            assert line.endswith("="), f"env.example must not carry a secret value: {line}"
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_spark_provider_pin_imports_in_task_processes():
    """Provider < 5.5 imports airflow.settings.WEB_COLORS, which Airflow 3.3's task runner removes."""
    major, minor = (int(x) for x in pins()["apache-airflow-providers-apache-spark"].split(".")[:2])
    assert (major, minor) >= (5, 5), (
        "pin apache-airflow-providers-apache-spark==5.6.0 (see docs/SCALING.md)"
    )
    assert major < 6, (
        "6.x depends on pyspark-client, which overwrites pyspark (shared/STACK.md trap 1)"
    )


@pytest.mark.skipif(
    shutil.which("docker") is None, reason="no docker CLI here (compose is checked as data)"
)
def test_docker_compose_config_accepts_the_file(tmp_path):
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed (compose is checked as data)")
    env = tmp_path / ".env"
    values = {
        k: "x" for k in re.findall(r"^([A-Z0-9_]+)=$", (DOCKER / "env.example").read_text(), re.M)
    }
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
