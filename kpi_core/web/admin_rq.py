"""RQ's dashboard (rq-dashboard) at /admin/rq: admins only, and only when KPI_REDIS_URL is set.

The API authenticates with bearer tokens, which a browser does not send when
it opens a page. So an admin's client first calls ``POST
/api/v1/admin/rq-session`` with its token; the answer sets a short-lived
cookie, signed with the app's secret key, that only /admin/rq sees (Path),
only this site sends (SameSite=Strict: rq-dashboard's own actions have no
CSRF protection), scripts cannot read (HttpOnly), and HTTPS carries alone
when the request came over HTTPS (Secure). Every request to /admin/rq then
checks the cookie *and* that its user is still an active admin whose tokens
were not revoked since (password change, reset, disable), else 403; a
state-changing request from another origin is refused as well.

rq-dashboard renders with inline scripts and compiles its templates with
underscore's ``_.template`` (``new Function``), which the app's CSP forbids.
Its pages alone get a CSP that allows exactly the inline scripts of the page
served (their SHA-256 hashes) and ``'unsafe-eval'``; everything else stays
as strict as the rest of the app.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, redirect, request
from flask.views import MethodView
from flask_smorest import Blueprint
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from marshmallow import Schema, fields

from kpi_core.errors import NotFound
from kpi_core.storage.models import User
from kpi_core.storage.types import utcnow
from kpi_core.web.access import current_principal, requires
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.state import EXTENSION_KEY, app_state

PREFIX = "/admin/rq"
COOKIE = "kpi_rq_session"
SALT = "kpi-core.rq-dashboard"
SESSION_MINUTES = 30
DASHBOARD_BLUEPRINT = "rq_dashboard"
NO_REDIS = "The RQ dashboard shows the Redis job queue, and none is configured: set KPI_REDIS_URL to use it."
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_INLINE_SCRIPT = re.compile(rb"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-eval' {hashes}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

blp = Blueprint("admin_rq", __name__, url_prefix="/api/v1/admin", description="The job queue's RQ dashboard")


class RqSessionSchema(Schema):
    url = fields.String(required=True, metadata={"description": "Open this page in the browser"})
    expires_at = fields.DateTime(required=True, metadata={"description": "When the dashboard cookie expires"})


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


@blp.route("/rq-session")
class RqSession(MethodView):
    @requires(blp, "job_runs.dashboard")
    @blp.response(200, RqSessionSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No Redis is configured, so there is no dashboard")
    @blp.doc(operationId="openRqDashboard", summary="Open the RQ dashboard (sets its cookie)")
    def post(self) -> Any:
        """Set the short-lived cookie that lets this browser open /admin/rq/ (admins, with Redis only)."""
        if not app_state().settings.redis_url:
            raise NotFound(NO_REDIS)
        expires = utcnow() + timedelta(minutes=SESSION_MINUTES)
        response = jsonify(RqSessionSchema().dump({"url": f"{PREFIX}/", "expires_at": expires}))
        response.set_cookie(
            COOKIE,
            _serializer().dumps({"user": current_principal().user_id}),
            max_age=SESSION_MINUTES * 60,
            path=PREFIX,
            secure=request.is_secure,
            httponly=True,
            samesite="Strict",
        )
        return response


@blp.record_once
def _mount(setup: Any) -> None:
    install(setup.app)


def install(app: Flask) -> None:
    """Mount rq-dashboard at /admin/rq behind the cookie check, or a clear 404 without Redis."""
    settings = app.extensions[EXTENSION_KEY].settings
    if not settings.redis_url:
        app.add_url_rule(PREFIX, "admin_rq_off", _no_redis, methods=["GET", "POST"])
        app.add_url_rule(f"{PREFIX}/", "admin_rq_off_root", _no_redis, methods=["GET", "POST"])
        app.add_url_rule(f"{PREFIX}/<path:rest>", "admin_rq_off_deep", _no_redis, methods=["GET", "POST"])
        return
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    # Without it the SPA's /admin/<path> route would answer /admin/rq.
    app.add_url_rule(PREFIX, "admin_rq_root", lambda: redirect(f"{PREFIX}/"))
    app.before_request(_guard)
    app.after_request(_dashboard_headers)


def _no_redis(rest: str = "") -> Response:
    response = jsonify({"code": 404, "status": "Not Found", "message": NO_REDIS, "request_id": g.get("request_id")})
    response.status_code = 404
    return response


def _is_dashboard() -> bool:
    return request.blueprint == DASHBOARD_BLUEPRINT or request.endpoint == "admin_rq_root"


def _guard() -> Response | None:
    """Every dashboard request: a valid cookie of a still active admin, and no cross-site writes."""
    if not _is_dashboard():
        return None
    problem = _cookie_problem()
    if problem is None and request.method in UNSAFE_METHODS and not _same_origin():
        problem = "the request came from another site"
    if problem is None:
        return None
    response = jsonify(
        {
            "code": 403,
            "status": "Forbidden",
            "message": f"{problem}: open the dashboard through POST /api/v1/admin/rq-session as an admin",
            "request_id": g.get("request_id"),
        }
    )
    response.status_code = 403
    return response


def _cookie_problem() -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return "no dashboard session"
    try:
        claims, signed_at = _serializer().loads(raw, max_age=SESSION_MINUTES * 60, return_timestamp=True)
    except SignatureExpired:
        return "the dashboard session has expired"
    except BadSignature:
        return "the dashboard session is not valid"
    user_id = claims.get("user") if isinstance(claims, dict) else None
    with app_state().database.session(write=False) as session:
        user = session.get(User, user_id) if isinstance(user_id, int) else None
        if user is None or user.disabled or user.role != "admin":
            return "the dashboard is for active admins only"
        # A password change, reset or disable since the cookie was issued revokes it, as it does tokens.
        if user.tokens_valid_after is not None and signed_at < user.tokens_valid_after.replace(microsecond=0):
            return "the dashboard session was revoked"
    return None


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # SameSite=Strict already keeps the cookie off cross-site requests
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def _dashboard_headers(response: Response) -> Response:
    """A CSP that admits this page's own inline scripts (by hash) and underscore's templates; no caching."""
    if not _is_dashboard():
        return response
    response.headers["Cache-Control"] = "no-store"
    hashes = ""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        found = _INLINE_SCRIPT.findall(response.get_data())
        hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in found)
    response.headers["Content-Security-Policy"] = _CSP.format(hashes=hashes).replace("  ", " ").replace(" ;", ";")
    return response
