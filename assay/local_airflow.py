"""The embedded Airflow: SQLite metadata, DAGs from this checkout, Spark in local mode.

Used by the demo and the tests; the scale-out path sets the same variables to other values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assay.settings import REPO_ROOT


def spark_connection(master: str = "local[2]") -> str:
    """The spark_default connection as Airflow reads it from the environment."""
    return json.dumps({"conn_type": "spark", "host": master, "extra": {"deploy-mode": "client"}})


def airflow_env(
    home: Path, db_url: str | None = None, spark_master: str = "local[2]"
) -> dict[str, str]:
    """Environment for the `airflow` CLI: its home, DAG folder, database and connections."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW_CONN_SPARK_DEFAULT": spark_connection(spark_master),
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    if db_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
    return env


def airflow(
    args: list[str], env: dict[str, str], timeout: int = 900, capture: bool = True
) -> subprocess.CompletedProcess:
    """Run the airflow CLI of this interpreter's environment."""
    exe = str(Path(sys.executable).parent / "airflow")
    return subprocess.run(
        [exe, *args], env=env, timeout=timeout, text=True, capture_output=capture, check=False
    )


def migrate(env: dict[str, str]) -> None:
    done = airflow(["db", "migrate"], env)
    if done.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def dags_test(
    dag_id: str, conf: dict, env: dict[str, str], capture: bool = True
) -> subprocess.CompletedProcess:
    """`airflow dags test DAG -c CONF`: one real run of every task, in this process tree."""
    return airflow(["dags", "test", dag_id, "--conf", json.dumps(conf)], env, capture=capture)
