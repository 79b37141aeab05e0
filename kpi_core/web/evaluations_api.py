"""/api/v1/evaluations: the form, and managers' evaluations (scoped: technicians see their own)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from werkzeug.exceptions import UnprocessableEntity

from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.evaluations import idempotency, service
from kpi_core.evaluations.form import TEXT_MAX, InvalidFields, current_form
from kpi_core.evaluations.policy import FORMULAS
from kpi_core.storage.models import EVALUATION_STATUSES, Evaluation, Technician
from kpi_core.web import appraisals
from kpi_core.web.access import current_actor, current_principal, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema, error_response
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.sorting import order_by, sort_field
from kpi_core.web.state import app_state

blp = Blueprint("evaluations", __name__, url_prefix="/api/v1/evaluations", description="Managers' evaluations")

NEW_STATUSES = ("draft", "submitted")
ANSWERS_DOC = "Answers by form field key; null leaves a field unanswered"
CREATE = "createEvaluation"
REPLAYED = "Idempotent-Replayed"


@blp.errorhandler(InvalidFields)
def every_field_error(error: InvalidFields) -> Response:
    """Every invalid field at once (the app's handler of Invalid names only one)."""
    errors = {"json": {field: [message] for field, message in error.problems.items()}}
    count = len(error.problems)
    message = f"{count} answer{'s' if count != 1 else ''} to correct" if count > 1 else error.message
    unprocessable = UnprocessableEntity()
    unprocessable.data = {"message": message, "errors": errors}  # type: ignore[attr-defined]
    return error_response(unprocessable)


class FormFieldSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": ["rating", "yes_no", "number", "choice", "text"]})
    required = fields.Boolean(required=True)
    weight = fields.Float(required=True, metadata={"description": "Share in the score; 0 is asked, not scored"})
    help_text = fields.String()
    choices = fields.List(fields.String(), metadata={"description": "For choice fields, worst to best"})
    minimum = fields.Float(allow_none=True)
    maximum = fields.Float(allow_none=True)
    scale_labels = fields.List(
        fields.String(),
        metadata={"description": "For rating and number fields: what the lowest and highest ends mean, lowest first"},
    )
    asked_of_technicians = fields.Boolean(
        metadata={"description": "Also on the self-appraisal form, where technicians answer it about themselves"}
    )


class DeclaredFieldSchema(FormFieldSchema):
    plugin = fields.String(required=True, metadata={"description": "The plugin that declared the field"})


class FormSchema(Schema):
    version = fields.String(required=True, metadata={"description": "Changes whenever the fields change"})
    # Named apart from Schema.fields; answered as "fields".
    form_fields = fields.List(fields.Nested(DeclaredFieldSchema), required=True, data_key="fields")


class EvaluationSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    technician_id = fields.Integer(required=True)
    evaluator_id = fields.Integer(allow_none=True, metadata={"description": "The user who wrote it"})
    period_start = CalendarDate(required=True)
    period_end = CalendarDate(required=True)
    status = fields.String(required=True, metadata={"enum": list(EVALUATION_STATUSES)})
    answers = fields.Dict(keys=fields.String(), required=True, metadata={"description": "Answers by form field key"})
    score = fields.Float(allow_none=True, metadata={"description": "0-100: weighted mean of normalised answers"})
    form_version = fields.String(required=True)
    form_snapshot = fields.List(
        fields.Nested(FormFieldSchema), metadata={"description": "The form it was made on, to render it with"}
    )
    revision = fields.Integer(required=True)
    supersedes_id = fields.Integer(allow_none=True, metadata={"description": "The revision this one replaces"})
    technician_comment = fields.String(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    kpi_snapshot = fields.Nested(
        appraisals.AppraisalNumbersSchema,
        allow_none=True,
        metadata={
            "description": "The technician's KPI values for the period as the evaluator was shown them, kept when "
            "it was submitted; null for a draft (GET /api/v1/evaluations/kpi-values shows them live) and for "
            "evaluations submitted before appraisals kept them"
        },
    )
    self_appraisal_id = fields.Integer(
        allow_none=True, metadata={"description": "The technician's submitted self-appraisal of the same period"}
    )
    self_score = fields.Float(allow_none=True, metadata={"description": "That self-appraisal's score, 0-100"})
    final_score = fields.Float(
        allow_none=True,
        metadata={"description": "0-100: the score and the self-appraisal's combined by final_formula"},
    )
    final_formula = fields.String(
        allow_none=True,
        metadata={
            "enum": [*FORMULAS, None],
            "description": "How final_score was made (the setting core.final_score_formula then; manager_only "
            "without a self-appraisal)",
        },
    )
    self_weight = fields.Float(
        allow_none=True, metadata={"description": "The self-appraisal's share (0-1) under the weighted formula"}
    )


class EvaluationSummarySchema(EvaluationSchema):
    """An evaluation as listed: without the form snapshot and the KPI numbers."""

    class Meta:
        exclude = ("form_snapshot", "kpi_snapshot")


class EvaluationInSchema(StrictSchema):
    technician_id = fields.Integer(
        required=True, validate=RECORD_ID, error_messages={"required": "Choose the technician you are evaluating"}
    )
    period_start = CalendarDate(required=True, error_messages={"required": "Enter the first day of the period"})
    period_end = CalendarDate(
        required=True,
        metadata={"description": "On or after period_start"},
        error_messages={"required": "Enter the last day of the period"},
    )
    answers = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": ANSWERS_DOC})
    status = fields.String(
        load_default="draft",
        validate=validate.OneOf(NEW_STATUSES),
        metadata={"description": "submitted requires every required field to be answered"},
    )

    @validates_schema(skip_on_field_errors=False)
    def _with_the_rest(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # The service's checks (technician, period, answers) run here too, beside the fields' own, so
        # that a body is answered with every problem at once; the service checks again before writing.
        form = current_form(app_state().plugins)
        problems = service.new_evaluation_problems(db_session(), current_scope(), form, data)
        if problems:
            raise ValidationError({field: [message] for field, message in problems.items()})


class IdempotencyHeadersSchema(Schema):
    idempotency_key = fields.String(
        data_key=idempotency.HEADER,
        validate=[
            validate.Length(min=1, max=idempotency.KEY_MAX),
            validate.Regexp(idempotency.KEY_PATTERN, error="Use visible ASCII characters only, such as a UUID"),
        ],
        metadata={
            "description": "Makes the create safe to retry: the same key with the same body (by the same user) "
            "answers the evaluation the first request created, with 201 again and the header "
            "Idempotent-Replayed: true, instead of creating another; the same key with a different body "
            "is refused (422). Send a new key (a UUID) for each new evaluation."
        },
    )


class EvaluationPatchSchema(StrictSchema):
    technician_id = fields.Integer(validate=RECORD_ID)
    period_start = CalendarDate()
    period_end = CalendarDate()
    answers = fields.Dict(keys=fields.String(), metadata={"description": f"Replaces all answers. {ANSWERS_DOC}"})


class RevisionInSchema(StrictSchema):
    period_start = CalendarDate(metadata={"description": "Defaults to the revised evaluation's"})
    period_end = CalendarDate(metadata={"description": "Defaults to the revised evaluation's"})
    answers = fields.Dict(
        keys=fields.String(),
        metadata={"description": f"Defaults to the revised evaluation's answers. {ANSWERS_DOC}"},
    )
    status = fields.String(load_default="draft", validate=validate.OneOf(NEW_STATUSES))


class AcknowledgeSchema(StrictSchema):
    comment = fields.String(allow_none=True, validate=validate.Length(max=TEXT_MAX))


class EvaluationQuerySchema(StrictSchema):
    technician = fields.Integer(validate=RECORD_ID, metadata={"description": "Technician id"})
    team = fields.Integer(validate=RECORD_ID, metadata={"description": "Team id"})
    status = fields.String(validate=validate.OneOf(EVALUATION_STATUSES))
    period_from = CalendarDate(metadata={"description": "Periods ending on or after this date"})
    period_to = CalendarDate(metadata={"description": "Periods starting on or before this date"})
    latest = fields.Boolean(metadata={"description": "true: only the latest revisions; false: only superseded ones"})
    sort = sort_field(service.SORTABLE, "-period_end")


NOT_FOUND = "No such evaluation (or not yours to see)"


@blp.route("/form")
class EvaluationForm(MethodView):
    @requires(blp, "evaluations.read")
    @blp.etag
    @blp.response(200, FormSchema)
    @blp.doc(operationId="getEvaluationForm", summary="Read the evaluation form")
    def get(self) -> Any:
        """The form new evaluations are made on: every plugin's fields, in plugin order, and its version."""
        form = current_form(app_state().plugins)
        declared = [{**item, "plugin": form.plugins[item["key"]]} for item in form.snapshot]
        return {"version": form.version, "form_fields": declared}


@blp.route("/kpi-values")
class EvaluationNumbers(MethodView):
    @requires(blp, "evaluations.read")
    @blp.arguments(appraisals.NumbersQuerySchema, location="query")
    @blp.response(200, appraisals.AppraisalNumbersSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such technician (or not yours to see)")
    @blp.alt_response(422, schema=ErrorSchema, description="A period that ends before it starts")
    @blp.doc(operationId="getEvaluationNumbers", summary="Read a technician's KPI values for an evaluation's period")
    def get(self, query: dict[str, Any]) -> Any:
        """The numbers the evaluation form shows beside its questions, read-only: each KPI's value over the
        whole period with its sample, target, status (so far / too few jobs / provisional) and the team's
        value, and the technician's scorecard score. An evaluation submitted for the same technician and period
        keeps them (``kpi_snapshot``). Technicians may read their own (for their self-appraisal)."""
        session, scope = db_session(), current_scope()
        visible = select(Technician.id).where(
            Technician.id == query["technician"], scope.technicians(Technician.id, Technician.team_id)
        )
        if session.scalar(visible) is None:
            raise NotFound(f"no technician with id {query['technician']}")
        if query["period_end"] < query["period_start"]:
            raise Invalid("period_end", "The period must end on or after the day it starts", location="query")
        return appraisals.numbers()(query["technician"], query["period_start"], query["period_end"])


@blp.route("")
class Evaluations(MethodView):
    @requires(blp, "evaluations.read")
    @blp.arguments(EvaluationQuerySchema, location="query")
    @blp.response(200, EvaluationSummarySchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listEvaluations", summary="List evaluations")
    def get(self, query: dict[str, Any]) -> Any:
        """Evaluations one may see (technicians: their own, once submitted; managers: their teams'),
        filtered by technician, team, status, period and revision. Items leave out the form snapshot."""
        statement = service.evaluation_query(current_scope(), query)
        return statement.order_by(*order_by(service.SORTABLE, query["sort"], Evaluation.id))

    @requires(blp, "evaluations.write")
    @blp.etag
    @blp.arguments(EvaluationInSchema)
    @blp.arguments(IdempotencyHeadersSchema, location="headers")
    @blp.response(
        201,
        EvaluationSchema,
        headers={
            REPLAYED: {
                "description": "true when the answer repeats an earlier request with the same key",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    )
    @blp.alt_response(422, schema=ErrorSchema, description="Every invalid field at once, by field path")
    @blp.alt_response(409, schema=ErrorSchema, description="The key's evaluation has since been deleted")
    @blp.doc(operationId=CREATE, summary="Create an evaluation")
    def post(self, body: dict[str, Any], headers: dict[str, Any]) -> Any:
        """Evaluate a technician (managers: of a team they manage) on the current form, as a draft
        (may be incomplete) or submitted directly (every required field answered). A 422 names every
        invalid field at once. With an ``Idempotency-Key`` header a retry creates nothing new."""
        session, scope, actor = db_session(), current_scope(), current_actor()
        key = headers.get("idempotency_key")
        user_id = current_principal().user_id
        body_hash = idempotency.fingerprint(body)
        if key:
            first = idempotency.previous(session, user_id, CREATE, key, body_hash)
            if first is not None:
                return _replay(first.resource_id, first.status_code)
        form = current_form(app_state().plugins)
        evaluation = service.create_evaluation(session, scope, actor, form, body, appraisals.appraisal())
        if key:
            first = idempotency.remember(
                session, user_id, CREATE, key, body_hash, status_code=201, resource_id=evaluation.id
            )
            if first is not None:  # a concurrent request with this key won: answer its evaluation
                session.rollback()
                return _replay(first.resource_id, first.status_code)
        commit()
        return evaluation


def _replay(evaluation_id: int, status_code: int) -> Any:
    try:
        evaluation = service.get_evaluation(db_session(), current_scope(), evaluation_id)
    except NotFound:
        raise Conflict(
            idempotency.HEADER, "the evaluation made with this key has since been deleted: send a new key to create one"
        ) from None
    return evaluation, status_code, {REPLAYED: "true"}


@blp.route("/<int:evaluation_id>")
class EvaluationItem(MethodView):
    @requires(blp, "evaluations.read")
    @blp.etag
    @blp.response(200, EvaluationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.doc(operationId="getEvaluation", summary="Read an evaluation")
    def get(self, evaluation_id: int) -> Any:
        """One evaluation with the snapshot of the form it was made on; the ETag header is needed to change it."""
        return service.get_evaluation(db_session(), current_scope(), evaluation_id)

    @requires(blp, "evaluations.write")
    @blp.etag
    @blp.arguments(EvaluationPatchSchema)
    @blp.response(200, EvaluationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Not a draft")
    @blp.doc(operationId="updateEvaluation", summary="Change a draft evaluation")
    def patch(self, body: dict[str, Any], evaluation_id: int) -> Any:
        """Change a draft; ``answers`` replaces all its answers. Send the ETag in If-Match
        (428 without it, 412 if stale). A submitted evaluation is changed by a revision."""
        session, scope = db_session(), current_scope()
        evaluation = service.get_evaluation(session, scope, evaluation_id)
        blp.check_etag(evaluation, EvaluationSchema)
        evaluation = service.update_evaluation(
            session, scope, current_actor(), evaluation, body, appraisals.appraisal()
        )
        commit()
        return evaluation

    @requires(blp, "evaluations.write")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Not a draft")
    @blp.doc(operationId="deleteEvaluation", summary="Delete a draft evaluation")
    def delete(self, evaluation_id: int) -> None:
        """Delete a draft (If-Match required); submitted evaluations are kept."""
        session = db_session()
        evaluation = service.get_evaluation(session, current_scope(), evaluation_id)
        blp.check_etag(evaluation, EvaluationSchema)
        service.delete_evaluation(session, current_actor(), evaluation)
        commit()


@blp.route("/<int:evaluation_id>/submit")
class EvaluationSubmit(MethodView):
    @requires(blp, "evaluations.write")
    @blp.etag
    @blp.response(200, EvaluationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Not a draft")
    @blp.alt_response(422, schema=ErrorSchema, description="A required field is unanswered")
    @blp.doc(operationId="submitEvaluation", summary="Submit a draft evaluation")
    def post(self, evaluation_id: int) -> Any:
        """draft -> submitted: checks that every required field is answered and records the time."""
        session = db_session()
        evaluation = service.get_evaluation(session, current_scope(), evaluation_id)
        evaluation = service.submit_evaluation(session, current_actor(), evaluation, appraisals.appraisal())
        commit()
        return evaluation


@blp.route("/<int:evaluation_id>/acknowledge")
class EvaluationAcknowledge(MethodView):
    @requires(blp, "evaluations.acknowledge")
    @blp.etag
    @blp.arguments(AcknowledgeSchema, required=False)
    @blp.response(200, EvaluationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Not submitted, or replaced by a revision")
    @blp.doc(operationId="acknowledgeEvaluation", summary="Acknowledge one's own evaluation")
    def post(self, body: dict[str, Any], evaluation_id: int) -> Any:
        """submitted -> acknowledged, by the evaluated technician only, with an optional comment."""
        session = db_session()
        evaluation = service.get_evaluation(session, current_scope(), evaluation_id)
        if evaluation.technician_id != current_principal().technician_id:
            abort(403, message="only the evaluated technician may acknowledge an evaluation")
        evaluation = service.acknowledge_evaluation(session, current_actor(), evaluation, body.get("comment"))
        commit()
        return evaluation


@blp.route("/<int:evaluation_id>/revisions")
class EvaluationRevisions(MethodView):
    @requires(blp, "evaluations.write")
    @blp.etag
    @blp.arguments(RevisionInSchema, required=False)
    @blp.response(201, EvaluationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="A draft, or not the latest revision")
    @blp.doc(operationId="reviseEvaluation", summary="Revise a submitted evaluation")
    def post(self, body: dict[str, Any], evaluation_id: int) -> Any:
        """A new evaluation (revision + 1, on the current form) that supersedes this one, which is kept
        unchanged. Only the latest revision can be revised; fields not given are copied from it."""
        session = db_session()
        evaluation = service.get_evaluation(session, current_scope(), evaluation_id)
        form = current_form(app_state().plugins)
        revision = service.revise_evaluation(session, current_actor(), form, evaluation, body, appraisals.appraisal())
        commit()
        return revision
