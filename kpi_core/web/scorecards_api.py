"""/api/v1/scorecards: technicians' composite scores, ranks and changes (scoped like KPI values)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.kpis import scorecards, service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.periods import PERIODS
from kpi_core.kpis.persisted import sums_cache
from kpi_core.web.access import current_scope, requires
from kpi_core.web.db import db_session
from kpi_core.web.entity_tags import held_tags
from kpi_core.web.kpis_api import NOT_MODIFIED, RangeSchema, answer_response, filters_of, resolved_range
from kpi_core.web.schemas import CalendarDate
from kpi_core.web.state import app_state

blp = Blueprint(
    "scorecards", __name__, url_prefix="/api/v1/scorecards", description="Technicians' composite scores and ranks"
)

ADJUST_CHOICES = ("category", "none")
HOW = scorecards.__doc__.split("\n\n", 1)[1] if scorecards.__doc__ else ""


class ScorecardQuerySchema(RangeSchema):
    kpi = fields.List(fields.String(), metadata={"description": "KPI key; repeatable; all KPIs when absent"})
    period = fields.String(
        load_default="month",
        validate=validate.OneOf(PERIODS),
        metadata={"description": "The period the window is made of; the previous window is as many periods back"},
    )
    min_sample = fields.Integer(
        validate=validate.Range(min=0, max=100_000),
        metadata={"description": "Completed jobs needed to be ranked (default KPI_MIN_SAMPLE)"},
    )
    adjust = fields.String(
        validate=validate.OneOf(ADJUST_CHOICES),
        metadata={
            "description": "category: judge and rank each rate fairly by job mix (against the rate expected from the "
            "technician's job categories); none: as observed. Default: the setting core.rank_by_job_mix"
        },
    )


class StandingSchema(Schema):
    rank = fields.Integer(required=True, allow_none=True, metadata={"description": "null when not ranked"})
    of = fields.Integer(required=True, metadata={"description": "How many technicians are ranked"})


class PeersSchema(Schema):
    team = fields.Nested(
        StandingSchema, required=True, allow_none=True, metadata={"description": "Among the team; null without one"}
    )
    company = fields.Nested(StandingSchema, required=True, metadata={"description": "Among the whole company"})


class ThresholdSchema(Schema):
    green = fields.Float(required=True)
    amber = fields.Float(required=True)


class ContributionSchema(Schema):
    kpi = fields.String(required=True)
    label = fields.String(required=True)
    value = fields.Float(required=True, allow_none=True, metadata={"description": "Pooled over the window"})
    status = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": ["green", "amber", "red", "insufficient", None],
            "description": "insufficient: too small a sample to colour or rank (KPI_STATUS_MIN_SAMPLE)",
        },
    )
    weight = fields.Float(required=True, metadata={"description": "The target's weight (0: not scored)"})
    points = fields.Float(required=True, allow_none=True, metadata={"description": "0-100 against the target"})
    contribution = fields.Float(
        required=True, allow_none=True, metadata={"description": "Points this KPI adds to the score"}
    )
    sample = fields.Float(required=True, metadata={"description": "The KPI's denominator over the window"})
    rank = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Rank on this KPI among the technicians listed"}
    )
    peers = fields.Nested(
        PeersSchema, required=True, metadata={"description": "Rank on this KPI among the team and the company"}
    )
    team_value = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "The team's value over the window (technicians: only when 3 of the team have one)"},
    )
    target = fields.Nested(
        ThresholdSchema, required=True, allow_none=True, metadata={"description": "The target that applies"}
    )
    expected = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Fair by job mix (rates): the rate expected from the technician's job categories"},
    )
    ratio = fields.Float(required=True, allow_none=True, metadata={"description": "Fair by job mix: value / expected"})
    adjusted = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "Fair by job mix: ratio x the company's rate; points, status and ranks use it when given"
        },
    )


class TechnicianScoreSchema(Schema):
    technician_id = fields.Integer(required=True)
    technician = fields.String(required=True)
    team_id = fields.Integer(required=True, allow_none=True)
    team = fields.String(required=True, allow_none=True)
    score = fields.Float(required=True, allow_none=True, metadata={"description": "0-100; null without values"})
    previous_score = fields.Float(required=True, allow_none=True)
    change = fields.Float(required=True, allow_none=True, metadata={"description": "score - previous_score"})
    rank = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Among the technicians listed; null when not ranked"}
    )
    peers = fields.Nested(
        PeersSchema,
        required=True,
        metadata={"description": "Rank by score among the team and the company, whoever may be listed"},
    )
    sample = fields.Integer(required=True, metadata={"description": "Completed jobs in the window"})
    unranked_reason = fields.String(required=True, allow_none=True)
    contributions = fields.List(fields.Nested(ContributionSchema), required=True)


class ScorecardKpiSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    weight = fields.Float(required=True, metadata={"description": "The company target's weight"})
    direction = fields.String(required=True, metadata={"enum": ["higher", "lower"]})
    fingerprint = fields.String(
        required=True, metadata={"description": "The definition fingerprint the KPI was computed with"}
    )


class ScorecardsSchema(Schema):
    start = CalendarDate(required=True, metadata={"description": "The window's first day (a range as resolved)"})
    end = CalendarDate(required=True, metadata={"description": "The day after the window's last"})
    period = fields.String(required=True)
    previous_start = CalendarDate(required=True)
    previous_end = CalendarDate(required=True)
    min_sample = fields.Integer(required=True)
    kpis = fields.List(fields.Nested(ScorecardKpiSchema), required=True)
    technicians = fields.List(fields.Nested(TechnicianScoreSchema), required=True)
    adjust = fields.String(
        required=True,
        allow_none=True,
        metadata={"enum": ["category", None], "description": "category: judged fairly by job mix; null: as observed"},
    )


@blp.route("")
class Scorecards(MethodView):
    @requires(blp, "kpis.read")
    @blp.arguments(ScorecardQuerySchema, location="query")
    @blp.response(200, ScorecardsSchema)
    @blp.alt_response(304, description=NOT_MODIFIED)
    @blp.doc(operationId="getScorecards", summary="Score, rank and compare technicians over a window", description=HOW)
    def get(self, args: dict[str, Any]) -> Any:
        """Per technician you may see: a composite score 0-100, each KPI's contribution, value, target and
        team value, the rank among the technicians listed and among the team and the company (technicians
        with enough completed jobs), and the change against the previous window. A technician gets their
        own row only, with their ranks and the number ranked, never their peers' rows. Cached like KPI
        values (headers X-KPI-Cache, X-KPI-Months-Computed and X-KPI-Months-Persisted, counting the months
        of both windows and of the teams' current window)."""
        state = app_state()
        start, end, _unit = resolved_range(args)
        answer = service.scorecards_answer(
            db_session(),
            state.plugins,
            start=start,
            end=end,
            period=args["period"],
            zone=state.settings.zone,
            scope=current_scope(),
            filters=filters_of(args),
            kpis=tuple(args.get("kpi", ())),
            min_sample=args.get("min_sample", state.settings.min_sample),
            cache=shared_cache(state.settings),
            ttl=state.settings.cache_ttl,
            status_min_sample=state.settings.status_min_sample,
            now=state.clock(),
            adjust=args.get("adjust"),
            if_none_match=held_tags(),
            sums=sums_cache(state.settings, state.database.engine),
        )
        return answer_response(answer)
