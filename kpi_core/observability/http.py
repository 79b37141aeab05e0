"""Per-request metrics and logs: one access log record per request, a slow-request warning, and
the request counter and latency histogram labelled by route (the URL rule, never the raw path,
so ``/api/v1/teams/7`` and ``/api/v1/teams/8`` are one series)."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, has_request_context, request

from kpi_core.config import Settings
from kpi_core.logs import add_user_lookup
from kpi_core.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger("kpi_core.access")
slow_log = logging.getLogger("kpi_core.slow")

UNMATCHED = "<unmatched>"
"""The route label of requests no URL rule matched (404s of unknown paths): one series, not one per path."""


def _request_user() -> str | None:
    if not has_request_context():
        return None
    principal = g.get("principal")
    return getattr(principal, "username", None)


def route_of_request() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED


def install(app: Flask, settings: Settings) -> None:
    """Time every request; count it; log it (and log it again as slow above KPI_SLOW_REQUEST_MS)."""
    add_user_lookup(_request_user)
    slow_ms = settings.slow_request_ms

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:  # a before_request hook failed before ours ran
            return response
        seconds = time.perf_counter() - started
        route = route_of_request()
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(seconds)
        duration_ms = round(seconds * 1000, 1)
        fields = {
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "remote_addr": request.remote_addr,
        }
        access_log.info(
            "%s %s %s %.1f ms", request.method, request.path, response.status_code, duration_ms, extra=fields
        )
        if slow_ms and duration_ms > slow_ms:
            slow_log.warning(
                "slow request: %s %s took %.0f ms (KPI_SLOW_REQUEST_MS=%d)",
                request.method,
                request.path,
                duration_ms,
                slow_ms,
                extra=fields,
            )
        return response
