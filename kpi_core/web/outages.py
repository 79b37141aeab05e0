"""A database that cannot be reached answers 503 with Retry-After, not 500.

The pool pre-pings connections (kpi_core/storage/db.py), so after an outage
the next request gets a fresh connection and the app recovers by itself; a
request caught in the outage fails cleanly and, its transaction rolled back,
leaves nothing half-written.
"""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kpi_core.errors import DatabaseUnavailable, Unavailable
from kpi_core.web.errors import handle_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
OUTAGES = (OperationalError, InterfaceError, PoolTimeout, DatabaseUnavailable)


def handle_database_outage(error: Exception) -> Response:
    reason = getattr(error, "orig", None) or error
    first_line = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
    log.error("database unavailable: %s", first_line)
    message = "The database is unavailable or busy; the request was not completed. Try again shortly."
    return handle_unavailable(Unavailable(message, retry_after=RETRY_AFTER_SECONDS))


def install(app: Flask) -> None:
    for exception in OUTAGES:
        app.register_error_handler(exception, handle_database_outage)
