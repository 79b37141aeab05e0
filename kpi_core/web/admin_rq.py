"""RQ's dashboard (rq-dashboard) at /admin/rq: admins only, and only when KPI_REDIS_URL is set.

The API authenticates with bearer tokens, which a browser does not send when
it opens a page. So an admin's client first calls ``POST
/api/v1/admin/rq-session`` with its token; the answer sets a short-lived
cookie, signed with the app's secret key, that only /admin/rq sees (Path),
only this site sends (SameSite=Strict: rq-dashboard's own actions have no
CSRF protection), scripts cannot read (HttpOnly), and HTTPS carries alone
when the request came over HTTPS (Secure).

The cookie belongs to the login that opened it: it names the login's
refresh-token family, and every request to /admin/rq checks that the family
is still live (not logged out, not revoked for reuse), that the user is still
an active admin, and that their password is the one it was issued under and
their tokens were not revoked since (password change, reset, disable), else
403. Only plain reads (pages, static files, the JSON the pages poll) go
without more: any other request, whatever its method (rq-dashboard requeues
on GET too), must show it comes from this origin (Origin, else Referer, else
``Sec-Fetch-Site: same-origin``), else 403.

rq-dashboard renders with inline scripts and compiles its templates with
underscore's ``_.template`` (``new Function``), which the app's CSP forbids.
Its pages alone get a CSP that allows exactly the inline scripts of the page
served (their SHA-256 hashes) and ``'unsafe-eval'``; everything else stays
as strict as the rest of the app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, redirect, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.accounts.tokens import to_milliseconds
from kpi_core.errors import NotFound
from kpi_core.storage.models import TokenRevocation, User
from kpi_core.storage.types import utcnow
from kpi_core.web.access import current_principal, requires
from kpi_core.web.db import db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.state import EXTENSION_KEY, app_state

PREFIX = "/admin/rq"
COOKIE = "kpi_rq_session"
SALT = "kpi-core.rq-dashboard"
SESSION_MINUTES = 30
DASHBOARD_BLUEPRINT = "rq_dashboard"
NO_REDIS = "The RQ dashboard shows the Redis job queue, and none is configured: set KPI_REDIS_URL to use it."
READ_METHODS = frozenset({"GET", "HEAD"})
# rq-dashboard's endpoints that only read; every other one (requeue, delete, empty, compact, and any
# a later version adds) changes state, whatever its method.
READ_ENDPOINTS = frozenset(
    {"admin_rq_root"}
    | {
        f"{DASHBOARD_BLUEPRINT}.{name}"
        for name in (
            "static", "favicon", "queues_overview", "workers_overview", "jobs_overview", "job_view",
            "list_queues", "list_jobs", "job_info", "list_workers",
        )
    }
)  # fmt: skip
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
        principal = current_principal()
        if not principal.token_family:
            abort(403, message="the dashboard opens from a login: log in and call this with its access token")
        user = db_session().get(User, principal.user_id)
        password = _password_fingerprint(user.password_hash) if user else ""
        expires = utcnow() + timedelta(minutes=SESSION_MINUTES)
        response = jsonify(RqSessionSchema().dump({"url": f"{PREFIX}/", "expires_at": expires}))
        claims = {
            "user": principal.user_id,
            "fam": principal.token_family,
            "iat": to_milliseconds(time.time()),
            "pw": password,
        }
        response.set_cookie(
            COOKIE,
            _serializer().dumps(claims),
            max_age=SESSION_MINUTES * 60,
            path=PREFIX,
            secure=request.is_secure,
            httponly=True,
            samesite="Strict",
        )
        return response


def _password_fingerprint(password_hash: str) -> str:
    """Tells one password hash from another without putting the hash in the (readable) cookie."""
    key = current_app.config["SECRET_KEY"]
    return hmac.new(str(key).encode(), f"{SALT}:{password_hash}".encode(), hashlib.sha256).hexdigest()[:32]


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
    """Every dashboard request: a cookie of a still live login of an active admin, and no cross-site writes."""
    if not _is_dashboard():
        return None
    problem = _cookie_problem()
    if problem is None and _changes_state() and not _same_origin():
        problem = "the request did not show it came from this site (Origin, Referer or Sec-Fetch-Site)"
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
        claims = _serializer().loads(raw, max_age=SESSION_MINUTES * 60)
    except SignatureExpired:
        return "the dashboard session has expired"
    except BadSignature:
        return "the dashboard session is not valid"
    if not isinstance(claims, dict):
        return "the dashboard session is not valid"
    user_id, family, issued_at, password = (claims.get(key) for key in ("user", "fam", "iat", "pw"))
    if not (isinstance(user_id, int) and isinstance(family, str) and isinstance(issued_at, int | float)):
        return "the dashboard session is not valid"
    with app_state().database.session(write=False) as session:
        user = session.get(User, user_id)
        if user is None or user.disabled or user.role != "admin":
            return "the dashboard is for active admins only"
        current = _password_fingerprint(user.password_hash)
        if not isinstance(password, str) or not hmac.compare_digest(password, current):
            return "the dashboard session was revoked (the password changed)"
        # A password change, reset or disable since the cookie was issued revokes it, as it does tokens
        # (to the millisecond, as tokens are compared).
        valid_after = user.tokens_valid_after
        if valid_after is not None and issued_at < to_milliseconds(valid_after.timestamp()):
            return "the dashboard session was revoked"
        if _family_revoked(session, family):
            return "the login that opened the dashboard has ended"
    return None


def _family_revoked(session: Session, family: str) -> bool:
    # The marker kpi_core.accounts.auth writes when a login's family ends (logout, reuse detected).
    marker = f"family:{family}"
    found = session.scalar(
        select(TokenRevocation.id).where(TokenRevocation.family_id == family, TokenRevocation.jti == marker).limit(1)
    )
    return found is not None


def _changes_state() -> bool:
    return request.method not in READ_METHODS or request.endpoint not in READ_ENDPOINTS


def _same_origin() -> bool:
    """The request shows it comes from this origin: SameSite=Strict alone is not relied on."""
    here = f"{request.scheme}://{request.host}".lower()
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    for header in ("Origin", "Referer"):
        value = request.headers.get(header)
        if value:  # an opaque "Origin: null" matches nothing
            parts = urlsplit(value)
            return f"{parts.scheme}://{parts.netloc}".lower() == here
    return fetch_site == "same-origin"


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
