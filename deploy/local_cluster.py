"""The production topology as real processes on loopback: PostgreSQL and Redis from Debian's
packages, migrations, two app instances (gunicorn) behind nginx, two RQ workers, one scheduler.

Run it with ``deploy/local-cluster`` (it prints the URL and an admin login and runs until
Ctrl+C); tests/topology drives the same :class:`Cluster` and kills parts of it. Everything
lives in one temporary directory; nothing touches the system's own services.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "kpi.conf.template"
SPA_ROOT = REPO / "kpi_core" / "web" / "frontend_dist"
KPI = Path(sys.executable).parent / "kpi"
ADMIN = "admin"
START_TIMEOUT_SECONDS = 180


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``check`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ClusterError(f"timed out after {timeout:g} s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URLs we built
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _as_postgres() -> list[str]:
    # PostgreSQL refuses to run as root: run its tools as the postgres user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Process:
    """A child in a process group of its own, so it and everything it forked stop together."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - our own commands
                self.command, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def descendants(self) -> set[int]:
        """Every living process this one forked, directly or not (an RQ work horse has a group of its own)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            parents[int(stat.parent.name)] = int(fields[1])
        found, frontier = set(), {self.pid}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found

    def owns(self, pid: int) -> bool:
        """True if ``pid`` is this process or one it forked."""
        return self.running() and (pid == self.pid or pid in self.descendants())

    def kill(self) -> None:
        """SIGKILL to it and everything it forked: a crash or a lost machine, no clean-up."""
        if not self.running():
            return
        for pid in self.descendants():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()  # type: ignore[union-attr]

    def terminate(self) -> None:
        """SIGTERM to the group: a clean shutdown (gunicorn and RQ finish what they are doing)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def wait(self, timeout: float = 15) -> None:
        """Wait for the end, SIGKILL after ``timeout`` seconds."""
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self, timeout: float = 15) -> None:
        self.terminate()
        self.wait(timeout)


class Postgres:
    """A PostgreSQL cluster of our own (initdb in the cluster directory), which can be stopped and started."""

    def __init__(self, root: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
        if not found:
            raise ClusterError("PostgreSQL is not installed (Debian package: postgresql)")
        self.bin = Path(found[-1]).parent
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        result = subprocess.run([*_as_postgres(), *args], capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "postgres.log"), "-w", "start")

    def stop(self) -> None:
        # "fast": sessions are disconnected, committed data is on disk; a real outage for the app.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class Cluster:
    """The whole topology. ``start()`` brings it up and waits until nginx answers /readyz."""

    root: Path
    app_instances: int = 2
    gunicorn_workers: int = 2
    rq_workers: int = 2
    nginx_port: int = 0
    maintenance_interval: int = 10
    scheduler_interval: float = 5
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs = self.root / "logs"
        self.app_ports = [free_port() for _ in range(self.app_instances)]
        self.nginx_port = self.nginx_port or free_port()
        self.redis_port = free_port()
        self.postgres: Postgres | None = None

    # --- addresses -----------------------------------------------------------------
    @property
    def url(self) -> str:
        """nginx: where clients go."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def instance_url(self, index: int) -> str:
        """One app instance directly, bypassing nginx (and how Prometheus scrapes it)."""
        return f"http://127.0.0.1:{self.app_ports[index]}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return self.postgres.url("kpi")

    def env(self) -> dict[str, str]:
        """The environment every kpi process gets: configuration only through KPI_* variables."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("KPI_")}
        env.update(
            KPI_DATABASE_URL=self.database_url,
            KPI_REDIS_URL=self.redis_url,
            KPI_SECRET_KEY=self.secret_key,
            KPI_DATA_DIR=str(self.root / "data"),
            KPI_LOG_FORMAT="json",
            KPI_LOG_LEVEL="INFO",
            KPI_PROXY_HOPS="1",
            KPI_SLOW_REQUEST_MS="2000",
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    # --- start and stop --------------------------------------------------------------
    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.secret_key = secrets.token_urlsafe(48)
        try:
            self._start_postgres()
            self.start_redis()
            self.kpi("db", "upgrade")
            self.kpi("users", "create", "--username", ADMIN, "--role", "admin", "--password-stdin",
                     stdin=self.admin_password + "\n")  # fmt: skip
            for index in range(self.app_instances):
                self.start_app(index)
            for number in range(1, self.rq_workers + 1):
                self._spawn(f"worker{number}", "worker", "--name", f"worker{number}",
                            "--maintenance-interval", str(self.maintenance_interval))  # fmt: skip
            self._spawn("scheduler", "scheduler", "--interval", str(self.scheduler_interval))
            self._start_nginx()
            # Generous: every process imports the whole product at once, which on a busy 2-core
            # machine takes a while; a process that exits is reported at once instead.
            for index in range(self.app_instances):
                self._wait_ready(f"app{index + 1}", self.instance_url(index) + "/readyz")
            self._wait_ready("nginx", self.url + "/readyz")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, name: str, url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        def ready() -> bool:
            for process in self.processes.values():
                if not process.running():
                    raise ClusterError(f"{process.name} exited while starting: see {process.log}")
            return http_ok(url)

        wait_for(ready, timeout, f"{name} to be ready")

    def _start_postgres(self) -> None:
        # Its own directory under /tmp: the postgres user must reach it, and may not reach ours.
        self.postgres = Postgres(Path(tempfile.mkdtemp(prefix="kpi-cluster-pg-")))
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database("kpi")

    def start_redis(self) -> None:
        """redis-server with an append-only file, as in production: a restart loses no queued job."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        directory = self.root / "redis"
        directory.mkdir(exist_ok=True)
        command = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(directory),
                   "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        self.processes["redis"] = Process("redis", command, self.logs / "redis.log", dict(os.environ)).start()
        wait_for(lambda: self._redis_ping(), 10, "redis-server to answer")

    def _redis_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop_redis(self) -> None:
        self.processes["redis"].stop()

    def start_app(self, index: int) -> None:
        port = str(self.app_ports[index])
        # Each instance's gunicorn workers share their metrics files here (inside the cluster directory,
        # so an instance killed without clean-up leaves nothing behind elsewhere).
        metrics = {"PROMETHEUS_MULTIPROC_DIR": str(self.root / "metrics" / f"app{index + 1}")}
        self._spawn(f"app{index + 1}", "serve", "--host", "127.0.0.1", "--port", port,
                    "--workers", str(self.gunicorn_workers), extra_env=metrics)  # fmt: skip

    def _spawn(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> Process:
        env = {**self.env(), **(extra_env or {})}
        process = Process(name, [str(KPI), *args], self.logs / f"{name}.log", env).start()
        self.processes[name] = process
        return process

    def kpi(self, *args: str, stdin: str | None = None) -> str:
        """Run a ``kpi`` command against the cluster and return its output (raise on failure)."""
        result = subprocess.run(  # noqa: S603 - our own command
            [str(KPI), *args], input=stdin, capture_output=True, text=True, env=self.env(), check=False, timeout=300
        )
        if result.returncode != 0:
            raise ClusterError(f"kpi {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def _start_nginx(self) -> None:
        prefix = self.root / "nginx"
        for folder in ("conf", "temp", "logs"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        upstreams = " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in self.app_ports)
        site = Template(NGINX_TEMPLATE.read_text()).safe_substitute(
            NGINX_LISTEN=f"127.0.0.1:{self.nginx_port}", NGINX_UPSTREAM_SERVERS=upstreams, NGINX_SPA_ROOT=str(SPA_ROOT)
        )
        (prefix / "conf" / "kpi.conf").write_text(site)
        user = "user root;" if os.geteuid() == 0 else ""
        temp = prefix / "temp"
        (prefix / "conf" / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "logs" / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    include {prefix / "conf" / "kpi.conf"};
}}
"""
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise ClusterError("nginx is not installed (Debian package: nginx)")
        command = [nginx, "-p", str(prefix), "-c", str(prefix / "conf" / "nginx.conf"),
                   "-e", str(prefix / "logs" / "error.log"), "-g", "daemon off;"]  # fmt: skip
        self.processes["nginx"] = Process("nginx", command, self.logs / "nginx.log", dict(os.environ)).start()

    def stop(self) -> None:
        """Stop everything this cluster started, clients first, then Redis and PostgreSQL."""
        clients = [process for name, process in self.processes.items() if name != "redis"]
        for process in clients:  # all at once: each takes a few seconds to shut down cleanly
            process.terminate()
        for process in clients:
            process.wait()
        if "redis" in self.processes:
            self.processes["redis"].stop()
        if self.postgres is not None:
            with contextlib.suppress(ClusterError):  # already stopped
                self.postgres.stop()
            shutil.rmtree(self.postgres.root, ignore_errors=True)
            self.postgres = None

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="nginx port on 127.0.0.1 (default 8080)")
    parser.add_argument("--dir", type=Path, help="directory for data and logs (default: a new temporary one)")
    options = parser.parse_args()
    root = options.dir or Path(tempfile.mkdtemp(prefix="kpi-cluster-"))
    cluster = Cluster(root, nginx_port=options.port)
    print(f"Starting in {root} ...", flush=True)
    cluster.start()
    print(f"Ready: {cluster.url}/  (admin login: {ADMIN} / {cluster.admin_password})")
    for index in range(cluster.app_instances):
        print(f"  app{index + 1}: {cluster.instance_url(index)}  (metrics: {cluster.instance_url(index)}/metrics)")
    print(f"  PostgreSQL: {cluster.database_url}\n  Redis: {cluster.redis_url}\n  logs: {cluster.logs}")
    print("Ctrl+C stops everything.", flush=True)
    stopped = False

    def stop(*_: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopped:
            time.sleep(0.5)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
