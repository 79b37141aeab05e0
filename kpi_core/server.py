"""Serving the app with waitress, refusing clearly when it cannot start."""

from __future__ import annotations

import errno

from flask import Flask
from waitress.server import create_server

from kpi_core.errors import KpiError


class PortUnavailable(KpiError):
    pass


def serve(app: Flask, host: str, port: int, *, threads: int = 8) -> None:
    """Serve until interrupted; a port in use is a clear error, not a traceback."""
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="handyman-kpi")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                f"port {port} on {host} is already in use: stop the other server, "
                f"or choose another port with --port or KPI_PORT"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PortUnavailable(f"cannot listen on {host}: this machine has no such address") from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
