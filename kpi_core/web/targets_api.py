"""/api/v1/targets: KPI thresholds and weights, for the company and per team.

PUT is an upsert. Where no target is stored yet, PUT creates it and needs
no If-Match (an If-Match then answers 412: the target it was meant for is
gone). Where one is stored, PUT and DELETE need its ETag in If-Match (428
without it, 412 if stale). flask-smorest's ``@blp.etag`` demands If-Match on
every PUT, so these operations check it here instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.exceptions import PreconditionFailed, PreconditionRequired
from marshmallow import Schema, fields, validate

from kpi_core.errors import NotFound
from kpi_core.records import targets, teams
from kpi_core.records.targets import EffectiveTarget
from kpi_core.storage.models import KpiTarget
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import RECORD_ID, BoundedFloat, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("targets", __name__, url_prefix="/api/v1/targets", description="KPI targets and weights")

SOURCES = ("stored", "default")


def _if_match(required: bool) -> dict[str, Any]:
    when = "Required" if required else "Required when a target is stored (its ETag); omit it to create one"
    return {"name": "If-Match", "in": "header", "required": required, "schema": {"type": "string"}, "description": when}


ETAG_HEADER = {"ETag": {"description": "Tag of the stored target, for If-Match", "schema": {"type": "string"}}}


class EffectiveTargetSchema(Schema):
    metric_key = fields.String(required=True)
    team_id = fields.Integer(allow_none=True, metadata={"description": "null: the company target"})
    green = fields.Float(required=True)
    amber = fields.Float(required=True)
    weight = fields.Float(required=True, metadata={"description": "Share in a technician's composite score"})
    source = fields.String(required=True, metadata={"enum": list(SOURCES), "description": "default: the plugin's"})
    etag = fields.String(allow_none=True, metadata={"description": "Send it in If-Match to change it; null: a default"})
    updated_at = fields.DateTime(allow_none=True)


class MetricTargetsSchema(Schema):
    metric_key = fields.String(required=True)
    label = fields.String(required=True)
    unit = fields.String(required=True)
    direction = fields.String(required=True, metadata={"enum": ["higher", "lower"]})
    plugin = fields.String(required=True)
    company = fields.Nested(EffectiveTargetSchema, allow_none=True, metadata={"description": "null: no target"})
    teams = fields.List(fields.Nested(EffectiveTargetSchema), required=True, metadata={"description": "Team overrides"})


class TargetInSchema(StrictSchema):
    green = BoundedFloat(
        -targets.MAX_THRESHOLD,
        targets.MAX_THRESHOLD,
        required=True,
        metadata={"description": "higher-is-better: >= amber; lower: <= amber. Rates (unit ratio): 0 to 1"},
    )
    amber = BoundedFloat(-targets.MAX_THRESHOLD, targets.MAX_THRESHOLD, required=True)
    weight = BoundedFloat(
        0, targets.MAX_WEIGHT, required=True, metadata={"description": "Share in a technician's composite score"}
    )


class TargetQuerySchema(StrictSchema):
    metric = fields.String(validate=validate.Length(max=120), metadata={"description": "Only this metric key"})
    team = fields.Integer(validate=RECORD_ID, metadata={"description": "Only this team's overrides"})


def target_etag(target: KpiTarget | EffectiveTarget) -> str:
    stamp = target.updated_at.isoformat() if target.updated_at else None
    data = [target.metric_key, target.team_id, target.green, target.amber, target.weight, stamp]
    return hashlib.sha1(json.dumps(data).encode(), usedforsecurity=False).hexdigest()


def _view(target: KpiTarget | EffectiveTarget, source: str) -> dict[str, Any]:
    names = ("metric_key", "team_id", "green", "amber", "weight", "updated_at")
    view = {name: getattr(target, name) for name in names}
    # Quoted, as in the ETag header, so a client sends it as it is in If-Match.
    view.update(source=source, etag=f'"{target_etag(target)}"' if source == "stored" else None)
    return view


def _precondition(row: KpiTarget | None) -> None:
    if row is None:
        if request.if_match:
            raise PreconditionFailed
        return
    if not request.if_match:
        raise PreconditionRequired
    if target_etag(row) not in request.if_match:
        raise PreconditionFailed


def _put(metric_key: str, team_id: int | None, body: dict[str, Any]) -> Any:
    session, plugins = db_session(), app_state().plugins
    targets.metric_of(plugins, metric_key)
    if team_id is not None:
        teams.get_team(session, current_scope(), team_id)
    row = targets.stored_target(session, metric_key, team_id, for_update=True)
    _precondition(row)
    stored = targets.put_target(session, plugins, current_actor(), metric_key, team_id, row, body)
    commit()
    view = _view(stored, "stored")
    return view, 201 if row is None else 200, {"ETag": view["etag"]}


def _delete(metric_key: str, team_id: int | None) -> None:
    session = db_session()
    row = targets.stored_target(session, metric_key, team_id, for_update=True)
    if row is None:
        whose = "company" if team_id is None else f"team {team_id}"
        raise NotFound(f"no stored {whose} target for {metric_key!r}")
    _precondition(row)
    targets.delete_target(session, current_actor(), row)
    commit()


@blp.route("")
class Targets(MethodView):
    @requires(blp, "targets.read")
    @blp.etag
    @blp.arguments(TargetQuerySchema, location="query")
    @blp.response(200, MetricTargetsSchema(many=True))
    @blp.doc(operationId="listTargets", summary="List the targets in force")
    def get(self, query: dict[str, Any]) -> Any:
        """For each metric of the loaded plugins, in plugin order: its company target (stored, or the
        plugin's default with ``source: default``) and the teams' overrides."""
        plugins = app_state().plugins
        in_force = targets.effective_targets(db_session(), plugins)
        listed = []
        for key, metric in plugins.metrics.items():
            if query.get("metric", key) != key:
                continue
            company = in_force.get((key, None))
            overrides = sorted(
                (target for (k, team), target in in_force.items() if k == key and team is not None),
                key=lambda target: target.team_id or 0,
            )
            listed.append(
                {
                    "metric_key": key,
                    "label": metric.label,
                    "unit": metric.unit,
                    "direction": metric.direction,
                    "plugin": plugins.owner_of("kpi_metrics", key),
                    "company": company and _view(company, company.source),
                    "teams": [_view(t, t.source) for t in overrides if query.get("team", t.team_id) == t.team_id],
                }
            )
        return listed


@blp.route("/<metric_key>")
class CompanyTarget(MethodView):
    @requires(blp, "targets.manage")
    @blp.arguments(TargetInSchema)
    @blp.response(200, EffectiveTargetSchema, description="Replaced", headers=ETAG_HEADER)
    @blp.alt_response(201, schema=EffectiveTargetSchema, description="Created", headers=ETAG_HEADER)
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale, or the target is gone")
    @blp.alt_response(428, schema=ErrorSchema, description="A target is stored: send its ETag in If-Match")
    @blp.doc(operationId="setCompanyTarget", summary="Set a metric's company target", parameters=[_if_match(False)])
    def put(self, body: dict[str, Any], metric_key: str) -> Any:
        """Store the company's thresholds and weight for a metric (422 naming ``metric_key`` if no loaded
        plugin declares it). Creating needs no If-Match; replacing a stored target does."""
        return _put(metric_key, None, body)

    @requires(blp, "targets.manage")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No stored company target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale")
    @blp.alt_response(428, schema=ErrorSchema, description="Send the target's ETag in If-Match")
    @blp.doc(operationId="deleteCompanyTarget", summary="Remove a stored company target", parameters=[_if_match(True)])
    def delete(self, metric_key: str) -> None:
        """Remove the stored company target; the metric falls back to its plugin's default (If-Match required)."""
        _delete(metric_key, None)


@blp.route("/<metric_key>/teams/<int:team_id>")
class TeamTarget(MethodView):
    @requires(blp, "targets.manage")
    @blp.arguments(TargetInSchema)
    @blp.response(200, EffectiveTargetSchema, description="Replaced", headers=ETAG_HEADER)
    @blp.alt_response(201, schema=EffectiveTargetSchema, description="Created", headers=ETAG_HEADER)
    @blp.alt_response(404, schema=ErrorSchema, description="No such team")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale, or the override is gone")
    @blp.alt_response(428, schema=ErrorSchema, description="An override is stored: send its ETag in If-Match")
    @blp.doc(operationId="setTeamTarget", summary="Set a team's override of a target", parameters=[_if_match(False)])
    def put(self, body: dict[str, Any], metric_key: str, team_id: int) -> Any:
        """Store a team's own thresholds and weight for a metric, overriding the company target.
        Creating needs no If-Match; replacing a stored override does."""
        return _put(metric_key, team_id, body)

    @requires(blp, "targets.manage")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No stored override for this team")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale")
    @blp.alt_response(428, schema=ErrorSchema, description="Send the override's ETag in If-Match")
    @blp.doc(operationId="deleteTeamTarget", summary="Remove a team's override", parameters=[_if_match(True)])
    def delete(self, metric_key: str, team_id: int) -> None:
        """Remove a team's override; the team falls back to the company target (If-Match required)."""
        _delete(metric_key, team_id)
