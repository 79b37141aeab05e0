"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from kpi_core.errors import DatabaseUnavailable
from kpi_core.storage.migrate import schema_state
from kpi_core.web.state import app_state

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive and answering; says nothing about its dependencies."""
    return jsonify(status="ok")


def _database_checks() -> dict[str, dict[str, Any]]:
    engine = app_state().database.engine
    try:
        state = schema_state(engine)
    except DatabaseUnavailable as exc:
        return {
            "database": {"ok": False, "detail": str(exc)},
            "schema": {"ok": False, "detail": "unknown: the database is unreachable"},
        }
    return {
        "database": {"ok": True, "detail": engine.dialect.name},
        "schema": {
            "ok": state.is_current,
            "detail": state.describe(),
            "current": sorted(state.current),
            "expected": sorted(state.heads),
        },
    }


def _plugin_check() -> dict[str, Any]:
    plugins = app_state().plugins
    problems = [str(problem) for problem in plugins.problems]
    detail = f"{len(plugins.plugins)} loaded" + (f", {len(problems)} not loaded" if problems else "")
    # A broken optional plugin is reported but does not make the instance unready:
    # the rest of the product works (KPI_STRICT_PLUGINS refuses to start instead).
    return {"ok": True, "detail": detail, "problems": problems}


def _redis_check() -> dict[str, Any]:
    url = app_state().settings.redis_url
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, ValueError) as exc:
        return {"ok": False, "detail": f"cannot reach Redis: {exc}"}
    return {"ok": True, "detail": "reachable"}


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to serve: database reachable, schema current, plugins loaded, Redis if configured."""
    checks = _database_checks()
    checks["plugins"] = _plugin_check()
    if app_state().settings.redis_url:
        checks["redis"] = _redis_check()
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
