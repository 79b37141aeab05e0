"""One JSON error shape for every error status, unknown routes and wrong methods included.

Shape: ``{"code": 404, "status": "Not Found", "message": "...", "errors": {...},
"request_id": "..."}``; ``errors`` maps the request location (``json``,
``query``, ...) to field names and their messages.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, g, jsonify
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import Conflict as HTTPConflict
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, ServiceUnavailable, UnprocessableEntity

from kpi_core.errors import Conflict, Invalid, Unavailable
from kpi_core.errors import NotFound as RecordNotFound

log = logging.getLogger(__name__)


class ErrorSchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "What went wrong, for a person"})
    errors = fields.Dict(metadata={"description": "Field-level messages by location and field"})
    request_id = fields.String(metadata={"description": "Quote this when reporting a problem"})


class KpiApi(Api):
    """flask-smorest's Api with our error shape; unlike the stock handler it keeps
    the exception's own headers (``Allow`` on 405, ``WWW-Authenticate`` on 401)."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return error_response(error)


def error_response(error: HTTPException) -> Response:
    payload: dict[str, Any] = {"code": error.code, "status": error.name}
    headers: dict[str, str] = {}
    data = getattr(error, "data", None) or {}
    if "message" in data:
        payload["message"] = data["message"]
    elif error.description and error.code != 500:
        payload["message"] = error.description
    else:
        payload["message"] = "An unexpected error occurred; it has been logged."
    errors = data.get("errors") or data.get("messages")
    if errors:
        payload["errors"] = errors
    headers.update(data.get("headers") or {})
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            headers.setdefault(name, value)
    payload["request_id"] = getattr(g, "request_id", None)
    response = jsonify(payload)
    response.status_code = error.code or 500
    for name, value in headers.items():
        response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error in request %s", getattr(g, "request_id", None), exc_info=error)
    return error_response(InternalServerError())


def _with_data(error: HTTPException, message: str, errors: dict[str, Any] | None = None) -> HTTPException:
    error.data = {"message": message, **({"errors": errors} if errors else {})}  # type: ignore[attr-defined]
    return error


def handle_not_found(error: RecordNotFound) -> Response:
    return error_response(_with_data(NotFound(), str(error)))


def handle_conflict(error: Conflict) -> Response:
    return error_response(_with_data(HTTPConflict(), str(error), {"json": {error.field: [error.message]}}))


def handle_invalid(error: Invalid) -> Response:
    errors = {error.location: {error.field: [error.message]}}
    return error_response(_with_data(UnprocessableEntity(), str(error), errors))


def handle_unavailable(error: Unavailable) -> Response:
    log.warning("service unavailable: %s", error)
    unavailable = _with_data(ServiceUnavailable(), str(error))
    unavailable.data["headers"] = {"Retry-After": str(error.retry_after)}  # type: ignore[attr-defined]
    return error_response(unavailable)


DOMAIN_ERROR_HANDLERS = {
    RecordNotFound: handle_not_found,
    Conflict: handle_conflict,
    Invalid: handle_invalid,
    Unavailable: handle_unavailable,
}
"""Domain exceptions raised by the services, and the answer each gets."""
