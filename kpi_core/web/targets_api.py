"""/api/v1/targets: KPI thresholds and weights, for the company and per team, in versions.

A change never rewrites a target: PUT adds a version valid from ``valid_from``
(default: today in the company time zone), DELETE a version that removes the
stored target from that day, and a revert a version equal to an older one.
Each period is judged against the version in force on its first day.

Where no version is stored yet (or the last one removed the target), PUT needs
no If-Match (an If-Match then answers 412 unless it names that removal).
Where a target is stored, PUT, DELETE and a revert need the ETag of the
version stored last in If-Match (428 without it, 412 if stale).
flask-smorest's ``@blp.etag`` demands If-Match on every PUT, so these
operations check it here instead.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.exceptions import PreconditionFailed, PreconditionRequired
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from kpi_core.errors import NotFound
from kpi_core.records import targets, teams
from kpi_core.records.targets import EffectiveTarget
from kpi_core.storage.models import KpiTarget, User
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import RECORD_ID, BoundedFloat, CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("targets", __name__, url_prefix="/api/v1/targets", description="KPI targets and weights")

SOURCES = ("stored", "default")
FROM_HELP = (
    "First local day (company time zone) the version is in force; default today. Each period is judged "
    "against the version in force on its first day"
)


def _if_match(required: bool) -> dict[str, Any]:
    when = "Required" if required else "Required when a target is stored (its ETag); omit it to create one"
    return {"name": "If-Match", "in": "header", "required": required, "schema": {"type": "string"}, "description": when}


ETAG_HEADER = {"ETag": {"description": "Tag of the version stored last, for If-Match", "schema": {"type": "string"}}}


class EffectiveTargetSchema(Schema):
    metric_key = fields.String(required=True)
    team_id = fields.Integer(allow_none=True, metadata={"description": "null: the company target"})
    green = fields.Float(required=True)
    amber = fields.Float(required=True)
    weight = fields.Float(required=True, metadata={"description": "Share in a technician's composite score"})
    source = fields.String(required=True, metadata={"enum": list(SOURCES), "description": "default: the plugin's"})
    etag = fields.String(
        allow_none=True,
        metadata={"description": "Of the version stored last; send it in If-Match to change it. null: none stored"},
    )
    updated_at = fields.DateTime(allow_none=True, metadata={"description": "When this version was stored"})
    valid_from = CalendarDate(
        allow_none=True, metadata={"description": "First day this version is in force; null: from the beginning"}
    )
    version_id = fields.Integer(allow_none=True, metadata={"description": "The stored version; null: a default"})


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
    valid_from = CalendarDate(metadata={"description": FROM_HELP})


class ValidFromSchema(StrictSchema):
    valid_from = CalendarDate(metadata={"description": FROM_HELP})


class TargetQuerySchema(StrictSchema):
    metric = fields.String(validate=validate.Length(max=120), metadata={"description": "Only this metric key"})
    team = fields.Integer(validate=RECORD_ID, metadata={"description": "Only this team's overrides"})
    on = CalendarDate(metadata={"description": "The targets in force on this local day (default today)"})


class HistoryQuerySchema(StrictSchema):
    team = fields.Integer(
        validate=RECORD_ID,
        metadata={"description": "Only this team's versions (default: the company's and every team's)"},
    )


class TargetVersionSchema(Schema):
    id = fields.Integer(required=True)
    metric_key = fields.String(required=True)
    team_id = fields.Integer(allow_none=True, metadata={"description": "null: the company target"})
    valid_from = CalendarDate(allow_none=True, metadata={"description": "null: from the beginning"})
    green = fields.Float(allow_none=True, metadata={"description": "null for a removal"})
    amber = fields.Float(allow_none=True)
    weight = fields.Float(allow_none=True)
    removed = fields.Boolean(
        required=True, metadata={"description": "This version removed the stored target from its day (fall back)"}
    )
    reverts_id = fields.Integer(allow_none=True, metadata={"description": "The older version this one copied"})
    created_at = fields.DateTime(allow_none=True, metadata={"description": "When it was stored"})
    created_by = fields.String(allow_none=True, metadata={"description": "Who stored it (null: the system)"})
    in_force = fields.Boolean(required=True, metadata={"description": "In force today for its company or team"})
    replaced = fields.Boolean(
        required=True, metadata={"description": "A version stored later from the same day took its place"}
    )


def target_etag(metric_key: str, team_id: int | None, head: Any) -> str:
    """The tag of (metric, team)'s history: of the version stored last (versions are never rewritten)."""
    data = [metric_key, team_id, head.id]
    return hashlib.sha1(json.dumps(data).encode(), usedforsecurity=False).hexdigest()


def _today() -> date:
    state = app_state()
    return targets.today_in(state.settings.zone, state.clock())


def _view(target: EffectiveTarget, book: targets.TargetBook) -> dict[str, Any]:
    names = ("metric_key", "team_id", "green", "amber", "weight", "source", "updated_at", "valid_from", "version_id")
    view = {name: getattr(target, name) for name in names}
    head = book.head(target.metric_key, target.team_id)
    # Quoted, as in the ETag header, so a client sends it as it is in If-Match.
    view["etag"] = f'"{target_etag(target.metric_key, target.team_id, head)}"' if head is not None else None
    return view


def _row_view(row: KpiTarget) -> dict[str, Any]:
    assert row.green is not None and row.amber is not None and row.weight is not None
    target = EffectiveTarget(
        row.metric_key, row.team_id, row.green, row.amber, row.weight, "stored", row.created_at, row.valid_from, row.id
    )
    view = {name: getattr(target, name) for name in ("metric_key", "team_id", "green", "amber", "weight", "source")}
    view.update(updated_at=row.created_at, valid_from=row.valid_from, version_id=row.id)
    view["etag"] = f'"{target_etag(row.metric_key, row.team_id, row)}"'
    return view


def _precondition(head: KpiTarget | None) -> None:
    """If-Match against the version stored last; not required where none is stored or it removed the target."""
    if head is None:
        if request.if_match:
            raise PreconditionFailed
        return
    tag = target_etag(head.metric_key, head.team_id, head)
    if not request.if_match:
        if head.removed:
            return
        raise PreconditionRequired
    if tag not in request.if_match:
        raise PreconditionFailed


def _put(metric_key: str, team_id: int | None, body: dict[str, Any]) -> Any:
    session, state = db_session(), app_state()
    targets.metric_of(state.plugins, metric_key)
    if team_id is not None:
        teams.get_team(session, current_scope(), team_id)
    head = targets.lock_history(session, metric_key, team_id)
    _precondition(head)
    valid_from = body.pop("valid_from", None) or _today()
    before = targets.in_force(session, metric_key, team_id, valid_from)
    stored = targets.put_target(
        session, state.plugins, current_actor(), metric_key, team_id, body, valid_from=valid_from,
        zone=state.settings.zone,
    )  # fmt: skip
    commit()
    view = _row_view(stored)
    created = before is None or before.removed
    return view, 201 if created else 200, {"ETag": view["etag"]}


def _delete(metric_key: str, team_id: int | None, valid_from: date | None) -> None:
    session, state = db_session(), app_state()
    targets.metric_of(state.plugins, metric_key)
    head = targets.lock_history(session, metric_key, team_id)
    day = valid_from or _today()
    current = targets.in_force(session, metric_key, team_id, day)
    if head is None or current is None or current.removed:
        whose = "company" if team_id is None else f"team {team_id}"
        raise NotFound(f"no stored {whose} target for {metric_key!r} is in force on {day.isoformat()}")
    _precondition(head)
    targets.remove_target(session, current_actor(), metric_key, team_id, valid_from=day, zone=state.settings.zone)
    commit()


VERSION_FIELDS = ("id", "metric_key", "team_id", "valid_from", "green", "amber", "weight", "removed", "reverts_id")


def _version_view(row: KpiTarget, created_by: str | None) -> dict[str, Any]:
    return {
        **{name: getattr(row, name) for name in VERSION_FIELDS},
        "created_at": row.created_at,
        "created_by": created_by,
        "replaced": False,
    }


def _id_of(version: Any) -> int | None:
    return version.id if version is not None else None


@blp.route("")
class Targets(MethodView):
    @requires(blp, "targets.read")
    @blp.etag
    @blp.arguments(TargetQuerySchema, location="query")
    @blp.response(200, MetricTargetsSchema(many=True))
    @blp.doc(operationId="listTargets", summary="List the targets in force")
    def get(self, query: dict[str, Any]) -> Any:
        """For each metric of the loaded plugins, in plugin order: its company target in force today (or
        on ``on``: stored, or the plugin's default with ``source: default``) and the teams' overrides."""
        plugins = app_state().plugins
        book = targets.target_book(db_session(), plugins)
        in_force = book.in_force(query.get("on") or _today())
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
                    "company": company and _view(company, book),
                    "teams": [_view(t, book) for t in overrides if query.get("team", t.team_id) == t.team_id],
                }
            )
        return listed


@blp.route("/<metric_key>")
class CompanyTarget(MethodView):
    @requires(blp, "targets.manage")
    @blp.arguments(TargetInSchema)
    @blp.response(200, EffectiveTargetSchema, description="A version replaces the one in force", headers=ETAG_HEADER)
    @blp.alt_response(201, schema=EffectiveTargetSchema, description="The first stored version", headers=ETAG_HEADER)
    @blp.alt_response(409, schema=ErrorSchema, description="valid_from would change a closed month's target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale, or the target is gone")
    @blp.alt_response(428, schema=ErrorSchema, description="A target is stored: send its ETag in If-Match")
    @blp.doc(operationId="setCompanyTarget", summary="Set a metric's company target", parameters=[_if_match(False)])
    def put(self, body: dict[str, Any], metric_key: str) -> Any:
        """Add a version of the company's thresholds and weight for a metric, in force from ``valid_from``
        (default today); the versions before stay, and earlier periods keep being judged by them. 422
        naming ``metric_key`` if no loaded plugin declares it, naming ``valid_from`` if it is before the
        first job; 409 if it would change the target a closed month was judged against. Creating needs
        no If-Match; adding to a stored target does."""
        return _put(metric_key, None, body)

    @requires(blp, "targets.manage")
    @blp.arguments(ValidFromSchema, location="query")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No stored company target in force that day")
    @blp.alt_response(409, schema=ErrorSchema, description="valid_from would change a closed month's target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale")
    @blp.alt_response(428, schema=ErrorSchema, description="Send the target's ETag in If-Match")
    @blp.doc(operationId="deleteCompanyTarget", summary="Remove a stored company target", parameters=[_if_match(True)])
    def delete(self, query: dict[str, Any], metric_key: str) -> None:
        """Remove the stored company target from ``valid_from`` (default today) by adding a version that
        says so; the metric falls back to its plugin's default. Earlier versions stay (If-Match required)."""
        _delete(metric_key, None, query.get("valid_from"))


@blp.route("/<metric_key>/teams/<int:team_id>")
class TeamTarget(MethodView):
    @requires(blp, "targets.manage")
    @blp.arguments(TargetInSchema)
    @blp.response(200, EffectiveTargetSchema, description="A version replaces the one in force", headers=ETAG_HEADER)
    @blp.alt_response(201, schema=EffectiveTargetSchema, description="The first stored version", headers=ETAG_HEADER)
    @blp.alt_response(404, schema=ErrorSchema, description="No such team")
    @blp.alt_response(409, schema=ErrorSchema, description="valid_from would change a closed month's target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale, or the override is gone")
    @blp.alt_response(428, schema=ErrorSchema, description="An override is stored: send its ETag in If-Match")
    @blp.doc(operationId="setTeamTarget", summary="Set a team's override of a target", parameters=[_if_match(False)])
    def put(self, body: dict[str, Any], metric_key: str, team_id: int) -> Any:
        """Add a version of a team's own thresholds and weight for a metric, overriding the company target
        from ``valid_from`` (default today). Creating needs no If-Match; adding to a stored override does."""
        return _put(metric_key, team_id, body)

    @requires(blp, "targets.manage")
    @blp.arguments(ValidFromSchema, location="query")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No stored override for this team in force that day")
    @blp.alt_response(409, schema=ErrorSchema, description="valid_from would change a closed month's target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale")
    @blp.alt_response(428, schema=ErrorSchema, description="Send the override's ETag in If-Match")
    @blp.doc(operationId="deleteTeamTarget", summary="Remove a team's override", parameters=[_if_match(True)])
    def delete(self, query: dict[str, Any], metric_key: str, team_id: int) -> None:
        """Remove a team's override from ``valid_from`` (default today); the team falls back to the company
        target (If-Match required)."""
        _delete(metric_key, team_id, query.get("valid_from"))


@blp.route("/<metric_key>/history")
class TargetHistory(MethodView):
    @requires(blp, "targets.read")
    @blp.arguments(HistoryQuerySchema, location="query")
    @blp.response(200, TargetVersionSchema(many=True))
    @blp.doc(operationId="listTargetHistory", summary="List every version of a metric's targets")
    def get(self, query: dict[str, Any], metric_key: str) -> Any:
        """Every stored version of the metric's company target and teams' overrides (or of one team's with
        ``team``), the version stored last first: thresholds, weight, the day each is in force from, who
        stored it, whether it removed the target or reverted to an older one, and which is in force today."""
        session = db_session()
        targets.metric_of(app_state().plugins, metric_key)
        team = query.get("team")
        rows = targets.history(session, metric_key, team, teams=team is None)
        names = dict(session.execute(select(User.id, User.username).where(User.id.in_(
            {row.created_by_id for row in rows if row.created_by_id is not None}
        ))).all())  # fmt: skip
        book = targets.TargetBook({}, {})
        for row in rows:
            book.versions.setdefault((row.metric_key, row.team_id), []).append(targets.version_of(row))
        book.__post_init__()
        today = _today()
        from_day: dict[tuple[int | None, date | None], int] = {}
        for row in rows:  # newest first: the first of each (team, day) is the one that took the day
            from_day.setdefault((row.team_id, row.valid_from), row.id)
        return [
            {
                **_version_view(row, names.get(row.created_by_id)),
                "in_force": _id_of(book.stored_at(metric_key, row.team_id, today)) == row.id,
                "replaced": from_day[(row.team_id, row.valid_from)] != row.id,
            }
            for row in rows
        ]


@blp.route("/<metric_key>/versions/<int:version_id>/revert")
class TargetRevert(MethodView):
    @requires(blp, "targets.manage")
    @blp.arguments(ValidFromSchema)
    @blp.response(201, TargetVersionSchema, description="The new version, equal to the older one", headers=ETAG_HEADER)
    @blp.alt_response(404, schema=ErrorSchema, description="No such version of this metric")
    @blp.alt_response(409, schema=ErrorSchema, description="valid_from would change a closed month's target")
    @blp.alt_response(412, schema=ErrorSchema, description="If-Match is stale")
    @blp.alt_response(428, schema=ErrorSchema, description="Send the ETag of the version stored last in If-Match")
    @blp.doc(operationId="revertTarget", summary="Go back to an older target", parameters=[_if_match(True)])
    def post(self, body: dict[str, Any], metric_key: str, version_id: int) -> Any:
        """Add a version equal to the older one (its thresholds and weight, or its removal), in force from
        ``valid_from`` (default today) and naming it in ``reverts_id``; audited as a revert. The versions
        between stay in the history."""
        session, state = db_session(), app_state()
        targets.metric_of(state.plugins, metric_key)
        version = session.get(KpiTarget, version_id)
        if version is None or version.metric_key != metric_key:
            raise NotFound(f"no version {version_id} of a target for {metric_key!r}")
        head = targets.lock_history(session, metric_key, version.team_id)
        if not request.if_match:
            raise PreconditionRequired
        _precondition(head)
        stored = targets.revert_target(
            session, state.plugins, current_actor(), version, valid_from=body.get("valid_from") or _today(),
            zone=state.settings.zone,
        )  # fmt: skip
        commit()
        view = {**_version_view(stored, current_actor().username), "in_force": stored.valid_from <= _today()}
        return view, 201, {"ETag": f'"{target_etag(metric_key, stored.team_id, stored)}"'}
