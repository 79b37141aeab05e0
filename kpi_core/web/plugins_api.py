"""/api/v1/plugins: what is installed, what each contributes, what failed to load, and plugin settings."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from kpi_core.declarations import SETTING_TYPES
from kpi_core.records import plugin_settings
from kpi_core.records.plugin_settings import SettingValue
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins", description="Installed plugins")


class PluginSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    module = fields.String(required=True)
    requires = fields.String(
        allow_none=True, metadata={"description": "The kpi-core versions the plugin supports (its Requires-Dist)"}
    )
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
        metadata={
            "description": "config, compatibility, import, register, declaration, duplicate, migrations or startup"
        },
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


class PluginSettingSchema(Schema):
    key = fields.String(required=True, metadata={"description": "Namespaced key, e.g. quality.callback_window_days"})
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})
    label = fields.String(required=True)
    description = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(SETTING_TYPES)})
    unit = fields.String(required=True)
    minimum = fields.Float(allow_none=True, required=True)
    maximum = fields.Float(allow_none=True, required=True)
    choices = fields.List(fields.String(), required=True)
    default = fields.Raw(required=True, metadata={"description": "The plugin's default"})
    value = fields.Raw(required=True, metadata={"description": "The value in force"})
    source = fields.String(required=True, metadata={"enum": ["stored", "default"]})
    updated_at = fields.DateTime(allow_none=True, required=True)
    problem = fields.String(
        allow_none=True, required=True, metadata={"description": "Why a stored value is ignored, if it is"}
    )


class SettingChangeSchema(StrictSchema):
    value = fields.Raw(
        required=True,
        allow_none=False,
        metadata={"description": "A value of the setting's type within its bounds or choices"},
    )


def _setting_row(item: SettingValue) -> dict[str, Any]:
    setting = item.setting
    return {
        "key": setting.key,
        "plugin": item.plugin,
        "label": setting.label,
        "description": setting.description,
        "type": setting.type,
        "unit": setting.unit,
        "minimum": setting.minimum,
        "maximum": setting.maximum,
        "choices": list(setting.choices),
        "default": setting.default,
        "value": item.value,
        "source": item.source,
        "updated_at": item.updated_at,
        "problem": item.problem,
    }


@blp.route("/settings")
class PluginSettings(MethodView):
    @requires(blp, "plugins.read")
    @blp.response(200, PluginSettingSchema(many=True))
    @blp.doc(operationId="listPluginSettings", summary="List plugin settings")
    def get(self) -> list[dict[str, Any]]:
        """Every setting the loaded plugins declare, with its default and the value in force."""
        values = plugin_settings.setting_values(db_session(), app_state().plugins)
        return [_setting_row(item) for item in values.values()]


@blp.route("/settings/<string:key>")
class PluginSettingItem(MethodView):
    @requires(blp, "plugins.read")
    @blp.response(200, PluginSettingSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No loaded plugin declares this setting")
    @blp.doc(operationId="getPluginSetting", summary="Read a plugin setting")
    def get(self, key: str) -> dict[str, Any]:
        """One setting with its default and the value in force."""
        return _setting_row(plugin_settings.get_setting(db_session(), app_state().plugins, key))

    @requires(blp, "plugins.configure")
    @blp.arguments(SettingChangeSchema)
    @blp.response(200, PluginSettingSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No loaded plugin declares this setting")
    @blp.doc(operationId="putPluginSetting", summary="Change a plugin setting")
    def put(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        """Set the value; 422 naming ``value`` when it does not suit the setting. Audited; cached KPI
        results computed with the old value are no longer served."""
        item = plugin_settings.put_setting(db_session(), app_state().plugins, current_actor(), key, data["value"])
        commit()
        return _setting_row(item)

    @requires(blp, "plugins.configure")
    @blp.response(200, PluginSettingSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No loaded plugin declares this setting")
    @blp.doc(operationId="resetPluginSetting", summary="Reset a plugin setting to its default")
    def delete(self, key: str) -> dict[str, Any]:
        """Forget the stored value so the plugin's default applies again. Audited."""
        item = plugin_settings.reset_setting(db_session(), app_state().plugins, current_actor(), key)
        commit()
        return _setting_row(item)
