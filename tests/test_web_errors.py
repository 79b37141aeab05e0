"""One JSON error shape for every error status, and a request id on every answer."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask, abort, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest import abort as api_abort
from marshmallow import Schema, fields, validate
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized, default_exceptions

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app

MAX_BODY = 1024
ERROR_KEYS = {"code", "status", "message", "request_id"}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


class RatingSchema(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))


def add_test_routes(app: Flask) -> None:
    """Throwaway routes that fail on purpose; registered before the first request."""

    @app.post("/test/echo")
    def echo():
        return {"size": len(request.get_data())}

    @app.get("/test/crash")
    def crash():
        raise RuntimeError("connection to db.internal:5432 failed for password hunter2")

    @app.get("/test/abort/<int:code>")
    def abort_with(code: int):
        abort(code)

    @app.get("/test/field-errors")
    def field_errors():
        api_abort(422, message="Rating is out of range.", errors={"json": {"rating": ["Must be between 1 and 5."]}})

    @app.get("/test/unauthorized")
    def unauthorized():
        raise Unauthorized(www_authenticate=WWWAuthenticate("bearer", {"realm": "kpi"}))

    blp = Blueprint("test_ratings", __name__, url_prefix="/test/ratings")

    @blp.route("")
    class Ratings(MethodView):
        @blp.arguments(RatingSchema)
        @blp.response(201, RatingSchema)
        def post(self, payload):
            return payload

    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    api.register_blueprint(blp)


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str) -> Flask:
    """An app on SQLite with a small body limit and the throwaway routes; none of them needs the schema."""
    settings = Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=sqlite_url, secret_key=TEST_SECRET, max_content_length=MAX_BODY
    )
    app = create_app(settings, database=Database(sqlite_url), plugins=load_plugins(settings))
    add_test_routes(app)
    return app


def assert_error_shape(response, code: int) -> dict:
    assert response.status_code == code
    assert response.mimetype == "application/json"
    body = response.json
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.mark.parametrize("path", ["/no-such-page", "/api/v1/no-such-resource"])
def test_unknown_route_answers_404_in_the_error_shape(client, path):
    body = assert_error_shape(client.get(path), 404)

    assert body["status"] == "Not Found"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/plugins"])
def test_wrong_method_answers_405_in_the_error_shape(client, path):
    body = assert_error_shape(client.delete(path), 405)

    assert body["status"] == "Method Not Allowed"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/plugins"])
def test_wrong_method_keeps_the_allow_header(client, path):
    allowed = {method.strip() for method in client.delete(path).headers["Allow"].split(",")}

    assert "GET" in allowed
    assert "DELETE" not in allowed


def test_body_over_the_limit_answers_413_in_the_error_shape(client):
    response = client.post("/test/echo", data=b"x" * (MAX_BODY + 1), content_type="application/octet-stream")

    assert_error_shape(response, 413)


def test_body_within_the_limit_is_accepted(client):
    response = client.post("/test/echo", data=b"x" * MAX_BODY, content_type="application/octet-stream")

    assert response.status_code == 200
    assert response.json == {"size": MAX_BODY}


def test_unexpected_exception_answers_500_in_the_error_shape(client):
    body = assert_error_shape(client.get("/test/crash"), 500)

    assert body["status"] == "Internal Server Error"


def test_unexpected_exception_does_not_leak_its_text(client):
    text = client.get("/test/crash").get_data(as_text=True)

    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "db.internal" not in text


def test_unexpected_exception_is_logged_with_its_request_id(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/test/crash", headers={"X-Request-ID": "crash-report-0001"})

    assert response.status_code == 500
    logged = [record for record in caplog.records if record.exc_info]
    assert logged, "the 500 was not logged with its traceback"
    assert "crash-report-0001" in logged[-1].getMessage()
    assert isinstance(logged[-1].exc_info[1], RuntimeError)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410, 412, 415, 422, 428, 429, 503])
def test_every_error_status_raised_by_a_view_uses_the_error_shape(client, code):
    assert_error_shape(client.get(f"/test/abort/{code}"), code)


def test_field_level_messages_are_kept_under_errors(client):
    body = assert_error_shape(client.get("/test/field-errors"), 422)

    assert body["message"] == "Rating is out of range."
    assert body["errors"] == {"json": {"rating": ["Must be between 1 and 5."]}}


def test_invalid_api_input_answers_422_naming_the_field(client):
    body = assert_error_shape(client.post("/test/ratings", json={"rating": 9}), 422)

    assert list(body["errors"]) == ["json"]
    assert list(body["errors"]["json"]) == ["rating"]


def test_valid_api_input_passes_the_same_route(client):
    response = client.post("/test/ratings", json={"rating": 4})

    assert response.status_code == 201
    assert response.json == {"rating": 4}


def test_unauthorized_keeps_the_www_authenticate_header(client):
    response = client.get("/test/unauthorized")

    assert_error_shape(response, 401)
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_a_sane_incoming_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c2e.0001"})

    assert response.headers["X-Request-ID"] == "lb-7f3a9c2e.0001"


@pytest.mark.parametrize(
    "hostile",
    ["<script>alert(1)</script>", "short", "x" * 65, "id with spaces 1234", "ab\u00e9cdefgh12", "../../etc/passwd"],
)
def test_a_hostile_incoming_request_id_is_replaced(client, hostile):
    response = client.get("/healthz", headers={"X-Request-ID": hostile})

    assert GENERATED_ID.match(response.headers["X-Request-ID"])


def test_a_request_without_an_id_is_given_one(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert GENERATED_ID.match(first)
    assert first != second


def test_an_error_answer_carries_the_incoming_request_id(client):
    body = assert_error_shape(client.get("/no-such-page", headers={"X-Request-ID": "support-ticket-42"}), 404)

    assert body["request_id"] == "support-ticket-42"


def test_invalid_api_input_says_in_words_what_to_do_and_keeps_the_field_messages(client):
    body = client.post("/test/ratings", json={"rating": 9}).json

    assert body["message"] == "Some of the values are not valid: see the fields named below."
    assert body["errors"]["json"]["rating"] == ["Must be greater than or equal to 1 and less than or equal to 5."]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 428, 429, 503])
def test_no_error_answers_with_werkzeugs_stock_text(client, code):
    body = client.get(f"/test/abort/{code}").json if code != 405 else client.delete("/healthz").json

    assert body["message"] != default_exceptions[code].description
    assert "well-formed" not in body["message"] and "the server" not in body["message"].lower()


def test_a_json_body_that_cannot_be_read_says_so_in_words(client):
    body = client.post("/test/ratings", data="{not json", content_type="application/json").json

    assert body["code"] == 400
    assert body["message"] == "The request could not be read. Check what was sent and try again."
