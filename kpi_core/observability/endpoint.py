"""``GET /metrics``: Prometheus' text format, for the monitoring system only.

Who may read it: a direct connection from a network in ``KPI_METRICS_ALLOW``
(loopback by default), or anyone presenting ``KPI_METRICS_TOKEN`` as a bearer
token. The address checked is the TCP peer, not ``X-Forwarded-For``, so the
reverse proxy must not pass /metrics on (deploy/nginx answers it 404):
Prometheus scrapes each app instance directly.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Forbidden

from kpi_core.observability.jobs import job_exposition
from kpi_core.observability.metrics import exposition
from kpi_core.web.state import app_state

log = logging.getLogger(__name__)

blueprint = Blueprint("metrics", __name__)


def _token_ok(expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


def _network_ok(networks: tuple[str, ...]) -> bool:
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:  # a Unix socket peer has no IP address: not in any network
        return False
    return any(peer in ipaddress.ip_network(network, strict=False) for network in networks)


def allowed() -> bool:
    """The caller may read /metrics (see the module docstring)."""
    settings = app_state().settings
    return _token_ok(settings.metrics_token) or _network_ok(settings.metrics_allow)


@blueprint.get("/metrics")
def metrics() -> Response:
    """Request counts and latencies per route, KPI cache lookups, and background-job runs and durations."""
    if not allowed():
        error = Forbidden("/metrics is readable only from the networks in KPI_METRICS_ALLOW or with KPI_METRICS_TOKEN")
        raise error
    body, content_type = exposition()
    try:
        body += job_exposition(app_state().database.engine)
    except SQLAlchemyError as exc:
        # The request metrics still help most when the database is down; the job series are left out.
        log.warning("job metrics left out of /metrics: the database cannot be read (%s)", type(exc).__name__)
    return Response(body, content_type=content_type)
