"""/api/v1/kpis: KPI definitions, values and drill-downs (values scoped like every record)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.kpis import drilldown, service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.definitions import kpi_definitions
from kpi_core.kpis.periods import MAX_PERIODS, PERIODS
from kpi_core.kpis.query import GROUP_BYS, NO_TEAM, Filters, KpiQuery
from kpi_core.web.access import current_scope, requires
from kpi_core.web.db import db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("kpis", __name__, url_prefix="/api/v1/kpis", description="KPI definitions, values and drill-downs")

ID = RECORD_ID
DATES = "Local dates in the company time zone (KPI_TIMEZONE)"
GROUPS = (
    "technician, team (technicians without a team: group_id 'none'), category (evaluation KPIs have no "
    "category and give no rows) or company (group_id 'company')"
)


class TargetSchema(Schema):
    green = fields.Float(required=True)
    amber = fields.Float(required=True)
    weight = fields.Float(required=True)


class KpiDefinitionSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    formula = fields.String(required=True, metadata={"description": "How it is computed, in words"})
    unit = fields.String(required=True)
    direction = fields.String(required=True, metadata={"enum": ["higher", "lower"]})
    kind = fields.String(required=True, metadata={"enum": ["rate", "mean"]})
    source = fields.String(required=True, metadata={"enum": ["jobs", "evaluations"]})
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})
    default_target = fields.Nested(TargetSchema, allow_none=True, required=True)
    empty_hint = fields.String(
        required=True,
        metadata={"description": "What to do where the KPI has no value, in words ('' : the generic text applies)"},
    )


class FilterSchema(StrictSchema):
    team = fields.List(fields.Integer(validate=ID), metadata={"description": "Team id; repeat for several"})
    technician = fields.List(fields.Integer(validate=ID), metadata={"description": "Technician id; repeatable"})
    category = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), metadata={"description": "Job category; repeatable"}
    )


def _group_by() -> fields.String:
    return fields.String(load_default="company", validate=validate.OneOf(GROUP_BYS), metadata={"description": GROUPS})


def _period() -> fields.String:
    return fields.String(
        load_default="month",
        validate=validate.OneOf(PERIODS),
        metadata={"description": "day, week (ISO, from Monday), month, quarter or year, in the company time zone"},
    )


class ValuesQuerySchema(FilterSchema):
    kpi = fields.List(fields.String(), metadata={"description": "KPI key; repeatable; all KPIs when absent"})
    group_by = _group_by()
    period = _period()
    start = CalendarDate(required=True, metadata={"description": f"First day, inclusive. {DATES}"})
    end = CalendarDate(
        required=True,
        metadata={"description": f"Day after the last, exclusive; at most {MAX_PERIODS} periods. {DATES}"},
    )


class KpiValueSchema(Schema):
    kpi = fields.String(required=True)
    group_id = fields.String(required=True, metadata={"description": "Technician or team id, category, 'company'"})
    group_label = fields.String(required=True)
    period_start = CalendarDate(required=True, metadata={"description": "First local day of the period"})
    value = fields.Float(required=True, allow_none=True, metadata={"description": "null without a sample"})
    numerator = fields.Float(required=True)
    denominator = fields.Float(required=True, metadata={"description": "The sample size"})
    ci_low = fields.Float(required=True, allow_none=True, metadata={"description": "95% Wilson interval (rates)"})
    ci_high = fields.Float(required=True, allow_none=True)
    status = fields.String(
        required=True, allow_none=True, metadata={"enum": ["green", "amber", "red", None], "description": "vs target"}
    )


class DrilldownQuerySchema(FilterSchema):
    group_by = _group_by()
    group_id = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": f"The value's group_id (required unless group_by=company; '{NO_TEAM}' for no team)"},
    )
    period = _period()
    period_start = CalendarDate(required=True, metadata={"description": "The value's period_start"})
    start = CalendarDate(metadata={"description": "The range start the value was asked with, if inside the period"})
    end = CalendarDate(metadata={"description": "The range end the value was asked with, if inside the period"})


class DrilldownRowSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "Job or evaluation id"})
    external_ref = fields.String(allow_none=True)
    technician_id = fields.Integer(required=True)
    technician = fields.String(required=True)
    category = fields.String(allow_none=True)
    status = fields.String(required=True)
    scheduled_start = fields.DateTime(allow_none=True)
    scheduled_end = fields.DateTime(allow_none=True)
    arrived_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    rating = fields.Integer(allow_none=True, metadata={"description": "The customer's rating, if any"})
    evaluation_period_start = CalendarDate(allow_none=True)
    evaluation_period_end = CalendarDate(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    score = fields.Float(allow_none=True)
    numerator = fields.Float(required=True, metadata={"description": "This fact's share of the numerator"})
    denominator = fields.Float(required=True, metadata={"description": "This fact's share of the denominator"})


class RowPage(SQLPage):
    """Pages a multi-column select: each item is a row mapping."""

    @property
    def items(self) -> list[Any]:
        return list(db_session().execute(self.window(self.collection)).mappings())


def filters_of(args: dict[str, Any]) -> Filters:
    return Filters(
        teams=tuple(args.get("team", ())),
        technicians=tuple(args.get("technician", ())),
        categories=tuple(category.strip().lower() for category in args.get("category", ())),
    )


@blp.route("")
class Kpis(MethodView):
    @requires(blp, "kpis.read")
    @blp.response(200, KpiDefinitionSchema(many=True))
    @blp.doc(operationId="listKpis", summary="List KPI definitions")
    def get(self) -> Any:
        """Every KPI the installed plugins declare, with its formula and default target."""
        return kpi_definitions(app_state().plugins)


@blp.route("/values")
class KpiValues(MethodView):
    @requires(blp, "kpis.read")
    @blp.arguments(ValuesQuerySchema, location="query")
    @blp.response(200, KpiValueSchema(many=True))
    @blp.doc(operationId="getKpiValues", summary="Compute KPI values by group and period")
    def get(self, args: dict[str, Any]) -> Any:
        """KPIs x group x period over [start, end), computed from the facts you may see.

        Rates and roll-ups pool numerators and denominators. A group with facts
        in a period but none in a KPI's sample has value null; a group with no
        facts in a period has no row. Status compares the value with the team's
        target (group_by team or technician), else the company's. Answers are
        cached until the data of the months they cover changes (header
        X-KPI-Cache: hit or miss). The sums of each month are cached on their
        own: after a change to one month, only that month is computed again
        (header X-KPI-Months-Computed: computed/total months of the range).
        """
        state = app_state()
        query = KpiQuery(
            start=args["start"],
            end=args["end"],
            kpis=tuple(args.get("kpi", ())),
            group_by=args["group_by"],
            period=args["period"],
            filters=filters_of(args),
        )
        answer = service.kpi_values(
            db_session(),
            state.plugins,
            query,
            zone=state.settings.zone,
            scope=current_scope(),
            cache=shared_cache(state.settings),
            ttl=state.settings.cache_ttl,
        )
        return answer_response(answer)


@blp.route("/<string:key>/drilldown")
class KpiDrilldown(MethodView):
    @requires(blp, "kpis.read")
    @blp.arguments(DrilldownQuerySchema, location="query")
    @blp.response(200, DrilldownRowSchema(many=True))
    @blp.paginate(RowPage)
    @blp.alt_response(404, schema=ErrorSchema, description="No such KPI, or a group you may not see")
    @blp.doc(operationId="getKpiDrilldown", summary="List the facts behind a KPI value")
    def get(self, args: dict[str, Any], key: str) -> Any:
        """The jobs (or evaluations) one value counted, with each one's contribution.

        Only facts in the sample (denominator contribution > 0) are listed, so
        over all pages the contributions add up to the value's numerator and
        denominator. Ask with the value's group_by, group_id, period and
        period_start, and the same filters (and start/end if the range cut the
        period short).
        """
        state = app_state()
        cell = drilldown.DrilldownQuery(
            kpi=key,
            period_start=args["period_start"],
            group_by=args["group_by"],
            group_id=args.get("group_id"),
            period=args["period"],
            start=args.get("start"),
            end=args.get("end"),
            filters=filters_of(args),
        )
        return drilldown.drilldown_statement(
            db_session(), state.plugins, cell, zone=state.settings.zone, scope=current_scope()
        )


def answer_response(answer: service.Answer) -> Response:
    """A cached or computed KPI answer as the response, with headers saying which (X-KPI-Cache) and how
    many of its months had to be computed (X-KPI-Months-Computed: computed/total)."""
    # The cached JSON is the response body as is: a warm answer costs no serialisation.
    response = Response(answer.body, mimetype="application/json")
    response.headers["X-KPI-Cache"] = "hit" if answer.cached else "miss"
    response.headers["X-KPI-Months-Computed"] = f"{answer.months_computed}/{answer.months_total}"
    return response
