"""What evaluations and self-appraisals share in the API: the period's KPI numbers and the company's rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, fields

from kpi_core.evaluations.numbers import NumbersSource, period_numbers
from kpi_core.evaluations.policy import AppraisalPolicy, appraisal_policy
from kpi_core.evaluations.service import Appraisal, Numbers
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.persisted import sums_cache
from kpi_core.kpis.ranges import local_today
from kpi_core.web.db import db_session
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.scorecards_api import ThresholdSchema
from kpi_core.web.state import app_state


class AppraisalKpiSchema(Schema):
    kpi = fields.String(required=True)
    label = fields.String(required=True)
    unit = fields.String(required=True)
    direction = fields.String(required=True, metadata={"enum": ["higher", "lower"]})
    source = fields.String(required=True, metadata={"enum": ["jobs", "evaluations"], "description": "What it counts"})
    value = fields.Float(required=True, allow_none=True, metadata={"description": "Pooled over the whole period"})
    numerator = fields.Float(required=True)
    denominator = fields.Float(required=True, metadata={"description": "The sample: jobs (or evaluations) counted"})
    ci_low = fields.Float(required=True, allow_none=True, metadata={"description": "95 % Wilson interval of a rate"})
    ci_high = fields.Float(required=True, allow_none=True)
    status = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": ["green", "amber", "red", "insufficient", None],
            "description": "Against the target in force; insufficient: too few jobs to judge",
        },
    )
    certain = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "The 95 % interval lies wholly in its status's band"}
    )
    complete = fields.Boolean(required=True, metadata={"description": "false: the period is not over (so far)"})
    provisional = fields.Boolean(required=True, metadata={"description": "Some outcomes are not known yet"})
    pending = fields.Float(required=True, metadata={"description": "Facts left out until their outcome is known"})
    provisional_note = fields.String(
        required=True, allow_none=True, metadata={"description": "Why, in the KPI's words, when provisional"}
    )
    target = fields.Nested(ThresholdSchema, required=True, allow_none=True)
    weight = fields.Float(required=True, allow_none=True, metadata={"description": "Its weight in the scorecard"})
    points = fields.Float(required=True, allow_none=True, metadata={"description": "0-100 against the target"})
    team_value = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "The team's value; given where at least three of its technicians have one"},
    )


class AppraisalNumbersSchema(Schema):
    technician_id = fields.Integer(required=True)
    technician = fields.String(required=True, allow_none=True)
    team_id = fields.Integer(required=True, allow_none=True)
    team = fields.String(required=True, allow_none=True)
    # Kept as JSON text (ISO 8601), answered as stored.
    period_start = fields.String(required=True, metadata={"format": "date"})
    period_end = fields.String(
        required=True, metadata={"format": "date", "description": "The period's last day (included)"}
    )
    complete = fields.Boolean(required=True, metadata={"description": "false: the period had not ended when taken"})
    taken_at = fields.String(
        required=True, metadata={"format": "date-time", "description": "When the numbers were read (UTC)"}
    )
    score = fields.Float(required=True, allow_none=True, metadata={"description": "The KPI scorecard score, 0-100"})
    sample = fields.Integer(required=True, metadata={"description": "Completed jobs in the period"})
    min_sample = fields.Integer(required=True, metadata={"description": "Completed jobs needed to be ranked"})
    unranked_reason = fields.String(required=True, allow_none=True)
    kpis = fields.List(fields.Nested(AppraisalKpiSchema), required=True)


class NumbersQuerySchema(StrictSchema):
    technician = fields.Integer(required=True, validate=RECORD_ID, metadata={"description": "Technician id"})
    period_start = CalendarDate(required=True)
    period_end = CalendarDate(required=True, metadata={"description": "The period's last day (included)"})


def numbers_source() -> NumbersSource:
    """The KPI service as this app's API calls it: its caches, clock and minimum samples."""
    state = app_state()
    settings = state.settings
    return NumbersSource(
        plugins=state.plugins,
        zone=settings.zone,
        now=state.clock(),
        cache=shared_cache(settings),
        sums=sums_cache(settings, state.database.engine),
        ttl=settings.cache_ttl,
        min_sample=settings.min_sample,
        status_min_sample=settings.status_min_sample,
    )


def numbers() -> Numbers:
    """``numbers(technician_id, start, end)`` over this request's session."""
    source = numbers_source()

    def take(technician_id: int, start: date, end: date) -> dict[str, Any]:
        return period_numbers(db_session(), source, technician_id, start, end)

    return take


def policy() -> AppraisalPolicy:
    state = app_state()
    return appraisal_policy(db_session(), state.plugins)


def appraisal() -> Appraisal:
    """What an evaluation made in this request keeps beside its answers."""
    return Appraisal(numbers=numbers(), policy=policy())


def today() -> date:
    """The company's local date now."""
    state = app_state()
    return local_today(state.clock(), state.settings.zone)
