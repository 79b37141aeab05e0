"""/api/v1/kpis: KPI definitions, values and drill-downs (values scoped like every record)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kpi_core.kpis import drilldown, ranges, service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.definitions import kpi_definitions
from kpi_core.kpis.fingerprints import fingerprints_of
from kpi_core.kpis.honest import Honesty, judged_at
from kpi_core.kpis.periods import MAX_PERIODS, QUERY_PERIODS
from kpi_core.kpis.persisted import sums_cache
from kpi_core.kpis.query import GROUP_BYS, NO_TEAM, Filters, KpiQuery
from kpi_core.records.plugin_settings import setting_values
from kpi_core.web.access import current_scope, requires
from kpi_core.web.compression import keep_compressed
from kpi_core.web.db import db_session
from kpi_core.web.entity_tags import held_tags
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_api import JobCrewMemberSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("kpis", __name__, url_prefix="/api/v1/kpis", description="KPI definitions, values and drill-downs")

ID = RECORD_ID
DATES = "Local dates in the company time zone (KPI_TIMEZONE)"
ADJUSTMENTS = ("category",)
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
    version = fields.Integer(
        required=True, metadata={"description": "The definition's version, as its plugin declares"}
    )
    fingerprint = fields.String(
        required=True,
        metadata={
            "description": "The definition fingerprint now: a hash of the key, the version and the plugin settings "
            "the KPI reads (and, for jobs KPIs, core.crew_credit); values computed with another one were computed "
            "with another definition"
        },
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
        validate=validate.OneOf(QUERY_PERIODS),
        metadata={
            "description": "day, week (ISO, from Monday), month, quarter or year, in the company time zone; "
            "range: one bucket for the whole range"
        },
    )


RANGE_HELP = (
    "Instead of start and end: a range resolved in the company time zone when asked: "
    + ", ".join(ranges.RANGES)
    + ". last_N_days are the N whole days before today; *_to_date run from the start of the current week "
    "(KPI_WEEK_START), month, quarter or year up to and including today; last_* are the whole period before. "
    "The answer gives the dates used (headers X-KPI-Start and X-KPI-End, end exclusive)."
)


class RangeSchema(FilterSchema):
    """start and end, or range: one of them, checked whole."""

    start = CalendarDate(metadata={"description": f"First day, inclusive (required without range). {DATES}"})
    end = CalendarDate(
        metadata={
            "description": f"Day after the last, exclusive (required without range); at most {MAX_PERIODS} "
            f"periods. {DATES}"
        },
    )
    range = fields.String(validate=validate.OneOf(ranges.RANGES), metadata={"description": RANGE_HELP})

    @validates_schema
    def _start_end_or_range(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = [name for name in ("start", "end") if data.get(name) is not None]
        if data.get("range") is not None:
            if given:
                raise ValidationError(
                    f"give either range or start and end, not both; range is one of {', '.join(ranges.RANGES)}",
                    field_name="range",
                )
            return
        missing = {name: ["Missing data for required field (or give range)."] for name in ("start", "end")}
        for name in given:
            missing.pop(name)
        if missing:
            raise ValidationError(missing)


class ValuesQuerySchema(RangeSchema):
    kpi = fields.List(fields.String(), metadata={"description": "KPI key; repeatable; all KPIs when absent"})
    group_by = _group_by()
    period = _period()
    compare = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        metadata={
            "description": "previous and/or year_ago (repeat, or comma-separated): each row gets an object of the "
            "comparison window's value, numerator, denominator and change (the same elapsed part of the period "
            "before for a period not over: 1-4 December against 1-4 November)"
        },
    )
    adjust = fields.String(
        validate=validate.OneOf(ADJUSTMENTS),
        metadata={
            "description": "category: for a rate by technician or team, the rate expected from the group's job mix "
            "at the company's rate per category (expected), and observed / expected (ratio, with a 95% interval)"
        },
    )

    @validates_schema
    def _comparisons(self, data: dict[str, Any], **_kwargs: Any) -> None:
        asked = [part.strip() for item in data.get("compare", ()) for part in item.split(",")]
        unknown = [part for part in asked if part not in ranges.COMPARISONS]
        if unknown:
            raise ValidationError(
                f"unknown comparison {unknown[0]!r}; compare is one of {', '.join(ranges.COMPARISONS)}",
                field_name="compare",
            )


class ComparisonSchema(Schema):
    value = fields.Float(required=True, allow_none=True, metadata={"description": "null without a sample"})
    numerator = fields.Float(required=True)
    denominator = fields.Float(required=True)
    change = fields.Float(
        required=True, allow_none=True, metadata={"description": "The row's value minus this value (null if either is)"}
    )


class RestatedSchema(Schema):
    value = fields.Float(required=True, allow_none=True)
    numerator = fields.Float(required=True)
    denominator = fields.Float(required=True)
    pending = fields.Float(required=True)
    status = fields.String(required=True, allow_none=True)
    change = fields.Float(
        required=True, allow_none=True, metadata={"description": "The restated value minus the closed one"}
    )
    fingerprint = fields.String(required=True, metadata={"description": "The definition it was computed with"})


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
        required=True,
        allow_none=True,
        metadata={
            "enum": ["green", "amber", "red", "insufficient", None],
            "description": "vs target; insufficient: the sample is below the KPI's minimum (KPI_STATUS_MIN_SAMPLE)",
        },
    )
    period_end = CalendarDate(required=True, metadata={"description": "Day after the period's last (clipped)"})
    complete = fields.Boolean(required=True, metadata={"description": "The period has ended (company time zone)"})
    provisional = fields.Boolean(
        required=True, metadata={"description": "Some facts' outcome window is still open: the value may change"}
    )
    pending = fields.Float(required=True, metadata={"description": "Facts left out until their outcome window closes"})
    certain = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={"description": "The 95% interval lies wholly inside the status's band (null: no interval or status)"},
    )
    expected = fields.Float(
        allow_none=True,
        metadata={
            "description": "With adjust=category (rates): the rate expected from the group's job mix, each job at the "
            "company's rate for its category over the same period"
        },
    )
    ratio = fields.Float(allow_none=True, metadata={"description": "With adjust=category: value / expected"})
    ratio_low = fields.Float(allow_none=True, metadata={"description": "95% interval of ratio (low)"})
    ratio_high = fields.Float(allow_none=True, metadata={"description": "95% interval of ratio (high)"})
    previous = fields.Nested(ComparisonSchema, allow_none=True, metadata={"description": "With compare=previous"})
    year_ago = fields.Nested(ComparisonSchema, allow_none=True, metadata={"description": "With compare=year_ago"})
    fingerprint = fields.String(
        required=True,
        metadata={"description": "The definition fingerprint the value was computed with (a closed month's: then)"},
    )
    closed = fields.Boolean(
        required=True,
        metadata={
            "description": "The period is a closed month and the value is its snapshot's (status and fingerprint "
            "too): it does not change when the facts do (see restated)"
        },
    )
    closed_at = fields.DateTime(metadata={"description": "When a closed month was closed (closed rows only)"})
    restated = fields.Nested(
        RestatedSchema,
        allow_none=True,
        metadata={
            "description": "Closed rows only: the value as the facts and definitions give it now, where it differs "
            "from the closed one (null: no difference). Re-closing the month accepts it"
        },
    )


class DrilldownQuerySchema(RangeSchema):
    group_by = _group_by()
    group_id = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": f"The value's group_id (required unless group_by=company; '{NO_TEAM}' for no team)"},
    )
    period = _period()
    period_start = CalendarDate(required=True, metadata={"description": "The value's period_start"})
    start = CalendarDate(metadata={"description": "The range start the value was asked with, if inside the period"})
    end = CalendarDate(metadata={"description": "The range end the value was asked with, if inside the period"})
    range = fields.String(
        validate=validate.OneOf(ranges.RANGES), metadata={"description": "The range the value was asked with"}
    )
    outcome = fields.List(
        fields.String(validate=validate.OneOf(drilldown.OUTCOMES)),
        metadata={"description": "Only facts with this outcome (numerator, denominator_only, excluded); repeatable"},
    )

    @validates_schema
    def _start_end_or_range(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # start and end stay optional here: only a range cut short needs them.
        if data.get("range") is not None and (data.get("start") is not None or data.get("end") is not None):
            raise ValidationError(
                f"give either range or start and end, not both; range is one of {', '.join(ranges.RANGES)}",
                field_name="range",
            )


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
    share = fields.Float(
        required=True,
        metadata={
            "description": "How much of the job counts for the group: a crew member's share when crews are "
            "credited by share (the setting core.crew_credit), else 1; numerator and denominator are weighted by it"
        },
    )
    crew = fields.List(
        fields.Nested(JobCrewMemberSchema),
        required=True,
        metadata={"description": "The technicians on the job, the lead first (empty for an evaluation)"},
    )
    numerator = fields.Float(required=True, metadata={"description": "This fact's share of the numerator"})
    denominator = fields.Float(required=True, metadata={"description": "This fact's share of the denominator"})
    outcome = fields.String(
        required=True,
        metadata={
            "enum": list(drilldown.OUTCOMES),
            "description": "Counted in the numerator (a mean: in the sample), in the denominator only, or left out",
        },
    )
    reason = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Why it is left out: a reason code the KPI declares; for a counted fact, the note the "
            "KPI declares on it (such as callback_disputed), else null"
        },
    )
    reason_label = fields.String(required=True, allow_none=True, metadata={"description": "The reason in words"})


class ReasonCountSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    facts = fields.Integer(required=True)


class DrilldownSummarySchema(Schema):
    kpi = fields.String(required=True)
    facts = fields.Integer(required=True, metadata={"description": "Every fact of the group and period in scope"})
    numerator = fields.Integer(required=True)
    denominator_only = fields.Integer(required=True)
    excluded = fields.Integer(required=True)
    reasons = fields.List(
        fields.Nested(ReasonCountSchema),
        required=True,
        metadata={"description": "Facts left out per reason, in the KPI's order of reasons"},
    )


NOT_MODIFIED = "Not modified: the If-None-Match header named this answer's ETag, and nothing it depends on has changed"


class RowPage(SQLPage):
    """Pages the drill-down's select: each item is a row mapping, a job's with its crew."""

    @property
    def items(self) -> list[Any]:
        rows = [dict(row) for row in db_session().execute(self.window(self.collection)).mappings()]
        crews = drilldown.crews_of(db_session(), [row["id"] for row in rows if row["external_ref"] is not None])
        for row in rows:
            row["crew"] = crews.get(row["id"], []) if row["external_ref"] is not None else []
        return rows


def resolved_range(args: dict[str, Any]) -> tuple[Any, Any, str | None]:
    """The request's (start, end, calendar unit): as given, or its ``range`` resolved at the app's clock
    in the company time zone (unit None where start and end were given)."""
    name = args.get("range")
    if name is None:
        return args.get("start"), args.get("end"), None
    state = app_state()
    today = ranges.local_today(state.clock(), state.settings.zone)
    found = ranges.resolve_range(name, today, state.settings.week_start_day)
    return found.start, found.end, found.unit


def honesty_of(args: dict[str, Any], unit: str | None) -> Honesty:
    state = app_state()
    asked = [part.strip() for item in args.get("compare", ()) for part in item.split(",")]
    return Honesty(
        compare=tuple(dict.fromkeys(asked)),
        unit=unit,
        week_start=state.settings.week_start_day,
        now=state.clock(),
        min_sample=state.settings.status_min_sample,
        adjust=args.get("adjust"),
    )


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
        """Every KPI the installed plugins declare, with its formula, default target, version and the
        definition fingerprint it is computed with now."""
        plugins = app_state().plugins
        return kpi_definitions(plugins, fingerprints_of(plugins, setting_values(db_session(), plugins)))


@blp.route("/values")
class KpiValues(MethodView):
    @requires(blp, "kpis.read")
    @blp.arguments(ValuesQuerySchema, location="query")
    @blp.response(200, KpiValueSchema(many=True))
    @blp.alt_response(304, description=NOT_MODIFIED)
    @blp.doc(operationId="getKpiValues", summary="Compute KPI values by group and period")
    def get(self, args: dict[str, Any]) -> Any:
        """KPIs x group x period over [start, end) (or a relative range), computed from the facts you may see.

        Rates and roll-ups pool numerators and denominators. A group with facts
        in a period but none in a KPI's sample has value null; a group with no
        facts in a period has no row. Status compares the value with the team's
        target (group_by team or technician), else the company's. Answers are
        cached until the data of the months they cover changes (header
        X-KPI-Cache: hit or miss). The sums of each month are cached on their
        own: after a change to one month, only that month is computed again
        (header X-KPI-Months-Computed: computed/total months of the range). They are
        kept in the database too, and read from there after a restart (header
        X-KPI-Months-Persisted: months read from there/total).

        Each row says whether its period has ended (complete), whether facts whose outcome is not known
        yet were left out (provisional, pending: a first-time fix within the callback window), whether
        the sample is too small for a status (status insufficient) and whether the 95% interval lies
        wholly inside the status's band (certain). The dates answered are in the headers X-KPI-Start and
        X-KPI-End (end exclusive): with range, as resolved when asked.
        """
        state = app_state()
        start, end, unit = resolved_range(args)
        query = KpiQuery(
            start=start,
            end=end,
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
            honesty=honesty_of(args, unit),
            if_none_match=held_tags(),
            sums=sums_cache(state.settings, state.database.engine),
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
        """Every job (or evaluation) of the value's group and period, with its outcome and contribution.

        Each fact is counted in the numerator, in the denominator only, or left out with a reason
        code and label the KPI declares (cancelled, not completed, no arrival time recorded, callback
        window still open, ...). Over all pages the contributions add up to the value's numerator and
        denominator. Ask with the value's group_by, group_id, period and period_start, and the same
        filters (and start/end or range if the range cut the period short); outcome narrows the list.
        """
        return drilldown.drilldown_statement(
            db_session(), app_state().plugins, cell_of(args, key), zone=app_state().settings.zone, scope=current_scope()
        )


@blp.route("/<string:key>/drilldown/summary")
class KpiDrilldownSummary(MethodView):
    @requires(blp, "kpis.read")
    @blp.arguments(DrilldownQuerySchema, location="query")
    @blp.response(200, DrilldownSummarySchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such KPI, or a group you may not see")
    @blp.doc(operationId="getKpiDrilldownSummary", summary="Count the facts behind a KPI value by outcome and reason")
    def get(self, args: dict[str, Any], key: str) -> Any:
        """Why this number: the facts of the value's group and period, counted in all, per outcome and per
        reason left out ("170 jobs: 157 on time, 13 late, 4 left out: no arrival time"). Same query as
        the drill-down."""
        state = app_state()
        return drilldown.summary(
            db_session(), state.plugins, cell_of(args, key), zone=state.settings.zone, scope=current_scope()
        )


def cell_of(args: dict[str, Any], key: str) -> drilldown.DrilldownQuery:
    """The drill-down's cell from its query arguments (a range resolved at the app's clock)."""
    state = app_state()
    start, end, _unit = resolved_range(args)
    return drilldown.DrilldownQuery(
        kpi=key,
        period_start=args["period_start"],
        group_by=args["group_by"],
        group_id=args.get("group_id"),
        period=args["period"],
        start=start,
        end=end,
        filters=filters_of(args),
        outcomes=tuple(args.get("outcome", ())),
        as_of=judged_at(state.clock()),
    )


def answer_response(answer: service.Answer) -> Response:
    """A cached or computed KPI answer as the response, with headers saying which (X-KPI-Cache), how
    many of its months had to be computed (X-KPI-Months-Computed: computed/total) and how many months'
    sums were read from the database (X-KPI-Months-Persisted: persisted/total; after a restart, say).

    Its ``ETag`` names everything the answer depends on, so a client that sends it back in
    ``If-None-Match`` gets 304 while nothing changed, without the answer being read or built;
    ``Cache-Control: private, no-cache`` makes browsers ask each time and never share it.
    """
    if answer.not_modified:
        response = Response(status=304)
        response.headers["X-KPI-Cache"] = "not-modified"
    else:
        # The cached JSON is the response body as is: a warm answer costs no serialisation,
        # and its compressed bytes are kept too (compression.py).
        response = Response(answer.body, mimetype="application/json")
        response.headers["X-KPI-Cache"] = "hit" if answer.cached else "miss"
        if answer.etag:
            keep_compressed(answer.etag)
    if answer.etag:
        response.set_etag(answer.etag)
        response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-KPI-Months-Computed"] = f"{answer.months_computed}/{answer.months_total}"
    response.headers["X-KPI-Months-Persisted"] = f"{answer.months_persisted}/{answer.months_total}"
    if answer.start is not None and answer.end is not None:
        response.headers["X-KPI-Start"] = answer.start.isoformat()
        response.headers["X-KPI-End"] = answer.end.isoformat()
    return response
