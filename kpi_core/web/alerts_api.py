"""/api/v1/alerts and /api/v1/alert-rules: alerts raised about technicians' KPIs, and the rules that raise them.

Alerts follow the technician they are about: managers list their teams'
technicians' alerts, admins all (``alerts.read``). Each names the page of the
jobs behind it (``jobs_path``). Rules are set by admins (``alerts.manage``); a
plugin's rules (``source`` names the plugin) may be changed or turned off, not
removed. See docs/notifications.md, "Alerts".
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from kpi_core.notify import alert_rules, alerts
from kpi_core.storage.models import ALERT_DIRECTIONS, ALERT_KINDS, ALERT_PERIODS, Alert, AlertRule, Technician
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("alerts", __name__, url_prefix="/api/v1", description="Alerts about KPIs and their rules")

KIND_DOC = "; ".join(f"{kind}: {words}" for kind, words in alert_rules.KIND_WORDS.items())
THRESHOLD_DOC = "changed: by more than this, in the KPI's own unit (a fraction for rates: 0.1 is 10 points)"


class AlertSchema(Schema):
    id = fields.Integer(required=True)
    rule_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(ALERT_KINDS), "description": KIND_DOC})
    kpi = fields.String(required=True, allow_none=True)
    technician_id = fields.Integer(required=True)
    technician = fields.Method("_technician", required=True, metadata={"type": "string"})
    period = fields.String(required=True, allow_none=True, metadata={"enum": [*ALERT_PERIODS, None]})
    period_start = fields.Date(required=True, allow_none=True)
    period_end = fields.Date(required=True, allow_none=True, metadata={"description": "Exclusive"})
    value = fields.Float(required=True, allow_none=True)
    previous_value = fields.Float(required=True, allow_none=True)
    summary = fields.String(required=True, metadata={"description": "The alert in one sentence"})
    jobs_path = fields.Method(
        "_jobs_path", required=True, metadata={"type": "string", "description": "The dashboard's page of the jobs"}
    )
    raised_at = fields.DateTime(required=True)

    def _technician(self, alert: Alert) -> str:
        return db_session().scalar(select(Technician.name).where(Technician.id == alert.technician_id)) or ""

    def _jobs_path(self, alert: Alert) -> str:
        return alerts.jobs_path(alert)


class AlertQuerySchema(StrictSchema):
    technician = fields.Integer(validate=RECORD_ID, metadata={"description": "Only theirs"})


class AlertRuleSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(ALERT_KINDS), "description": KIND_DOC})
    kpi = fields.String(required=True, allow_none=True)
    period = fields.String(required=True, allow_none=True, metadata={"enum": [*ALERT_PERIODS, None]})
    periods = fields.Integer(required=True, allow_none=True, metadata={"description": "clearly_red: periods in a row"})
    threshold = fields.Float(required=True, allow_none=True, metadata={"description": THRESHOLD_DOC})
    direction = fields.String(required=True, allow_none=True, metadata={"enum": [*ALERT_DIRECTIONS, None]})
    enabled = fields.Boolean(required=True)
    description = fields.Method("_description", required=True, metadata={"type": "string"})
    source = fields.Method(
        "_source", required=True, metadata={"type": "string", "description": "admin, or the plugin that ships it"}
    )
    created_at = fields.DateTime(required=True)

    def _description(self, rule: AlertRule) -> str:
        state = app_state()
        return alert_rules.describe(rule, state.plugins, state.settings.currency)

    def _source(self, rule: AlertRule) -> str:
        plugins = app_state().plugins
        if rule.declared_key is None:
            return "admin"
        if rule.declared_key in plugins.alert_rules:
            return plugins.owner_of("kpi_alert_rules", rule.declared_key)
        return "a plugin no longer installed"


class AlertRuleInSchema(StrictSchema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(ALERT_KINDS, error="Choose what the alert is about"),
        error_messages={"required": "Choose what the alert is about"},
        metadata={"description": KIND_DOC},
    )
    kpi = fields.String(
        allow_none=True, validate=validate.Length(min=1, max=120), metadata={"description": "The KPI watched"}
    )
    period = fields.String(validate=validate.OneOf(ALERT_PERIODS, error="Choose weeks or months"))
    periods = fields.Integer(
        validate=validate.Range(min=1, max=24, error="Enter how many periods in a row, from 1 to 24"),
        metadata={"description": "clearly_red: how many complete periods in a row (default 2)"},
    )
    threshold = fields.Float(
        validate=validate.Range(min=0, min_inclusive=False, max=1e12, error="Enter a change of more than 0"),
        metadata={"description": THRESHOLD_DOC},
    )
    direction = fields.String(
        validate=validate.OneOf(ALERT_DIRECTIONS, error="Choose worse, or either way"),
        metadata={"description": "changed: only a change for the worse (default), or either way"},
    )
    enabled = fields.Boolean()


class AlertRulePatchSchema(AlertRuleInSchema):
    kind = fields.String(
        validate=validate.OneOf(ALERT_KINDS, error="Choose what the alert is about"), metadata={"description": KIND_DOC}
    )


@blp.route("/alerts")
class Alerts(MethodView):
    @requires(blp, "alerts.read")
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, AlertSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listAlerts", summary="Alerts raised about technicians' KPIs")
    def get(self, query: dict[str, Any]) -> Any:
        """Newest first: the alerts about the technicians the caller may see, each with the page of the jobs
        behind it."""
        statement = select(Alert).where(current_scope().technicians(Alert.technician_id))
        if "technician" in query:
            statement = statement.where(Alert.technician_id == query["technician"])
        return statement.order_by(Alert.raised_at.desc(), Alert.id.desc())


def _rule(rule_id: int) -> AlertRule:
    return alert_rules.get_rule(db_session(), rule_id)


@blp.route("/alert-rules")
class AlertRules(MethodView):
    @requires(blp, "alerts.read")
    @blp.response(200, AlertRuleSchema(many=True))
    @blp.doc(operationId="listAlertRules", summary="The rules that raise alerts")
    def get(self) -> Any:
        """Every rule, an admin's or a plugin's (stored the first time it is seen), with its words."""
        session = db_session()
        if alert_rules.ensure_declared(session, app_state().plugins):
            commit()
        return alert_rules.list_rules(session)

    @requires(blp, "alerts.manage")
    @blp.arguments(AlertRuleInSchema)
    @blp.response(201, AlertRuleSchema)
    @blp.doc(operationId="createAlertRule", summary="Add a rule")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a rule; the next evaluation (after an import, or on the hour) applies it. Audited."""
        rule = alert_rules.create_rule(db_session(), app_state().plugins, current_actor(), body)
        commit()
        return rule


@blp.route("/alert-rules/<int:rule_id>")
class AlertRuleItem(MethodView):
    @requires(blp, "alerts.manage")
    @blp.arguments(AlertRulePatchSchema)
    @blp.response(200, AlertRuleSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such rule")
    @blp.doc(operationId="updateAlertRule", summary="Change or turn off a rule")
    def patch(self, body: dict[str, Any], rule_id: int) -> Any:
        """Change the given fields; the rule is checked whole. Alerts already raised stay. Audited."""
        rule = alert_rules.update_rule(db_session(), app_state().plugins, current_actor(), _rule(rule_id), body)
        commit()
        return rule

    @requires(blp, "alerts.manage")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such rule")
    @blp.alt_response(422, schema=ErrorSchema, description="A plugin's rule: turn it off instead")
    @blp.doc(operationId="deleteAlertRule", summary="Remove a rule and its alerts")
    def delete(self, rule_id: int) -> None:
        """Remove an admin's rule with the alerts it raised. A plugin's rule is turned off instead. Audited."""
        alert_rules.delete_rule(db_session(), current_actor(), _rule(rule_id))
        commit()
