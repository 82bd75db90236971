#!/usr/bin/env python
"""Scale-out on loopback: the corpus_audit DAG on Airflow 3 + PostgreSQL + a Spark standalone cluster.

    .venv/bin/python scripts/scaleout.py [--workdir DIR] [--report FILE] [--no-failures]

What it does, as an operator would: package the library for --py-files, start a Spark master and
two one-core workers and Airflow's API server, scheduler and DAG processor (LocalExecutor) on a
fresh PostgreSQL database, trigger corpus_audit through the REST API and wait for it. Run 1 is
the plain run; run 2 loses its Spark driver mid-stage (Airflow retries the task after a planted
partial write) and, in the retry, one Spark worker (Spark retries its tasks). Both runs' verdicts
must equal those of the same audit in local mode. Everything started is stopped at the end, on
failure too, and the database is dropped.

Exit status: 0 every check held, 1 a check failed (listed), 3 cannot run here (reason printed).
Figures are printed one per line as `name: value`; --report writes everything seen as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assay import cluster  # noqa: E402
from assay.publish import staging_dir  # noqa: E402

DAG_ID = "corpus_audit"
APP_NAME = "assay-corpus-audit"
SPARK_TASK = "sample_and_score"
VICTIM_WORKER = 1
AUDIT = {"seed": 11, "sample_size": 2000, "shard_bytes": 128 * 1024}
TASK_STATES = {"prepare": "success", "sample_and_score": "success", "decide_and_publish": "success"}


def say(msg: str) -> None:
    print(f"[scaleout {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Timer:
    """Wall-clock figures, printed as `name: value` lines at the end."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.figures: dict[str, float] = {}
        self._mark = self.t0

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.figures[name] = round(now - self._mark, 1)
        self._mark = now


def audit_conf(corpus: Path, output_root: Path) -> dict:
    """The trigger form's values: the same corpus, seed, policy and sharding as the local audit."""
    policy = REPO / "assay" / "policies" / "default.yaml"
    return {"corpus": str(corpus), "output_root": str(output_root), "policy": str(policy), **AUDIT}


def local_audit(conf: dict, out: Path, env: dict[str, str]) -> dict:
    """The same audit in local mode (assay.run.audit, Spark local[2]) in a child process."""
    settings = {k: v for k, v in conf.items() if k != "output_root"} | {
        "out": str(out),
        "run_id": "local",
    }
    code = (
        "import json, sys\n"
        "from assay.run import audit\n"
        "from assay.settings import AuditSettings\n"
        "audit(AuditSettings(**json.loads(sys.argv[1])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(settings)],
        env=env,
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    verdicts = out / "verdicts.json"
    if not verdicts.exists():
        raise RuntimeError(
            f"local audit wrote no verdicts (exit {done.returncode}):\n{done.stderr[-3000:]}"
        )
    return json.loads(verdicts.read_text())


def spark_apps(spark: cluster.SparkCluster, key: str) -> list[dict]:
    """activeapps or completedapps of this job at the master."""
    return [a for a in (spark.master_status() or {}).get(key, []) if a.get("name") == APP_NAME]


def run_outputs(run_dir: Path) -> dict:
    """What a committed run folder holds: files, verdicts, Data Docs, sample rows and duplicates."""
    import pyarrow.parquet as pq

    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    verdicts = (
        json.loads((run_dir / "verdicts.json").read_text())
        if (run_dir / "verdicts.json").exists()
        else None
    )
    docs = sorted(str(p.relative_to(run_dir)) for p in run_dir.glob("gx/**/local_site/index.html"))
    samples = sorted((run_dir / "samples").glob("*.parquet"))
    ids: list[tuple[str, str]] = []
    for path in samples:
        table = pq.read_table(path, columns=["source", "doc_id"])
        ids.extend(
            zip(table.column("source").to_pylist(), table.column("doc_id").to_pylist(), strict=True)
        )
    return {
        "run_dir": str(run_dir),
        "files": files,
        "verdicts": verdicts,
        "data_docs": docs,
        "sample_files": [p.name for p in samples],
        "sample_rows": len(ids),
        "duplicate_sample_ids": len(ids) - len(set(ids)),
    }


def sample_listeners(procs: cluster.ProcessSet, report: dict, moment: str) -> None:
    """Record every listening socket of this deployment's processes; flag any beyond loopback."""
    socks = cluster.listening_sockets(cluster.tagged_pids(procs.tag))
    seen = report.setdefault("listeners", {"sampled": {}, "beyond_loopback": []})
    seen["sampled"][moment] = len(socks)
    seen["beyond_loopback"] += [
        {**s, "moment": moment, "cmd": cluster.cmdline(s["pid"])[:120]}
        for s in socks
        if not cluster.is_loopback(s["address"])
    ]


def task_states(api: cluster.AirflowClient, run_id: str) -> dict[str, str]:
    return {t: ti["state"] for t, ti in api.task_instances(DAG_ID, run_id).items()}


def plain_run(api, spark, conf: dict, run_id: str, timeout: float) -> dict:
    """Trigger the DAG through the REST API and wait; what the run and its Spark app did."""
    before = {a["id"] for a in spark_apps(spark, "completedapps")}
    api.trigger(DAG_ID, run_id, conf)
    run = api.wait_run(DAG_ID, run_id, timeout)
    return collect_run(api, spark, conf, run_id, run, before)


def collect_run(api, spark, conf: dict, run_id: str, run: dict, apps_before: set[str]) -> dict:
    from assay.orchestration import safe_run_id

    apps = sorted(
        (a for a in spark_apps(spark, "completedapps") if a["id"] not in apps_before),
        key=lambda a: a["id"],
    )
    summaries = {}
    for app in apps:
        try:
            summaries[app["id"]] = cluster.app_summary(
                cluster.read_event_log(spark.event_dir, app["id"]), spark
            )
        except Exception as exc:  # noqa: BLE001 (a killed driver leaves a truncated log)
            summaries[app["id"]] = {"error": f"{type(exc).__name__}: {exc}"}
    run_dir = Path(conf["output_root"]) / safe_run_id(run_id)
    return {
        "run_id": run_id,
        "state": run["state"],
        "tasks": task_states(api, run_id),
        "spark_tries": [t["state"] for t in api.tries(DAG_ID, run_id, SPARK_TASK)],
        "apps": [
            {
                "id": a["id"],
                "state": a.get("state"),
                "cores": a.get("cores"),
                "duration_ms": a.get("duration"),
            }
            for a in apps
        ],
        "app_summaries": summaries,
        "outputs": run_outputs(run_dir) if run_dir.exists() else None,
        "staging_left": sorted(  # run folders being assembled; the flock files stay by design
            p.name
            for p in (run_dir.parent / ".staging").glob(f"*{safe_run_id(run_id)}*")
            if p.is_dir()
        ),
    }


DEBRIS = {
    "stage.json": b'{"counts": [{"n": 99',
    "samples/part-00000.parquet": b"PAR1\x15\x00truncated",
    "_samples_spark/part-00003-debris.snappy.parquet": b"PAR1 half-written",
}


def failure_run(
    api,
    spark: cluster.SparkCluster,
    procs: cluster.ProcessSet,
    conf: dict,
    run_id: str,
    timeout: float,
    report: dict,
) -> dict:
    """Kill the Spark driver mid-stage (Airflow retries), plant a partial write, then kill a worker."""
    from assay.orchestration import safe_run_id

    safe = safe_run_id(run_id)
    staging = staging_dir(Path(conf["output_root"]) / safe, safe)
    before = {a["id"] for a in spark_apps(spark, "completedapps")}
    events: dict[str, dict] = {}
    api.trigger(DAG_ID, run_id, conf)
    deadline = time.monotonic() + timeout
    phase, first_app, last_state_poll, run = "driver", None, 0.0, {"state": "queued"}
    while True:
        now = time.monotonic()
        if now - last_state_poll > 1.0:
            run, last_state_poll = api.dag_run(DAG_ID, run_id), now
            if run["state"] in ("success", "failed"):
                break
        if now > deadline:
            raise TimeoutError(
                f"run {run_id} still {run['state']} after {timeout:.0f} s (phase {phase})"
            )
        if phase == "driver":
            busy = [
                e
                for e in spark.driver_executors()
                if e.get("id") != "driver" and e.get("activeTasks", 0) > 0
            ]
            submit = [
                p
                for p in cluster.tagged_pids(procs.tag)
                if "org.apache.spark.deploy.SparkSubmit" in cluster.cmdline(p)
            ]
            if busy and submit and staging.exists():
                first_app = busy[0]["app_id"]
                killed = cluster.kill_tree(submit[0])
                events["driver_killed"] = {
                    "app": first_app,
                    "pids": killed,
                    "staging_existed": True,
                    "t": round(now, 1),
                }
                say(
                    f"killed the Spark driver of {first_app} (spark-submit pid {submit[0]}) mid-stage"
                )
                phase = "retry"
        elif phase == "retry":
            state = api.task_instances(DAG_ID, run_id)[SPARK_TASK]["state"]
            if state == "up_for_retry":
                for rel, data in DEBRIS.items():
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    (staging / rel).write_bytes(data)
                events["debris_planted"] = {"staging": str(staging), "files": sorted(DEBRIS)}
                say(f"attempt 1 is up_for_retry; planted a partial write in {staging}")
                phase = "worker"
            elif state == "failed":
                events["retry_missing"] = {"state": state}
                phase = "done"
            time.sleep(0.5)
        elif phase == "worker":
            busy = [
                e
                for e in spark.driver_executors()
                if e.get("id") != "driver"
                and e.get("app_id") != first_app
                and e.get("worker") == VICTIM_WORKER
                and e.get("activeTasks", 0) > 0
            ]
            if busy:
                sample_listeners(procs, report, "spark stage running")
                victim = procs.get(f"spark-worker-{VICTIM_WORKER}")
                killed = cluster.kill_tree(victim.pgid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(victim.pgid, signal.SIGKILL)
                victim.proc.wait(timeout=10)
                events["worker_killed"] = {
                    "app": busy[0]["app_id"],
                    "worker": VICTIM_WORKER,
                    "executor": busy[0]["id"],
                    "active_tasks": busy[0]["activeTasks"],
                    "pids": killed,
                    "t": round(now, 1),
                }
                say(
                    f"killed Spark worker {VICTIM_WORKER} (and its executor {busy[0]['id']}) with {busy[0]['activeTasks']} task(s) running"
                )
                phase = "done"
        time.sleep(0.2)
    result = collect_run(api, spark, conf, run_id, run, before)
    result["events"] = events
    # A planted file may share a real output's name (samples/part-00000.parquet): compare bytes.
    run_dir = Path((result["outputs"] or {}).get("run_dir", "/nonexistent"))
    result["debris_found"] = sorted(
        rel
        for rel, data in DEBRIS.items()
        if (run_dir / rel).is_file() and (run_dir / rel).read_bytes() == data
    )
    return result


def check(report: dict) -> list[str]:
    """Every property the scale-out test asserts, as readable problems (empty: all held)."""
    problems = []
    local = report.get("local") or {}
    for name, run in (report.get("runs") or {}).items():
        for task, want in TASK_STATES.items():
            if run["tasks"].get(task) != want:
                problems.append(f"{name}: task {task} is {run['tasks'].get(task)}, expected {want}")
        out = run.get("outputs") or {}
        if not out.get("verdicts"):
            problems.append(f"{name}: no verdicts.json in the run folder")
            continue
        if out["verdicts"]["sources"] != local.get("sources"):
            problems.append(f"{name}: verdicts differ from the local-mode audit")
        if not out["data_docs"]:
            problems.append(f"{name}: no Data Docs index.html")
        if out["duplicate_sample_ids"]:
            problems.append(f"{name}: {out['duplicate_sample_ids']} duplicated sample rows")
        if run["staging_left"]:
            problems.append(f"{name}: staging left behind: {run['staging_left']}")
        if not run["apps"] or any(a["state"] != "FINISHED" for a in run["apps"][-1:]):
            problems.append(
                f"{name}: the last Spark application did not finish on the cluster: {run['apps']}"
            )
    runs = report.get("runs") or {}
    if "baseline" in runs:
        base = runs["baseline"]
        last = base["app_summaries"].get(base["apps"][-1]["id"], {}) if base["apps"] else {}
        if last.get("workers_used") != [0, 1]:
            problems.append(
                f"baseline: tasks ran on workers {last.get('workers_used')}, expected both [0, 1]"
            )
    if "failures" in runs:
        fail = runs["failures"]
        ev = fail.get("events", {})
        for needed in ("driver_killed", "debris_planted", "worker_killed"):
            if needed not in ev:
                problems.append(f"failures: the scenario did not reach {needed}")
        if fail["spark_tries"][:1] != ["failed"] or fail["spark_tries"][-1:] != ["success"]:
            problems.append(
                f"failures: {SPARK_TASK} tries were {fail['spark_tries']}, expected failed then success"
            )
        if fail.get("debris_found"):
            problems.append(
                f"failures: partial-write debris reached the run folder: {fail['debris_found']}"
            )
        base_out = (runs.get("baseline") or {}).get("outputs") or {}
        if base_out and (fail.get("outputs") or {}).get("sample_rows") != base_out.get(
            "sample_rows"
        ):
            problems.append("failures: sample row count differs from the baseline run")
        killed = ev.get("worker_killed", {})
        summary = fail["app_summaries"].get(killed.get("app", ""), {})
        if killed and not any(
            r["executor"] == killed["executor"] for r in summary.get("executors_removed", [])
        ):
            problems.append(
                "failures: the killed worker's executor was never removed in the event log"
            )
        if killed and not summary.get("tasks_failed"):
            problems.append(
                "failures: no task attempt failed on the killed worker (nothing for Spark to retry)"
            )
    listeners = report.get("listeners") or {}
    if listeners.get("beyond_loopback"):
        problems.append(f"sockets listening beyond loopback: {listeners['beyond_loopback']}")
    cleanup = report.get("cleanup") or {}
    if cleanup.get("leftover_pids"):
        problems.append(f"processes left running: {cleanup['leftover_pids']}")
    if cleanup.get("database_exists"):
        problems.append("the test database was not dropped")
    return problems


def preflight() -> str | None:
    """Why this host cannot run the scale-out test, or None."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (Spark needs java on PATH or JAVA_HOME)"
    return cluster.postgres_problem()


def stack_problem() -> str | None:
    """A known-bad combination in the installed stack (a failure, not a reason to skip)."""
    from importlib.metadata import version

    spark_provider = version("apache-airflow-providers-apache-spark")
    if tuple(int(x) for x in spark_provider.split(".")[:2]) < (5, 5):
        return (
            f"apache-airflow-providers-apache-spark {spark_provider} cannot be imported in Airflow 3.3 "
            "task processes (it imports airflow.settings.WEB_COLORS, which the task runner's ORM block "
            "removes); pin apache-airflow-providers-apache-spark==5.6.0"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", type=Path, help="where everything is written (default: a new temp folder)"
    )
    parser.add_argument("--report", type=Path, help="write the full report as JSON here")
    parser.add_argument(
        "--tag", default=uuid.uuid4().hex[:12], help="deployment tag (names the database)"
    )
    parser.add_argument("--no-failures", action="store_true", help="only the plain run")
    parser.add_argument(
        "--run-timeout", type=float, default=360, help="seconds one DAG run may take"
    )
    args = parser.parse_args(argv)

    reason = preflight()
    if reason:
        print(f"scaleout: cannot run here: {reason}")
        if args.report:
            args.report.write_text(json.dumps({"skipped": reason}))
        return 3

    def _interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    problem = stack_problem()
    if problem:
        print(f"PROBLEM: {problem}\nscaleout: FAILED")
        if args.report:
            args.report.write_text(json.dumps({"problems": [problem]}))
        return 1

    signal.signal(signal.SIGTERM, _interrupt)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="assay-scaleout-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    timer = Timer()
    db_name = f"assay_airflow_{args.tag}"
    procs = cluster.ProcessSet(args.tag, workdir / "logs")
    report: dict = {"tag": args.tag, "workdir": str(workdir), "database": db_name, "runs": {}}
    try:
        from assay.demo import build_demo_corpus

        py_files = cluster.build_py_files(REPO / "build")
        corpus = build_demo_corpus(workdir / "corpus")
        conf = audit_conf(corpus, workdir / "runs")
        report["py_files"] = str(py_files)
        spark = cluster.SparkCluster(workdir / "spark")
        spark.start(procs)
        report["spark"] = {
            "master": spark.master_url,
            "master_ui": spark.master_ui_port,
            "worker_ui": spark.worker_ui_ports,
        }
        timer.lap("spark_cluster_start_s")
        say(
            f"Spark master {spark.master_url} with {spark.workers} workers; library {py_files.name}"
        )

        db_url = cluster.create_database(db_name)
        report["database_created"] = True
        airflow = cluster.AirflowServices(
            workdir / "airflow",
            db_url,
            cluster.spark_connection(spark.master_url, str(py_files)),
            spark.env(),
        )
        airflow.prepare()
        timer.lap("airflow_db_migrate_s")
        airflow.start(procs)
        api = airflow.client()
        cluster.wait_for(
            "the corpus_audit DAG to be parsed",
            lambda: api.dag(DAG_ID),
            180,
            service=procs.get("airflow-dag-processor"),
        )
        api.unpause(DAG_ID)
        timer.lap("airflow_start_s")
        sample_listeners(procs, report, "services up")
        say(f"Airflow API at {airflow.base_url}; DAG {DAG_ID} parsed and unpaused")

        local_env = dict(os.environ) | {
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": cluster.LOOPBACK,
            cluster.TAG_VAR: args.tag,
        }
        report["local"] = local_audit(conf, workdir / "local" / "local", local_env)
        timer.lap("local_audit_s")
        say(f"local audit: overall {report['local']['overall']}")

        report["runs"]["baseline"] = plain_run(
            api, spark, conf, "scaleout_baseline", args.run_timeout
        )
        timer.lap("cluster_run_s")
        say(
            f"baseline run: {report['runs']['baseline']['state']} {report['runs']['baseline']['tasks']}"
        )
        if not args.no_failures:
            report["runs"]["failures"] = failure_run(
                api, spark, procs, conf, "scaleout_failures", args.run_timeout + 120, report
            )
            timer.lap("failure_run_s")
            say(
                f"failure run: {report['runs']['failures']['state']} {report['runs']['failures']['tasks']}"
            )
    except BaseException as exc:  # noqa: BLE001 (recorded, then everything is stopped)
        timer.lap("failed_step_s")
        report["error"] = f"{type(exc).__name__}: {exc}"
        say(f"error: {report['error']}")
        for service in procs.services:
            say(f"--- {service.name} log tail ---\n{service.log_tail(1500)}")
    finally:
        report["cleanup"] = procs.stop_all()
        if report.get("database_created"):
            cluster.drop_database(db_name)
        report["cleanup"]["database_exists"] = cluster.database_exists(db_name)
        timer.lap("shutdown_s")
    report["timings"] = timer.figures | {"total_s": round(time.monotonic() - timer.t0, 1)}
    report["problems"] = ([report["error"]] if "error" in report else []) + check(report)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, default=str))
    for name, value in report["timings"].items():
        print(f"{name}: {value}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    print("scaleout: " + ("FAILED" if report["problems"] else "all checks held"))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
