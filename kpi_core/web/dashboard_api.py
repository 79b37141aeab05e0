"""/api/v1/dashboard: the widgets every plugin declares and the user's layout of them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.dashboards import layout as dashboards
from kpi_core.declarations import WIDGET_SIZES, WIDGET_TYPES
from kpi_core.web.access import current_principal, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("dashboard", __name__, url_prefix="/api/v1/dashboard", description="The dashboard and its layout")


class WidgetSpecSchema(Schema):
    key = fields.String(required=True)
    title = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(WIDGET_TYPES)})
    metrics = fields.List(fields.String(), required=True, metadata={"description": "KPI keys it shows"})
    size = fields.String(required=True, metadata={"enum": list(WIDGET_SIZES), "description": "Default size"})
    module_url = fields.String(
        required=True, allow_none=True, metadata={"description": "custom: the ES module that defines the element"}
    )
    element = fields.String(required=True, allow_none=True, metadata={"description": "custom: the element's tag"})
    options = fields.Dict(required=True, metadata={"description": "Widget-specific options"})
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})


class LayoutItemSchema(StrictSchema):
    widget = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Key"})
    size = fields.String(
        validate=validate.OneOf(WIDGET_SIZES), metadata={"description": "Size on this dashboard (default: declared)"}
    )


class CompanySchema(Schema):
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code of money amounts (KPI_CURRENCY)"})
    timezone = fields.String(
        required=True, metadata={"description": "IANA time zone that times are shown in (KPI_TIMEZONE)"}
    )


class DashboardSchema(Schema):
    company = fields.Nested(
        CompanySchema, required=True, metadata={"description": "How money and times are shown: the company's"}
    )
    widgets = fields.List(fields.Nested(WidgetSpecSchema), required=True, metadata={"description": "The catalogue"})
    layout = fields.List(fields.Nested(LayoutItemSchema), required=True, metadata={"description": "Shown, in order"})
    customized = fields.Boolean(required=True, metadata={"description": "False: the default layout applies"})


class LayoutInSchema(StrictSchema):
    layout = fields.List(
        fields.Nested(LayoutItemSchema),
        required=True,
        validate=validate.Length(max=dashboards.MAX_ITEMS),
        metadata={"description": "The widgets to show, in order; each key once"},
    )


def _current() -> dict[str, Any]:
    state = app_state()
    dashboard = dashboards.get_dashboard(db_session(), state.plugins, current_principal().user_id)
    return {**asdict(dashboard), "company": company_settings()}


def company_settings() -> dict[str, str]:
    """The company's currency and time zone, which every page formats money and times with."""
    settings = app_state().settings
    return {"currency": settings.currency, "timezone": settings.timezone}


@blp.route("")
class DashboardView(MethodView):
    @requires(blp, "dashboard.use")
    @blp.etag
    @blp.response(200, DashboardSchema)
    @blp.doc(operationId="getDashboard", summary="Read the widget catalogue and one's layout")
    def get(self) -> Any:
        """Every widget the installed plugins declare (with the plugin's name), the layout the
        current user saved, or the default one, and the company's currency and time zone that
        every page writes money and times in. The ETag is needed to change the layout."""
        return _current()


@blp.route("/layout")
class LayoutView(MethodView):
    @requires(blp, "dashboard.use")
    @blp.etag
    @blp.arguments(LayoutInSchema)
    @blp.response(200, DashboardSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="Unknown or repeated widget, named as layout[i].widget")
    @blp.doc(operationId="saveDashboardLayout", summary="Save one's dashboard layout")
    def put(self, body: dict[str, Any]) -> Any:
        """Replace the current user's layout: which widgets, in which order, at which size.
        Send the ETag from GET /api/v1/dashboard in If-Match (428 without it, 412 if stale)."""
        blp.check_etag(_current(), DashboardSchema)
        state = app_state()
        dashboard = dashboards.save_layout(db_session(), state.plugins, current_principal().user_id, body["layout"])
        commit()
        return {**asdict(dashboard), "company": company_settings()}

    @requires(blp, "dashboard.use")
    @blp.etag
    @blp.response(200, DashboardSchema)
    @blp.doc(operationId="resetDashboardLayout", summary="Go back to the default layout")
    def delete(self) -> Any:
        """Forget the current user's layout; the default applies again (If-Match required)."""
        blp.check_etag(_current(), DashboardSchema)
        dashboard = dashboards.reset_layout(db_session(), app_state().plugins, current_principal().user_id)
        commit()
        return {**asdict(dashboard), "company": company_settings()}
