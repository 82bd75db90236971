"""A scale-out deployment on one host: a Spark standalone cluster and Airflow on PostgreSQL.

Every service is a real process started in its own process group and tagged through its
environment (ASSAY_DEPLOYMENT=<tag>), so a stop finds and ends all of it, including children
that left the group (Airflow's task supervisors do). scripts/scaleout.py drives it; the same
topology runs in containers from docker/compose.yaml.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from assay.settings import REPO_ROOT

TAG_VAR = "ASSAY_DEPLOYMENT"
LOOPBACK = "127.0.0.1"

# ---- processes --------------------------------------------------------------------------------


@dataclass
class Service:
    """One long-running process (and its process group) with its log file."""

    name: str
    proc: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, process group, state) of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), fields[0]


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group."""
    out = []
    for pid in _pids():
        st = _stat(pid)
        if st and st[1] == pgid and st[2] != "Z":
            out.append(pid)
    return out


def tagged_pids(tag: str) -> list[int]:
    """Live processes started with ASSAY_DEPLOYMENT=<tag> in their environment, except this one."""
    marker = f"{TAG_VAR}={tag}".encode()
    out = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        st = _stat(pid)
        if marker in env.split(b"\0") and st and st[2] != "Z":
            out.append(pid)
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` in the process tree."""
    children: dict[int, list[int]] = {}
    for p in _pids():
        st = _stat(p)
        if st:
            children.setdefault(st[0], []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(probe, timeout: float, reap: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap.poll()
        if not probe():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def stop_group(service: Service, grace: float = 20.0) -> bool:
    """Signal the group (its stop signal, then SIGTERM), then SIGKILL; True when it went quietly."""
    quiet = True
    for sig in dict.fromkeys((service.stop_signal, signal.SIGTERM)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pgid, sig)
        if _wait_gone(lambda: group_pids(service.pgid), grace, service.proc):
            return quiet
        quiet = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pgid, signal.SIGKILL)
    _wait_gone(lambda: group_pids(service.pgid), 10, service.proc)
    return False


@dataclass
class ProcessSet:
    """The services of one deployment, started in order and stopped in reverse."""

    tag: str
    log_dir: Path
    services: list[Service] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], stop_signal: int = signal.SIGTERM
    ) -> Service:
        """Start `argv` in a new session (its own process group), output to <log_dir>/<name>.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as handle:
            proc = subprocess.Popen(
                argv,
                env={**env, TAG_VAR: self.tag},
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, proc, log, stop_signal)
        self.services.append(service)
        return service

    def get(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def stop_all(self, grace: float = 20.0) -> dict:
        """Stop every service, then anything still carrying the tag; report what needed force."""
        noisy = [s.name for s in reversed(self.services) if not stop_group(s, grace)]
        stragglers = tagged_pids(self.tag)
        described = [f"{pid} {cmdline(pid)[:160]}" for pid in stragglers]
        _signal_pids(stragglers, signal.SIGTERM)
        if not _wait_gone(lambda: tagged_pids(self.tag), 5):
            _signal_pids(tagged_pids(self.tag), signal.SIGKILL)
            _wait_gone(lambda: tagged_pids(self.tag), 10)
        return {
            "forced_services": noisy,
            "stragglers": described,
            "leftover_pids": tagged_pids(self.tag),
        }


def _decode_address(hex_addr: str) -> str:
    """An address from /proc/net/tcp{,6} (hex, little-endian words) as text."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening_sockets(pids: list[int]) -> list[dict]:
    """TCP sockets in LISTEN state owned by these processes: pid, address, port."""
    owners: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        owners[int(link[8:-1])] = pid
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] != "0A" or int(parts[9]) not in owners:
                    continue
                addr, port = parts[1].split(":")
                found.append(
                    {
                        "pid": owners[int(parts[9])],
                        "address": _decode_address(addr),
                        "port": int(port, 16),
                    }
                )
    return found


def is_loopback(address: str) -> bool:
    return address in ("::1", "::ffff:127.0.0.1") or address.startswith("127.")


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and everything below it (a crash, not a shutdown); the pids killed."""
    victims = [pid, *descendants(pid)]
    _signal_pids(victims, signal.SIGKILL)
    return victims


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for(
    what: str, probe, timeout: float, interval: float = 0.5, service: Service | None = None
):
    """Poll `probe` until it returns something truthy; fail with the service's log on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if service is not None and not service.running():
            raise RuntimeError(
                f"{service.name} exited while waiting for {what}:\n{service.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = f"\n{service.name} log:\n{service.log_tail()}" if service else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
        time.sleep(interval)


# ---- HTTP -------------------------------------------------------------------------------------


def http_json(
    url: str,
    method: str = "GET",
    body: object = None,
    headers: dict | None = None,
    timeout: float = 30,
):
    """A JSON request; returns the decoded body (raises urllib.error.HTTPError on 4xx/5xx)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Accept": "application/json", **(headers or {})}
    )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback URLs we built)
        raw = resp.read()
    return json.loads(raw) if raw else None


def try_json(url: str, **kwargs):
    """http_json, or None while the server is not up (connection refused, 5xx, timeout)."""
    try:
        return http_json(url, **kwargs)
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, OSError):
        return None


# ---- the library for executors ----------------------------------------------------------------


def library_version() -> str:
    """The assay version, from pyproject.toml (the one place it is set)."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_py_files(dest: Path) -> Path:
    """Zip the assay package (code and package data) for spark-submit --py-files; reproducible bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"assay-{library_version()}.zip"
    buffer = io.BytesIO()
    package = REPO_ROOT / "assay"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            info = zipfile.ZipInfo(
                str(path.relative_to(REPO_ROOT)), date_time=(1980, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp = target.with_suffix(f".zip.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, target)
    return target


# ---- Spark standalone -------------------------------------------------------------------------


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark (bin/spark-class, jars/)."""
    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed in this interpreter")
    return Path(spec.origin).parent


def spark_connection(master_url: str, py_files: str | None = None) -> str:
    """spark_default as Airflow reads it from AIRFLOW_CONN_SPARK_DEFAULT (host + port of the master)."""
    scheme_host, _, port = master_url.rpartition(":")
    extra: dict[str, str] = {"deploy-mode": "client"}
    if py_files:
        extra["py-files"] = py_files
    return json.dumps(
        {"conn_type": "spark", "host": scheme_host, "port": int(port), "extra": extra}
    )


@dataclass
class SparkCluster:
    """A standalone master and N one-core workers on loopback, run from the installed pyspark."""

    root: Path
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    master_port: int = field(default_factory=free_port)
    master_ui_port: int = field(default_factory=free_port)
    driver_ui_port: int = field(default_factory=free_port)
    worker_ui_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        while len(self.worker_ui_ports) < self.workers:
            self.worker_ui_ports.append(free_port())

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.master_port}"

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def event_dir(self) -> Path:
        return self.root / "events"

    def write_conf(self) -> None:
        """spark-defaults.conf (event log, driver UI port) and a quiet log4j2 config."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.event_dir.mkdir(parents=True, exist_ok=True)
        defaults = {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": self.event_dir.as_uri(),
            "spark.ui.port": str(self.driver_ui_port),
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
        }
        (self.conf_dir / "spark-defaults.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in defaults.items())
        )
        (self.conf_dir / "log4j2.properties").write_text(
            "rootLogger.level = warn\nrootLogger.appenderRef.stdout.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n\n"
            "logger.app.name = org.apache.spark.deploy\nlogger.app.level = info\n"
        )

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment of Spark daemons and spark-submit: loopback, the venv's python, this conf."""
        env = dict(base if base is not None else os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            {
                "SPARK_HOME": str(spark_home()),
                "SPARK_CONF_DIR": str(self.conf_dir),
                "SPARK_LOCAL_IP": LOOPBACK,
                "SPARK_LOCAL_HOSTNAME": LOOPBACK,
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            }
        )
        return env

    def start(self, procs: ProcessSet, timeout: float = 90) -> None:
        """Start the master, then the workers; return once every worker is ALIVE at the master."""
        self.write_conf()
        spark_class = str(spark_home() / "bin" / "spark-class")
        env = self.env()
        master = procs.start(
            "spark-master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                LOOPBACK,
                "--port",
                str(self.master_port),
                "--webui-port",
                str(self.master_ui_port),
            ],
            env,
        )
        wait_for("the Spark master", self.master_status, timeout, service=master)
        for i in range(self.workers):
            procs.start(
                f"spark-worker-{i}",
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    self.master_url,
                    "--host",
                    LOOPBACK,
                    "--cores",
                    str(self.worker_cores),
                    "--memory",
                    self.worker_memory,
                    "--webui-port",
                    str(self.worker_ui_ports[i]),
                    "--work-dir",
                    str(self.root / f"work-{i}"),
                ],
                env,
            )
        wait_for(
            f"{self.workers} ALIVE Spark workers",
            lambda: len(self.alive_workers()) >= self.workers,
            timeout,
            service=master,
        )

    def master_status(self) -> dict | None:
        """The master's JSON status page (workers, activeapps, completedapps)."""
        return try_json(f"http://{LOOPBACK}:{self.master_ui_port}/json/")

    def worker_status(self, i: int) -> dict | None:
        return try_json(f"http://{LOOPBACK}:{self.worker_ui_ports[i]}/json/")

    def alive_workers(self) -> list[dict]:
        status = self.master_status() or {}
        return [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]

    def worker_of_url(self, url: str) -> int | None:
        """Which worker an executor log URL (http://127.0.0.1:<worker ui port>/...) points at."""
        port = urllib.parse.urlsplit(url).port
        return self.worker_ui_ports.index(port) if port in self.worker_ui_ports else None

    def driver_executors(self) -> list[dict]:
        """The running application's executors from the driver's REST API ([] when none runs)."""
        base = f"http://{LOOPBACK}:{self.driver_ui_port}/api/v1/applications"
        apps = try_json(base) or []
        if not apps:
            return []
        executors = try_json(f"{base}/{apps[0]['id']}/executors") or []
        for e in executors:
            logs = e.get("executorLogs") or {}
            e["worker"] = self.worker_of_url(logs.get("stdout", "")) if logs else None
            e["app_id"] = apps[0]["id"]
        return executors


def read_event_log(event_dir: Path, app_id: str) -> list[dict]:
    """The events of one application from Spark's event log (plain, or zstd-compressed v2 logs)."""
    events: list[dict] = []
    candidates = sorted(event_dir.glob(f"eventlog_v2_{app_id}/events_*")) or sorted(
        event_dir.glob(f"{app_id}*")
    )
    if not candidates:
        raise FileNotFoundError(f"no event log for {app_id} in {event_dir}")
    for path in candidates:
        raw = path.read_bytes()
        if path.suffix == ".zstd":
            import zstandard

            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        events.extend(json.loads(line) for line in raw.decode().splitlines() if line.strip())
    return events


def app_summary(events: list[dict], cluster: SparkCluster) -> dict:
    """Executors (and their workers), tasks each ran, failed attempts, removed executors, py-files."""
    executors: dict[str, int | None] = {}
    succeeded: dict[str, int] = {}
    failed: list[dict] = []
    removed: list[dict] = []
    completed = False
    py_files = ""
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerEnvironmentUpdate":
            props = e.get("Spark Properties") or {}
            py_files = dict(props).get("spark.submit.pyFiles", "") if props else ""
        elif kind == "SparkListenerExecutorAdded":
            url = e["Executor Info"].get("Log Urls", {}).get("stdout", "")
            executors[e["Executor ID"]] = cluster.worker_of_url(url)
        elif kind == "SparkListenerTaskEnd":
            executor = e["Task Info"]["Executor ID"]
            reason = e["Task End Reason"]["Reason"]
            if reason == "Success":
                succeeded[executor] = succeeded.get(executor, 0) + 1
            else:
                failed.append({"executor": executor, "stage": e["Stage ID"], "reason": reason})
        elif kind == "SparkListenerExecutorRemoved":
            removed.append({"executor": e["Executor ID"], "reason": e.get("Removed Reason", "")})
        elif kind == "SparkListenerApplicationEnd":
            completed = True
    return {
        "executors": executors,
        "workers_used": sorted(
            {executors.get(x) for x, n in succeeded.items() if n and executors.get(x) is not None}
        ),
        "tasks_succeeded": succeeded,
        "tasks_failed": failed,
        "executors_removed": removed,
        "completed": completed,
        "py_files": py_files,
    }


# ---- PostgreSQL -------------------------------------------------------------------------------


def postgres_problem(host: str = LOOPBACK, port: int = 5432, user: str = "postgres") -> str | None:
    """Why PostgreSQL cannot serve as Airflow's database here, or None when it can."""
    if find_spec("psycopg") is None:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]')"
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname="postgres", connect_timeout=5
        ) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {host}:{port} (user {user}) is not usable: {str(exc).strip()[:200]}"
    return None


def create_database(
    name: str, host: str = LOOPBACK, port: int = 5432, user: str = "postgres"
) -> str:
    """A fresh, empty database; returns Airflow's SQLAlchemy URL for it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=host, port=port, user=user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


def drop_database(
    name: str, host: str = LOOPBACK, port: int = 5432, user: str = "postgres"
) -> None:
    """Drop a database, closing any connection still open to it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=host, port=port, user=user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_exists(
    name: str, host: str = LOOPBACK, port: int = 5432, user: str = "postgres"
) -> bool:
    import psycopg

    with psycopg.connect(host=host, port=port, user=user, dbname="postgres") as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            is not None
        )


# ---- Airflow ----------------------------------------------------------------------------------


@dataclass
class AirflowServices:
    """Airflow 3 on PostgreSQL: API server, scheduler (LocalExecutor), DAG processor."""

    home: Path
    db_url: str
    spark_conn: str
    spark_env: dict[str, str]
    api_port: int = field(default_factory=free_port)
    user: str = "operator"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    parallelism: int = 4

    # The processes of a deployment (docker/compose.yaml runs the same commands). --skip-serve-logs:
    # the scheduler's log server binds every interface on a fixed port; the API server reads task
    # logs from the shared AIRFLOW_HOME instead.
    SCHEDULER_ARGS = ("scheduler", "--skip-serve-logs")
    DAG_PROCESSOR_ARGS = ("dag-processor",)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def env(self) -> dict[str, str]:
        """The variables every Airflow process of this deployment shares (secrets included)."""
        from assay.local_airflow import airflow_env

        env = airflow_env(self.home, self.db_url)
        env.update(
            {k: v for k, v in self.spark_env.items() if k.startswith(("SPARK_", "PYSPARK_"))}
        )
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                # psycopg 3 serves the async engine too (Airflow would otherwise want asyncpg).
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.db_url,
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                    self.home / "passwords.json"
                ),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW_CONN_SPARK_DEFAULT": self.spark_conn,
            }
        )
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}-secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text()

    def airflow_cli(self, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        exe = str(Path(sys.executable).parent / "airflow")
        return subprocess.run(
            [exe, *args],
            env=self.env(),
            timeout=timeout,
            text=True,
            capture_output=True,
            check=False,
        )

    def prepare(self) -> None:
        """Write the operator's password file and migrate the (empty) metadata database."""
        self.home.mkdir(parents=True, exist_ok=True)
        pw = self.home / "passwords.json"
        pw.write_text(json.dumps({self.user: self.password}))
        pw.chmod(0o600)
        done = self.airflow_cli(["db", "migrate"])
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )

    def start(self, procs: ProcessSet, timeout: float = 180) -> None:
        """API server, scheduler and DAG processor as separate processes; wait for the health check."""
        exe = str(Path(sys.executable).parent / "airflow")
        env = self.env()
        api = procs.start(
            "airflow-api-server",
            [exe, "api-server", "--host", LOOPBACK, "--port", str(self.api_port)],
            env,
            signal.SIGINT,
        )
        procs.start("airflow-scheduler", [exe, *self.SCHEDULER_ARGS], env, signal.SIGINT)
        procs.start("airflow-dag-processor", [exe, *self.DAG_PROCESSOR_ARGS], env, signal.SIGINT)
        wait_for(
            "the Airflow API server",
            lambda: try_json(f"{self.base_url}/api/v2/monitor/health"),
            timeout,
            service=api,
        )

    def client(self) -> AirflowClient:
        return AirflowClient(self.base_url, self.user, self.password)


@dataclass
class AirflowClient:
    """The Airflow REST API as an operator uses it: a JWT from /auth/token, then /api/v2."""

    base_url: str
    user: str
    password: str
    _token: str = ""

    def token(self) -> str:
        if not self._token:
            reply = http_json(
                f"{self.base_url}/auth/token",
                "POST",
                {"username": self.user, "password": self.password},
            )
            self._token = reply["access_token"]
        return self._token

    def call(self, method: str, path: str, body: object = None, attempts: int = 5):
        """One API call; a slow or briefly unreachable server (a busy host) is retried."""
        for attempt in range(attempts):
            try:
                return http_json(
                    f"{self.base_url}/api/v2{path}",
                    method,
                    body,
                    {"Authorization": f"Bearer {self.token()}"},
                    timeout=30,
                )
            except urllib.error.HTTPError:
                raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == attempts - 1 or method not in ("GET", "PATCH"):
                    raise
                time.sleep(2 * (attempt + 1))
        raise AssertionError("unreachable")

    def dag(self, dag_id: str) -> dict | None:
        try:
            return self.call("GET", f"/dags/{dag_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: dict) -> dict:
        """POST /dags/{dag_id}/dagRuns: what the trigger form does."""
        return self.call(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": conf},
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        reply = self.call(
            "GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        )
        return {ti["task_id"]: ti for ti in reply["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}/tries"
        return self.call("GET", path)["task_instances"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float, on_poll=None) -> dict:
        """Poll the run until it succeeds or fails; `on_poll(run)` is called on every poll."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"DAG run {dag_id}/{run_id} still {run['state']} after {timeout:.0f} s"
                )
            time.sleep(1.0)


# ---- deployment chores (docker/compose.yaml's airflow-init runs these) ------------------------


def write_passwords(home: Path, user: str, password: str) -> Path:
    """The simple auth manager's password file, so Airflow never generates and logs one."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "passwords.json"
    path.write_text(json.dumps({user: password}))
    path.chmod(0o600)
    return path


def ensure_bucket(name: str) -> None:
    """Create the corpus bucket on the store named by the standard AWS environment, if missing."""
    import boto3

    s3 = boto3.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        s3.create_bucket(Bucket=name)


def main(argv: list[str] | None = None) -> int:
    """`python -m assay.cluster package|passwords|bucket`: one-shot steps of a deployment."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m assay.cluster", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("package", help="zip the library for spark-submit --py-files")
    p.add_argument("--dest", type=Path, default=REPO_ROOT / "build")
    p = sub.add_parser(
        "passwords", help="write the operator's password file (from the environment)"
    )
    p.add_argument("--home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", ".")))
    p.add_argument("--user-var", default="AIRFLOW_OPERATOR_USER")
    p.add_argument("--password-var", default="AIRFLOW_OPERATOR_PASSWORD")
    p = sub.add_parser("bucket", help="create an object-store bucket if it does not exist")
    p.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "package":
        print(build_py_files(args.dest))
    elif args.command == "passwords":
        password = os.environ.get(args.password_var, "")
        if not password:
            parser.error(f"set {args.password_var}")
        user = os.environ.get(args.user_var, "operator")
        print(write_passwords(args.home, user, password))
    else:
        ensure_bucket(args.name)
        print(f"bucket {args.name} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
