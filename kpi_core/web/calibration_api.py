"""/api/v1/evaluations/calibration: how each evaluator's scores compare with others' and with the numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema

from kpi_core.errors import Invalid
from kpi_core.evaluations import calibration
from kpi_core.kpis import service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.persisted import sums_cache
from kpi_core.web.access import current_scope, requires
from kpi_core.web.db import db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint(
    "calibration",
    __name__,
    url_prefix="/api/v1/evaluations/calibration",
    description="Evaluator calibration: leniency against other evaluators and agreement with the KPIs",
)
HOW = calibration.__doc__.split("\n\n", 1)[1] if calibration.__doc__ else ""


class CalibrationQuerySchema(StrictSchema):
    start = CalendarDate(required=True, metadata={"description": "First day of the range (included)"})
    end = CalendarDate(required=True, metadata={"description": "Last day of the range (included)"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError({"end": ["The range must end on or after the day it starts"]})


class EvaluatorCalibrationSchema(Schema):
    evaluator_id = fields.Integer(required=True)
    evaluator = fields.String(required=True, metadata={"description": "The evaluator's name"})
    evaluations = fields.Integer(required=True, metadata={"description": "Their evaluations in the range"})
    mean_score = fields.Float(required=True, metadata={"description": "The mean of their scores, 0-100"})
    technicians = fields.Integer(required=True, metadata={"description": "Technicians they evaluated"})
    paired = fields.Integer(
        required=True,
        metadata={"description": "Technicians and periods that other evaluators scored too: the comparisons made"},
    )
    paired_mean = fields.Float(
        required=True, allow_none=True, metadata={"description": "Their mean score over those comparisons"}
    )
    others_mean = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "The other evaluators' mean score of the same technicians in the same periods"},
    )
    leniency = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "paired_mean - others_mean, in score points: positive is more lenient"},
    )
    leniency_low = fields.Float(
        required=True, allow_none=True, metadata={"description": "95 % t interval of the paired differences"}
    )
    leniency_high = fields.Float(required=True, allow_none=True)
    leniency_note = fields.String(
        required=True, allow_none=True, metadata={"description": "Why there is no difference or interval"}
    )
    kpi_pairs = fields.Integer(
        required=True, metadata={"description": "Their evaluations with a KPI scorecard score beside them"}
    )
    kpi_correlation = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Pearson's r of their scores and the technicians' KPI scorecard scores"},
    )
    kpi_correlation_low = fields.Float(
        required=True, allow_none=True, metadata={"description": "95 % interval of r (Fisher's z)"}
    )
    kpi_correlation_high = fields.Float(required=True, allow_none=True)
    kpi_note = fields.String(required=True, allow_none=True, metadata={"description": "Why there is no correlation"})


class CalibrationSchema(Schema):
    start = CalendarDate(required=True)
    end = CalendarDate(required=True)
    evaluations = fields.Integer(required=True, metadata={"description": "Evaluations compared"})
    evaluators = fields.List(fields.Nested(EvaluatorCalibrationSchema), required=True)
    reason = fields.String(
        required=True, allow_none=True, metadata={"description": "Why there is nothing to compare (no evaluators)"}
    )


def scorecard_scores(period_start: date, period_end: date) -> Mapping[int, float | None]:
    """Each technician's scorecard score over the period, from the KPIs computed from jobs (see calibration.py)."""
    state = app_state()
    kpis = tuple(key for key, metric in state.plugins.metrics.items() if metric.source == "jobs")
    if not kpis:
        return {}
    try:
        answer = service.scorecards_answer(
            db_session(),
            state.plugins,
            start=period_start,
            end=period_end + timedelta(days=1),
            period="month",
            zone=state.settings.zone,
            scope=current_scope(),
            kpis=kpis,
            min_sample=state.settings.min_sample,
            cache=shared_cache(state.settings),
            ttl=state.settings.cache_ttl,
            status_min_sample=state.settings.status_min_sample,
            now=state.clock(),
            sums=sums_cache(state.settings, state.database.engine),
        )
    except Invalid:  # a period the scorecards cannot cover (too many months): no scorecard beside it
        return {}
    return {row["technician_id"]: row["score"] for row in json.loads(answer.body)["technicians"]}


@blp.route("")
class Calibration(MethodView):
    @requires(blp, "evaluations.calibrate")
    @blp.arguments(CalibrationQuerySchema, location="query")
    @blp.response(200, CalibrationSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="A range that ends before it starts")
    @blp.doc(operationId="getEvaluatorCalibration", summary="Compare evaluators", description=HOW)
    def get(self, query: dict[str, Any]) -> Any:
        """Per evaluator, over the submitted evaluations (latest revisions) whose period overlaps the range,
        of the technicians you may see (managers: their teams'): how many, their mean score, the other
        evaluators' mean for the same technicians and periods, the leniency difference with its 95 % t
        interval, and the correlation with the technicians' KPI scorecards. A range with no evaluations
        answers no evaluators and the reason."""
        return calibration.calibration(db_session(), current_scope(), query["start"], query["end"], scorecard_scores)
