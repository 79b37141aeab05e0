"""One JSON error shape for every error status, unknown routes and wrong methods included.

Shape: ``{"code": 404, "status": "Not Found", "message": "...", "errors": {...},
"request_id": "..."}``; ``errors`` maps the request location (``json``,
``query``, ...) to field names and their messages.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

from flask import Response, g, has_request_context, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from flask_smorest.pagination import PaginationMetadataSchema
from marshmallow import Schema, fields
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    UnprocessableEntity,
)
from werkzeug.exceptions import Conflict as HTTPConflict
from werkzeug.routing import IntegerConverter

from kpi_core.errors import Conflict, Invalid, Unavailable
from kpi_core.errors import NotFound as RecordNotFound
from kpi_core.web import spa
from kpi_core.web.schemas import MAX_ID

log = logging.getLogger(__name__)


class ErrorSchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "What went wrong, for a person"})
    errors = fields.Dict(metadata={"description": "Field-level messages by location and field"})
    request_id = fields.String(metadata={"description": "Quote this when reporting a problem"})


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` in our routes: an id past MAX_ID cannot exist, so its URL is a 404 (and the
    OpenAPI document says ``maximum``) instead of a database driver's overflow error."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class KpiApi(Api):
    """flask-smorest's Api with our error shape; unlike the stock handler it keeps
    the exception's own headers (``Allow`` on 405, ``WWW-Authenticate`` on 401)."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: Any, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        # Before any blueprint is registered, so every route's int converter is the bounded one.
        app.url_map.converters["int"] = RecordIdConverter
        super().init_app(app, spec_kwargs=spec_kwargs)

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        # An unknown URL opened in a browser (a typo, /jobs/ with its trailing slash) gets the
        # app's own not-found page, not this JSON.
        if error.code == 404 and has_request_context() and spa.is_page_request(request):
            return spa.not_found_page()
        return error_response(error)

    def _register_pagination_header(self) -> None:
        # X-Pagination holds JSON text. flask-smorest documents it as an object in the "simple"
        # header style (``total,2,page,1``), which is not what is sent: document JSON content.
        header = {
            "description": "Pagination metadata, as JSON",
            "content": {"application/json": {"schema": PaginationMetadataSchema}},
        }
        self.spec.components.header("PAGINATION", header, lazy=True)


PLAIN_MESSAGES = {
    400: "The request could not be read. Check what was sent and try again.",
    401: "Log in to continue: the session has ended or the login was not accepted.",
    403: "You do not have access to this. Ask an administrator if you need it.",
    404: "Nothing was found here. Check the address, or go back and choose again.",
    405: "This address does not take that kind of request.",
    406: "This cannot be answered in the format asked for: ask for JSON.",
    409: "This clashes with what is stored already. Reload it and try again.",
    410: "This is no longer available.",
    412: "Someone changed this since you opened it. Reload it and make your change again.",
    413: "The file or request is too large. Send a smaller one, or split the file into parts.",
    415: "This kind of content is not accepted here. Send JSON, or a CSV or JSON Lines file.",
    422: "Some of the values are not valid: see the fields named below.",
    428: "Reload this before changing it, so that no one else's change is overwritten "
    "(send the ETag you read in If-Match).",
    429: "Too many requests in a short time. Wait a moment and try again.",
    500: "Something went wrong on our side and it has been logged. Try again; if it happens again, "
    "quote the request id.",
    503: "The service is busy or down for maintenance. Try again in a moment.",
}
"""What an error says when nothing more precise was given: what happened, and what to do, in words
(never Werkzeug's stock HTTP texts, such as "The request was well-formed but was unable to be
followed due to semantic errors")."""


def default_message(error: HTTPException) -> str:
    """The error's own description when a view gave one, else the plain words for its status."""
    code = error.code or 500
    if error.description and error.description != getattr(type(error), "description", None) and code != 500:
        return error.description
    if code >= 500:
        return PLAIN_MESSAGES.get(code, PLAIN_MESSAGES[500])
    return PLAIN_MESSAGES.get(code, PLAIN_MESSAGES[400])


def _string_keys(errors: Any) -> Any:
    """JSON names fields with strings: a parser's None (a part without a name) is the whole request's
    problem, as marshmallow's ``_schema``; sorting mixed keys would otherwise turn a 4xx into a 500."""
    if isinstance(errors, dict):
        return {("_schema" if key is None else str(key)): _string_keys(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_string_keys(value) for value in errors]
    return errors


def error_response(error: HTTPException) -> Response:
    payload: dict[str, Any] = {"code": error.code, "status": error.name}
    headers: dict[str, str] = {}
    data = getattr(error, "data", None) or {}
    payload["message"] = data["message"] if "message" in data else default_message(error)
    errors = data.get("errors") or data.get("messages")
    if errors:
        payload["errors"] = _string_keys(errors)
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


_JSON_PACKAGE = Path(json.__file__).parent


def handle_deep_json(error: RecursionError) -> Response:
    """A JSON body nested thousands of levels deep exhausts Python's recursion limit in the
    decoder (webargs answers 400 only for malformed JSON): it is bad input, answered like
    malformed JSON. A RecursionError raised anywhere else is still a bug (500)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames or Path(frames[-1].filename).parent != _JSON_PACKAGE:
        return handle_unexpected(error)
    return error_response(
        _with_data(BadRequest(), "the JSON body is nested too deeply", {"json": ["Invalid JSON body."]})
    )


def handle_long_json_number(error: ValueError) -> Response:
    """A JSON number of more than 4,300 digits is refused by Python's integer conversion (a
    ValueError the decoder lets through, where webargs answers 400 only for malformed JSON): it is
    bad input, answered like malformed JSON. A ValueError raised anywhere else, the JSON encoder
    refusing NaN included, is still a bug (500)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames or Path(frames[-1].filename) != _JSON_PACKAGE / "decoder.py":
        return handle_unexpected(error)
    return error_response(
        _with_data(BadRequest(), "the JSON body has a number too long to read", {"json": ["Invalid JSON body."]})
    )


DOMAIN_ERROR_HANDLERS = {
    RecordNotFound: handle_not_found,
    Conflict: handle_conflict,
    Invalid: handle_invalid,
    Unavailable: handle_unavailable,
    # Not domain errors, but registered beside them: see handle_deep_json and handle_long_json_number.
    RecursionError: handle_deep_json,
    ValueError: handle_long_json_number,
}
"""Domain exceptions raised by the services, and the answer each gets."""
