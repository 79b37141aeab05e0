"""Starts a real, throw-away redis-server from the installed Debian binary.

Used by the job runner's tests. ``KPI_TEST_REDIS_URL`` points the tests at
an existing server instead (its database is flushed before each test).
No persistence (``--save ''``, no append-only file): stopping the server
loses its data, exactly what the tests of a Redis restart need.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

BINARY = "/usr/bin/redis-server"


class RedisUnavailable(RuntimeError):
    pass


def _binary() -> str:
    found = BINARY if Path(BINARY).exists() else shutil.which("redis-server")
    if not found:
        raise RedisUnavailable("redis-server is not installed (Debian package: redis-server)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server on a free loopback port; ``stop()`` and ``start()`` again keep the port."""

    def __init__(self) -> None:
        self.binary = _binary()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kpi-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--logfile", str(self.root / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RedisUnavailable(f"redis-server did not start: {self._log_tail()}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def _log_tail(self) -> str:
        log = self.root / "redis.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return lines[-1] if lines else "no log"

    def stop(self) -> None:
        """Stop the server (its data is gone: no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
