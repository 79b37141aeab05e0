"""/api/v1/self-appraisals: technicians appraise themselves on the questions asked of them.

A technician fills in one self-appraisal per period, about themselves only;
their manager reads it (once submitted) beside their own answers when
evaluating the same technician and period.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kpi_core.evaluations import self_appraisals as service
from kpi_core.evaluations.form import TEXT_MAX, InvalidFields, current_form
from kpi_core.evaluations.scoring import form_snapshot
from kpi_core.storage.models import SELF_APPRAISAL_STATUSES, SelfAppraisal
from kpi_core.web import appraisals
from kpi_core.web.access import current_actor, current_principal, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.evaluations_api import ANSWERS_DOC, FormFieldSchema, FormSchema, every_field_error
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.sorting import order_by, sort_field
from kpi_core.web.state import app_state

blp = Blueprint(
    "self_appraisals",
    __name__,
    url_prefix="/api/v1/self-appraisals",
    description="Technicians' appraisals of themselves, shown to their managers beside their evaluations",
)
blp.errorhandler(InvalidFields)(every_field_error)

NOT_FOUND = "No such self-appraisal (or not yours to see)"
ONLY_YOURSELF = "A self-appraisal is about yourself: you can fill one in only as the technician it is about"
COMMENT = "Anything you want your manager to know about the period, in your own words"


class SelfAppraisalSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    technician_id = fields.Integer(required=True)
    user_id = fields.Integer(allow_none=True, metadata={"description": "The user who wrote it"})
    period_start = CalendarDate(required=True)
    period_end = CalendarDate(required=True)
    status = fields.String(required=True, metadata={"enum": list(SELF_APPRAISAL_STATUSES)})
    answers = fields.Dict(keys=fields.String(), required=True, metadata={"description": "Answers by form field key"})
    score = fields.Float(allow_none=True, metadata={"description": "0-100: weighted mean of normalised answers"})
    comment = fields.String(allow_none=True, metadata={"description": COMMENT})
    form_version = fields.String(required=True)
    form_snapshot = fields.List(
        fields.Nested(FormFieldSchema), metadata={"description": "The questions it answers, to render it with"}
    )
    kpi_snapshot = fields.Nested(
        appraisals.AppraisalNumbersSchema,
        allow_none=True,
        metadata={
            "description": "The technician's KPI values for the period as they were shown them, kept on submission"
        },
    )
    submitted_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SelfAppraisalSummarySchema(SelfAppraisalSchema):
    """A self-appraisal as listed: without its form and numbers."""

    class Meta:
        exclude = ("form_snapshot", "kpi_snapshot")


STATUS = fields.String(
    load_default="draft",
    validate=validate.OneOf(SELF_APPRAISAL_STATUSES),
    metadata={"description": "submitted requires every required question to be answered; a submitted one is final"},
)


class SelfAppraisalInSchema(StrictSchema):
    technician_id = fields.Integer(
        validate=RECORD_ID, metadata={"description": "Yourself (the default); anyone else is refused (403)"}
    )
    period_start = CalendarDate(required=True, error_messages={"required": "Enter the first day of the period"})
    period_end = CalendarDate(required=True, error_messages={"required": "Enter the last day of the period"})
    answers = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": ANSWERS_DOC})
    comment = fields.String(allow_none=True, validate=validate.Length(max=TEXT_MAX), metadata={"description": COMMENT})
    status = STATUS

    @validates_schema(skip_on_field_errors=False)
    def _with_the_rest(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # The service's checks (period, answers) run beside the fields' own, so that a body is answered with
        # every problem at once; the service checks again before writing.
        form = service.technician_form(current_form(app_state().plugins))
        problems = service.new_self_appraisal_problems(form, data, policy=appraisals.policy(), today=appraisals.today())
        if problems:
            raise ValidationError({field: [message] for field, message in problems.items()})


class SelfAppraisalPatchSchema(StrictSchema):
    period_start = CalendarDate()
    period_end = CalendarDate()
    answers = fields.Dict(keys=fields.String(), metadata={"description": f"Replaces all answers. {ANSWERS_DOC}"})
    comment = fields.String(allow_none=True, validate=validate.Length(max=TEXT_MAX), metadata={"description": COMMENT})
    status = fields.String(
        validate=validate.OneOf(SELF_APPRAISAL_STATUSES), metadata={"description": "submitted: submit it now"}
    )


class SelfAppraisalQuerySchema(StrictSchema):
    technician = fields.Integer(validate=RECORD_ID, metadata={"description": "Technician id"})
    team = fields.Integer(validate=RECORD_ID, metadata={"description": "Team id"})
    status = fields.String(validate=validate.OneOf(SELF_APPRAISAL_STATUSES))
    period_start = CalendarDate(metadata={"description": "Periods starting on exactly this day"})
    period_end = CalendarDate(metadata={"description": "Periods ending on exactly this day"})
    period_from = CalendarDate(metadata={"description": "Periods ending on or after this date"})
    period_to = CalendarDate(metadata={"description": "Periods starting on or before this date"})
    sort = sort_field(service.SORTABLE, "-period_end")


def _own_technician(body: dict[str, Any]) -> int:
    """The caller's technician: the only one they may appraise (403 for anyone else, whoever it is)."""
    own = current_principal().technician_id
    if own is None:
        abort(403, message="Only a technician fills in a self-appraisal, about themselves")
    if body.get("technician_id", own) != own:
        abort(403, message=ONLY_YOURSELF)
    return own


@blp.route("/form")
class SelfAppraisalForm(MethodView):
    @requires(blp, "self_appraisals.read")
    @blp.etag
    @blp.response(200, FormSchema)
    @blp.doc(operationId="getSelfAppraisalForm", summary="Read the self-appraisal form")
    def get(self) -> Any:
        """The questions technicians answer about themselves: the evaluation form's fields that are asked of
        technicians (``asked_of_technicians``), in the same order, and the version of that selection."""
        form = service.technician_form(current_form(app_state().plugins))
        declared = [{**item, "plugin": form.plugins[item["key"]]} for item in form_snapshot(form.fields)]
        return {"version": form.version, "form_fields": declared}


@blp.route("")
class SelfAppraisals(MethodView):
    @requires(blp, "self_appraisals.read")
    @blp.arguments(SelfAppraisalQuerySchema, location="query")
    @blp.response(200, SelfAppraisalSummarySchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listSelfAppraisals", summary="List self-appraisals")
    def get(self, query: dict[str, Any]) -> Any:
        """Self-appraisals one may see: technicians their own (drafts too); managers their teams'
        technicians' submitted ones; admins every submitted one. Items leave out the form and numbers."""
        statement = service.self_appraisal_query(current_scope(), query)
        return statement.order_by(*order_by(service.SORTABLE, query["sort"], SelfAppraisal.id))

    @requires(blp, "self_appraisals.write")
    @blp.arguments(SelfAppraisalInSchema)
    @blp.response(201, SelfAppraisalSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="You already have one for this period")
    @blp.alt_response(422, schema=ErrorSchema, description="Every invalid field at once, by field path")
    @blp.doc(operationId="createSelfAppraisal", summary="Fill in a self-appraisal")
    def post(self, body: dict[str, Any]) -> Any:
        """Appraise yourself for a period, as a draft or submitted (every required question answered), on
        the questions asked of technicians. Refused (403) for anyone but yourself; refused (422 naming
        period_end) for a period not over yet unless the company allows it
        (``core.self_appraisal_before_period_end``). Keeps your KPI values for the period as shown to you."""
        technician_id = _own_technician(body)
        form = service.technician_form(current_form(app_state().plugins))
        appraisal = service.create_self_appraisal(
            db_session(),
            current_actor(),
            technician_id,
            form,
            body,
            policy=appraisals.policy(),
            today=appraisals.today(),
            numbers=appraisals.numbers(),
        )
        commit()
        return appraisal


@blp.route("/<int:appraisal_id>")
class SelfAppraisalItem(MethodView):
    @requires(blp, "self_appraisals.read")
    @blp.etag
    @blp.response(200, SelfAppraisalSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.doc(operationId="getSelfAppraisal", summary="Read a self-appraisal")
    def get(self, appraisal_id: int) -> Any:
        """One self-appraisal with its questions and the numbers shown to the technician."""
        return service.get_self_appraisal(db_session(), current_scope(), appraisal_id)

    @requires(blp, "self_appraisals.write")
    @blp.etag
    @blp.arguments(SelfAppraisalPatchSchema)
    @blp.response(200, SelfAppraisalSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Already submitted, or another one has that period")
    @blp.doc(operationId="updateSelfAppraisal", summary="Change or submit a draft self-appraisal")
    def patch(self, body: dict[str, Any], appraisal_id: int) -> Any:
        """Change your draft; ``answers`` replaces all its answers and ``status: submitted`` submits it.
        Send the ETag in If-Match (428 without it, 412 if stale)."""
        session = db_session()
        appraisal = service.get_self_appraisal(session, current_scope(), appraisal_id)
        _own_technician({"technician_id": appraisal.technician_id})
        blp.check_etag(appraisal, SelfAppraisalSchema)
        appraisal = service.update_self_appraisal(
            session,
            current_actor(),
            appraisal,
            body,
            policy=appraisals.policy(),
            today=appraisals.today(),
            numbers=appraisals.numbers(),
        )
        commit()
        return appraisal
