"""The Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import kpi_core
from kpi_core.accounts.auth import Authenticator
from kpi_core.accounts.throttle import LoginThrottle
from kpi_core.accounts.tokens import TokenSigner
from kpi_core.config import Settings
from kpi_core.observability import endpoint as metrics_endpoint
from kpi_core.observability import http as request_metrics
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.web import (
    admin_rq,
    alerts_api,
    api_docs,
    audit_api,
    auth_api,
    calibration_api,
    compression,
    customers_api,
    dashboard_api,
    db,
    disputes_api,
    entity_tags,
    errors,
    evaluations_api,
    feedback_api,
    health,
    import_mappings_api,
    imports_api,
    integration_tokens_api,
    jobs_api,
    jobs_runs_api,
    kpis_api,
    notifications_api,
    outages,
    periods_api,
    permissions_api,
    plugin_routes,
    plugins_api,
    reports_api,
    request_id,
    schedules_api,
    scorecards_api,
    security_headers,
    self_appraisals_api,
    spa,
    subscriptions_api,
    targets_api,
    teams_api,
    technicians_api,
    token_uses,
    unsubscribe_page,
    users_api,
    webhooks_api,
)
from kpi_core.web.access import BEARER_SCHEME
from kpi_core.web.json_provider import StrictJSONProvider
from kpi_core.web.state import AppState, install

API_BLUEPRINTS = (
    auth_api.blp,
    users_api.blp,
    integration_tokens_api.blp,
    teams_api.blp,
    technicians_api.blp,
    customers_api.blp,
    jobs_api.blp,
    feedback_api.blp,
    disputes_api.blp,
    evaluations_api.blp,
    calibration_api.blp,
    self_appraisals_api.blp,
    targets_api.blp,
    periods_api.blp,
    kpis_api.blp,
    scorecards_api.blp,
    imports_api.blp,
    import_mappings_api.blp,
    audit_api.blp,
    plugins_api.blp,
    jobs_runs_api.blp,
    jobs_runs_api.jobs_blp,
    schedules_api.blp,
    reports_api.blp,
    admin_rq.blp,
    dashboard_api.blp,
    notifications_api.blp,
    subscriptions_api.blp,
    webhooks_api.blp,
    permissions_api.blp,
    alerts_api.blp,
)


def create_app(
    settings: Settings | None = None,
    *,
    plugins: PluginHost | None = None,
    database: Database | None = None,
) -> Flask:
    """Build the app. Nothing runs at import time; everything is read here, once."""
    settings = settings or Settings.from_env()
    plugins = plugins or load_plugins(settings)
    database = database or Database(settings.effective_database_url)

    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        JSON_SORT_KEYS=False,
        API_TITLE="Handyman KPI",
        API_VERSION=kpi_core.__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "KPIs for field-service technicians: jobs, feedback, evaluations, "
                "KPI values, scorecards and reports. Errors share one JSON shape (ErrorSchema)."
            }
        },
    )
    install(
        app,
        AppState(
            settings=settings, database=database, plugins=plugins, authenticator=_authenticator(settings, database)
        ),
    )
    request_id.install(app)
    request_metrics.install(app, settings)
    db.install(app)
    token_uses.install(app)
    security_headers.install(app, settings)
    compression.install(app, settings)
    entity_tags.install(app)

    api = errors.KpiApi(app)
    api.spec.components.security_scheme(BEARER_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    plugin_routes.register(api, plugins.routes)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics_endpoint.blueprint)
    app.register_blueprint(api_docs.blueprint)
    app.register_blueprint(unsubscribe_page.blueprint)
    spa.install(app)
    for exception, handler in errors.DOMAIN_ERROR_HANDLERS.items():
        app.register_error_handler(exception, handler)
    outages.install(app)
    app.register_error_handler(Exception, errors.handle_unexpected)

    if settings.proxy_hops:
        # Behind nginx the TCP peer is the proxy: the client's address (login throttling, audit,
        # /metrics access) and scheme come from the headers the trusted proxies set.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    plugins.start(app)
    plugins.raise_if_strict(settings)
    logging.getLogger(__name__).info("app ready: %d plugins, %d problems", len(plugins.plugins), len(plugins.problems))
    return app


def _authenticator(settings: Settings, database: Database) -> Authenticator:
    # Failed-login counts live where every worker and app instance sees them: Redis, else the database.
    return Authenticator(TokenSigner(settings), LoginThrottle.from_settings(settings, database.engine))
