"""Serves the dashboard: the single-page app built from frontend/ (no Node at run time).

``npm run build`` in frontend/ writes index.html and content-hashed assets to
``kpi_core/web/frontend_dist/``. The index page answers ``/`` and every
client-side route, and is never cached, so a new build shows at the next load;
the hashed assets are cached for a year, as their names change with their
content. Without a build, ``/`` explains how to make one instead of failing.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, Flask, Request, current_app, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

import kpi_core

DIST_DIR = Path(__file__).parent / "frontend_dist"
CONFIG_KEY = "KPI_SPA_DIR"
"""Flask config key of the build folder (tests point it elsewhere)."""
CLIENT_ROUTES = (
    "login", "dashboard", "technicians", "evaluations", "jobs", "imports", "reports", "notifications", "admin",
    "self-appraisal",
)  # fmt: skip
"""First path segments the app routes in the browser; each serves index.html (deep links, reloads)."""
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_APP_PAGES = ("/api/", "/admin/rq", "/assets/", "/metrics", "/healthz", "/readyz", "/plugins/")
"""Prefixes whose 404s stay in the one JSON error shape: machines read them, not people."""

blueprint = Blueprint("spa", __name__)


def _dist() -> Path:
    return Path(current_app.config.get(CONFIG_KEY, DIST_DIR))


def index(path: str = "") -> ResponseReturnValue:
    """The app's index.html, for / and for every client-side route."""
    dist = _dist()
    if not (dist / "index.html").is_file():
        return render_template("spa_missing.html", version=kpi_core.__version__, dist=dist), 503
    response = send_from_directory(dist, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def is_page_request(request: Request) -> bool:
    """A browser asking for a page of the app (not the API, an asset or a probe)."""
    if request.method not in ("GET", "HEAD") or request.path.startswith(NOT_APP_PAGES):
        return False
    accepted = request.accept_mimetypes
    return accepted.accept_html and accepted["text/html"] >= accepted["application/json"]


def not_found_page() -> ResponseReturnValue:
    """The app's index.html with status 404: the app shows its own not-found page, in its words."""
    response = index()
    if isinstance(response, tuple):  # no build: the explanation page
        return response
    response.status_code = 404
    return response


@blueprint.route("/assets/<path:filename>")
def asset(filename: str) -> ResponseReturnValue:
    """A content-hashed build file: cached for a year, never revalidated."""
    response = send_from_directory(_dist() / "assets", filename)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


@blueprint.route("/favicon.svg")
def favicon() -> ResponseReturnValue:
    try:
        return send_from_directory(_dist(), "favicon.svg", max_age=86400)
    except NotFound:
        return "", 404


blueprint.add_url_rule("/", "index", index)
for _segment in CLIENT_ROUTES:
    blueprint.add_url_rule(f"/{_segment}", f"route_{_segment}", index)
    blueprint.add_url_rule(f"/{_segment}/<path:path>", f"route_{_segment}_deep", index)


def install(app: Flask) -> None:
    """Register the SPA routes. ES modules (the app's and plugins' widgets) need a JavaScript media
    type: with ``X-Content-Type-Options: nosniff`` a browser refuses a module served as anything else."""
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("text/javascript", ".mjs")
    app.register_blueprint(blueprint)
