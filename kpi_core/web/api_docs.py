"""The API docs page: Swagger UI 5 (renders OpenAPI 3.1) served from flask-swagger-ui's files, no CDN."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, render_template, send_from_directory, url_for
from flask.typing import ResponseReturnValue

# Own URL prefix: without it the blueprint's /static rule duplicates the app's and is never reached.
blueprint = Blueprint(
    "api_docs", __name__, template_folder="templates", static_folder="static", static_url_path="/api/docs/static"
)
# Only the package's dist/ folder is used: its own blueprint inlines its start-up script, which our
# CSP (no 'unsafe-inline') refuses.
SWAGGER_FILES = Path(flask_swagger_ui.__file__).parent / "dist"


@blueprint.get("/api/docs")
def docs_page() -> ResponseReturnValue:
    return render_template("api_docs.html", spec_url=url_for("api-docs.openapi_json"))


@blueprint.get("/api/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> ResponseReturnValue:
    return send_from_directory(SWAGGER_FILES, filename, max_age=86400)
