"""GET /api/v1/plugins: what is installed, what each contributes, and what failed to load."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from kpi_core.web.access import requires
from kpi_core.web.state import app_state

blp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins", description="Installed plugins")


class PluginSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    module = fields.String(required=True)
    builtin = fields.Boolean(required=True)
    contributes = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Declared keys by hook, e.g. {'kpi_metrics': ['quality.first_time_fix_rate']}"},
    )


class PluginProblemSchema(Schema):
    name = fields.String(required=True)
    stage = fields.String(
        required=True,
        metadata={"description": "config, import, register, declaration, duplicate or startup"},
    )
    reason = fields.String(required=True)


class PluginListSchema(Schema):
    plugins = fields.List(fields.Nested(PluginSchema), required=True)
    problems = fields.List(fields.Nested(PluginProblemSchema), required=True)


@blp.route("")
class PluginList(MethodView):
    @requires(blp, "plugins.read")
    @blp.response(200, PluginListSchema)
    @blp.doc(operationId="listPlugins", summary="List plugins and their load errors")
    def get(self) -> dict[str, Any]:
        """Every loaded plugin with what it contributes, and every plugin that failed to load, with why."""
        host = app_state().plugins
        return {"plugins": list(host.plugins.values()), "problems": host.problems}
