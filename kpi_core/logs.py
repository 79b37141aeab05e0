"""Logging set-up for the command line, the servers and the workers.

Two formats: ``text`` (one readable line, for a terminal) and ``json`` (one
JSON object per line, for a log collector). Every record carries the request
id and user of the request being served, or of the request that enqueued the
job being run: both live in context variables that the web layer and the job
runner set (:func:`bind`), so any module's plain ``logging`` call gets them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("kpi_request_id", default=None)
"""The id of the HTTP request being served, or of the request that enqueued the running job."""

USER: ContextVar[str | None] = ContextVar("kpi_user", default=None)
"""The user name behind that request, once authenticated."""

FORMATS = ("text", "json")

# Extra fields a record may carry (``log.info(..., extra={"status": 200})``) and JSON shows.
EXTRA_FIELDS = ("method", "path", "route", "status", "duration_ms", "remote_addr", "job_key", "run_id")


_user_lookups: list[Callable[[], str | None]] = []


def current_request_id() -> str | None:
    """The request id of this context (HTTP request or job), if any."""
    return REQUEST_ID.get()


def current_user() -> str | None:
    """The user of this context: bound with :func:`bind`, else asked of the registered lookups."""
    user = USER.get()
    for lookup in _user_lookups:
        if user is not None:
            break
        user = lookup()
    return user


def add_user_lookup(lookup: Callable[[], str | None]) -> None:
    """Let the web layer name the authenticated user of the current request (it is known only after auth)."""
    if lookup not in _user_lookups:
        _user_lookups.append(lookup)


def current_origin() -> dict[str, str | None]:
    """Request id and user of this context, to hand to a job so its log records carry them."""
    return {"request_id": current_request_id(), "user": current_user()}


@contextmanager
def bind(*, request_id: str | None = None, user: str | None = None) -> Iterator[None]:
    """Within the block, log records carry ``request_id`` and ``user`` (used around a job's run)."""
    tokens = (REQUEST_ID.set(request_id), USER.set(user))
    try:
        yield
    finally:
        REQUEST_ID.reset(tokens[0])
        USER.reset(tokens[1])


class ContextFilter(logging.Filter):
    """Copies the context's request id and user onto each record (``%(request_id)s`` works in any format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        if not hasattr(record, "user"):
            record.user = current_user()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, user, and any known extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
            "user": getattr(record, "user", None) or current_user(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                payload[name] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The readable format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


def make_handler(fmt: str) -> logging.Handler:
    """A stderr handler in ``fmt`` ("text" or "json") with the context filter."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure(level: str, fmt: str = "text") -> None:
    """Send every log record to stderr in ``fmt`` at ``level`` (replaces earlier handlers)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(fmt))
    # RQ adds its own handlers only to loggers without an effective one: with ours on the root it adds none.
    root.setLevel(level.upper())
