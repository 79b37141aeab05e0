"""A request id on every request: taken from X-Request-ID when sane, else made up.

The id is echoed in the response, put in every error body, bound to the
log context (so each log record of the request carries it) and handed to the
jobs the request enqueues.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from kpi_core.logs import REQUEST_ID

HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def install(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        REQUEST_ID.set(g.request_id)

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers[HEADER] = g.get("request_id", "")
        return response

    @app.teardown_request
    def unbind_request_id(_exc: BaseException | None) -> None:
        # Server threads are reused: the next request on this thread must not inherit this id.
        REQUEST_ID.set(None)
