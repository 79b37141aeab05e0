"""Serving the app: waitress in one process (demo, small sites) or gunicorn's pre-forked workers.

``kpi serve`` uses waitress unless ``KPI_WEB_WORKERS`` / ``--workers`` asks
for gunicorn workers (production, behind nginx). Under gunicorn each worker
builds its own app after the fork (no shared database connections), and the
Prometheus metrics of all workers are added up through files in
``PROMETHEUS_MULTIPROC_DIR`` (set here to a fresh directory when unset).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from waitress.server import create_server

from kpi_core.config import Settings
from kpi_core.errors import KpiError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
THREADS_PER_WORKER = 4
WORKER_TIMEOUT_SECONDS = 60
GRACEFUL_TIMEOUT_SECONDS = 30


class PortUnavailable(KpiError):
    pass


def _explain_bind_error(exc: OSError, host: str, port: int) -> PortUnavailable:
    if exc.errno == errno.EADDRINUSE:
        return PortUnavailable(
            f"port {port} on {host} is already in use: stop the other server, "
            f"or choose another port with --port or KPI_PORT"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return PortUnavailable(f"cannot listen on {host}: this machine has no such address")
    return PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}")


def serve(app: Flask, host: str, port: int, *, threads: int = 8) -> None:
    """Serve until interrupted; a port in use is a clear error, not a traceback."""
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="handyman-kpi")
    except OSError as exc:
        raise _explain_bind_error(exc, host, port) from None
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@dataclass(frozen=True)
class MetricsDir:
    """Where gunicorn's workers keep their metrics; ``created`` if made here (and removed at exit)."""

    path: Path
    created: bool


def prepare_metrics_dir() -> MetricsDir:
    """The multi-process metrics directory, emptied: files of an earlier run would be summed in.

    Call it before anything imports prometheus_client (loading the plugins does), which
    picks its value storage once, at import; ``kpi serve --workers N`` does so first thing.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if "prometheus_client" in sys.modules and not configured:
        raise RuntimeError(f"{MULTIPROC_ENV} must be set before prometheus_client is imported")
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="kpi-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return MetricsDir(path, created=not configured)


class _KpiGunicornLogger(GunicornLogger):
    """gunicorn's own messages go through the product's handlers (text or JSON), not its own format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GunicornServer(BaseApplication):
    """gunicorn run from ``kpi serve``: the app is built in each worker after the fork."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        super().__init__()

    def load_config(self) -> None:
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        options = {
            "bind": f"{host}:{self.settings.port}",
            "workers": self.workers,
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
            "timeout": WORKER_TIMEOUT_SECONDS,
            "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
            "proc_name": "kpi-web",
            # The app logs every request itself (kpi_core.access, with route and request id).
            "accesslog": None,
            "errorlog": "-",
            "loglevel": self.settings.log_level.lower(),
            "logger_class": _KpiGunicornLogger,
            "child_exit": _child_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from kpi_core.web.app import create_app

        return create_app(self.settings)


def _check_port(host: str, port: int) -> None:
    # gunicorn retries a busy port for a while and then exits with a traceback-free but vague
    # message; checking first gives the same clear error as waitress.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _explain_bind_error(exc, host, port) from None


def serve_gunicorn(settings: Settings, workers: int, metrics: MetricsDir) -> None:
    """Run gunicorn with ``workers`` processes until it is stopped (SIGTERM: graceful)."""
    _check_port(settings.host, settings.port)
    logging.getLogger(__name__).info("metrics of the %d workers are kept in %s", workers, metrics.path)
    try:
        GunicornServer(settings, workers).run()
    finally:
        if metrics.created:
            shutil.rmtree(metrics.path, ignore_errors=True)
