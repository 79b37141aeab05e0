"""/api/v1/disputes, /api/v1/jobs/{id}/disputes and /api/v1/callbacks: disputes of callbacks' attribution.

Scoped through the original job's crew (kpi_core/records/disputes.py): technicians see the disputes of
jobs they were on, managers those of their teams' technicians, admins all.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.notify.alerts import request_evaluation
from kpi_core.records import disputes
from kpi_core.storage.models import DISPUTE_REASONS, DISPUTE_STATUSES, CallbackDispute
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, StrictSchema
from kpi_core.web.sorting import order_by, sort_field

blp = Blueprint(
    "disputes",
    __name__,
    url_prefix="/api/v1",
    description="Disputes of callbacks: a return visit that was not the original crew's workmanship",
)

MAX_ORIGINALS = 100
REASON_DOC = "Why the callback was not the crew's workmanship: " + "; ".join(
    f"{code}: {words}" for code, words in disputes.REASONS.items()
)
STATUS_DOC = "; ".join(f"{code}: {words}" for code, words in disputes.STATUSES.items())


class DisputeSchema(Schema):
    id = fields.Integer(required=True)
    callback_job_id = fields.Integer(required=True, metadata={"description": "The callback (the return visit)"})
    callback_ref = fields.String(required=True)
    callback_status = fields.String(required=True, metadata={"description": "The callback's job status"})
    callback_scheduled_start = fields.DateTime(required=True, allow_none=True)
    original_job_id = fields.Integer(
        required=True, metadata={"description": "The job the callback counts against (its first-time fix)"}
    )
    original_ref = fields.String(required=True)
    category = fields.String(required=True, metadata={"description": "The original job's kind of work"})
    original_completed_at = fields.DateTime(required=True, allow_none=True)
    technician_id = fields.Integer(required=True, metadata={"description": "The original job's lead technician"})
    technician = fields.String(required=True, metadata={"description": "The lead's name"})
    crew = fields.List(
        fields.String(), required=True, metadata={"description": "The original job's crew, lead first (names)"}
    )
    reason = fields.String(required=True, metadata={"enum": list(DISPUTE_REASONS), "description": REASON_DOC})
    reason_label = fields.String(required=True, metadata={"description": "The reason in words"})
    comment = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(DISPUTE_STATUSES), "description": STATUS_DOC})
    status_label = fields.String(required=True, metadata={"description": "The status in words"})
    opened_by_id = fields.Integer(required=True, allow_none=True, metadata={"description": "The user who opened it"})
    opened_by = fields.String(required=True, allow_none=True, metadata={"description": "Their name"})
    opened_at = fields.DateTime(required=True)
    decided_by_id = fields.Integer(required=True, allow_none=True, metadata={"description": "The user who decided"})
    decided_by = fields.String(required=True, allow_none=True, metadata={"description": "Their name"})
    decided_at = fields.DateTime(required=True, allow_none=True)
    decision_note = fields.String(required=True, allow_none=True, metadata={"description": "Why it was decided so"})


class DisputeInSchema(StrictSchema):
    reason = fields.String(
        required=True, validate=validate.OneOf(DISPUTE_REASONS), metadata={"description": REASON_DOC}
    )
    comment = fields.String(
        allow_none=True,
        validate=validate.Length(max=disputes.MAX_TEXT),
        metadata={"description": f"What happened, at most {disputes.MAX_TEXT} characters; required for other"},
    )


class DecisionSchema(StrictSchema):
    decision = fields.String(
        required=True,
        validate=validate.OneOf(tuple(disputes.DECISIONS)),
        metadata={"description": "accept (the callback no longer counts against the job) or reject"},
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=disputes.MAX_TEXT),
        metadata={"description": f"Why, at most {disputes.MAX_TEXT} characters; required to reject"},
    )


class DisputeQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(DISPUTE_STATUSES), metadata={"description": STATUS_DOC})
    technician = fields.Integer(
        validate=RECORD_ID, metadata={"description": "Technician id: disputes of jobs they were on the crew of"}
    )
    job = fields.Integer(validate=RECORD_ID, metadata={"description": "Job id: the callback or its original"})
    sort = sort_field(disputes.SORTABLE, "-opened_at")


class CallbackSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "The callback's job id"})
    external_ref = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "The callback's job status"})
    scheduled_start = fields.DateTime(required=True, allow_none=True)
    completed_at = fields.DateTime(required=True, allow_none=True)
    technician_id = fields.Integer(required=True, metadata={"description": "The callback's lead technician"})
    technician = fields.String(required=True)
    original_job_id = fields.Integer(required=True, metadata={"description": "The job it counts against"})
    original_ref = fields.String(required=True)
    disputes = fields.List(
        fields.Nested(DisputeSchema),
        required=True,
        metadata={"description": "Its disputes against that job, newest first"},
    )
    may_dispute = fields.Boolean(
        required=True,
        metadata={"description": "Whether a dispute can be opened now: not cancelled, none open or accepted"},
    )


class CallbackQuerySchema(StrictSchema):
    original = fields.List(
        fields.Integer(validate=RECORD_ID),
        validate=validate.Length(max=MAX_ORIGINALS),
        metadata={"description": f"Original job id: callbacks of these jobs (repeatable, up to {MAX_ORIGINALS})"},
    )
    technician = fields.Integer(
        validate=RECORD_ID, metadata={"description": "Technician id: callbacks of jobs they were on the crew of"}
    )
    callback = fields.Integer(validate=RECORD_ID, metadata={"description": "The callback's own job id"})


class DisputePage(SQLPage):
    """Pages dispute rows, each with its words and its original job's crew."""

    @property
    def items(self) -> list[Any]:
        session = db_session()
        return disputes.with_crews(session, session.execute(self.window(self.collection)).mappings())


class CallbackPage(SQLPage):
    """Pages callback rows, each with its disputes."""

    @property
    def items(self) -> list[Any]:
        session = db_session()
        rows = session.execute(self.window(self.collection)).mappings()
        return disputes.with_disputes(session, current_scope(), rows)


@blp.route("/disputes")
class DisputeList(MethodView):
    @requires(blp, "disputes.read")
    @blp.arguments(DisputeQuerySchema, location="query")
    @blp.response(200, DisputeSchema(many=True))
    @blp.paginate(DisputePage)
    @blp.doc(operationId="listDisputes", summary="List disputes of callbacks")
    def get(self, query: dict[str, Any]) -> Any:
        """Disputes one may see (technicians: of jobs they were on; managers: their teams'), newest first;
        ``status=open&sort=opened_at`` is the managers' queue, oldest first."""
        statement = disputes.dispute_query(current_scope(), query)
        return statement.order_by(*order_by(disputes.SORTABLE, query["sort"], CallbackDispute.id))


@blp.route("/disputes/<int:dispute_id>")
class DisputeItem(MethodView):
    @requires(blp, "disputes.read")
    @blp.response(200, DisputeSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such dispute (or not yours to see)")
    @blp.doc(operationId="getDispute", summary="Read a dispute")
    def get(self, dispute_id: int) -> Any:
        """One dispute, with who opened and who decided it."""
        return disputes.dispute_row(db_session(), current_scope(), dispute_id)


@blp.route("/disputes/<int:dispute_id>/decision")
class DisputeDecision(MethodView):
    @requires(blp, "disputes.decide")
    @blp.arguments(DecisionSchema)
    @blp.response(200, DisputeSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such dispute (or not yours to decide)")
    @blp.alt_response(409, schema=ErrorSchema, description="The dispute is decided already")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid decision, or a rejection without a note")
    @blp.doc(operationId="decideDispute", summary="Accept or reject a dispute")
    def post(self, body: dict[str, Any], dispute_id: int) -> Any:
        """Accept (the callback no longer counts against the original job's first-time fix) or reject an open
        dispute; managers of the team and admins only. Audited; the KPI values it changes are recomputed."""
        session, scope = db_session(), current_scope()
        dispute = disputes.decide_dispute(
            session, scope, current_actor(), dispute_id, body["decision"], body.get("note")
        )
        commit()
        return disputes.dispute_row(session, scope, dispute.id)


@blp.route("/jobs/<int:job_id>/disputes")
class JobDisputes(MethodView):
    @requires(blp, "disputes.read")
    @blp.response(200, DisputeSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No such job (or not yours to see)")
    @blp.paginate(DisputePage)
    @blp.doc(operationId="listJobDisputes", summary="List the disputes of a job's callbacks")
    def get(self, job_id: int) -> Any:
        """The disputes of this job as a callback, and of its own callbacks, newest first."""
        scope = current_scope()
        disputes.visible_job(db_session(), scope, job_id)
        statement = disputes.dispute_query(scope, {"job": job_id})
        return statement.order_by(CallbackDispute.opened_at.desc(), CallbackDispute.id.desc())

    @requires(blp, "disputes.open")
    @blp.arguments(DisputeInSchema)
    @blp.response(201, DisputeSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job (or not yours to see)")
    @blp.alt_response(409, schema=ErrorSchema, description="The callback has an open or accepted dispute")
    @blp.alt_response(422, schema=ErrorSchema, description="Not a callback, or an invalid field (named in errors)")
    @blp.doc(operationId="openDispute", summary="Dispute a callback's attribution")
    def post(self, body: dict[str, Any], job_id: int) -> Any:
        """Dispute that the callback ``job_id`` counts against its original job's crew: the crew, a manager
        of their team or an admin, with a reason (``other`` needs a comment). Audited; a manager decides."""
        session, scope = db_session(), current_scope()
        dispute = disputes.open_dispute(session, scope, current_actor(), job_id, body["reason"], body.get("comment"))
        request_evaluation(session, runner(), requested_by=current_actor())  # the rules about disputed callbacks
        commit()
        return disputes.dispute_row(session, scope, dispute.id)


@blp.route("/callbacks")
class CallbackList(MethodView):
    @requires(blp, "disputes.read")
    @blp.arguments(CallbackQuerySchema, location="query")
    @blp.response(200, CallbackSchema(many=True))
    @blp.paginate(CallbackPage)
    @blp.doc(operationId="listCallbacks", summary="List callbacks and their disputes")
    def get(self, query: dict[str, Any]) -> Any:
        """Callbacks counted against jobs one may see (the original job's crew), with their disputes and
        whether one can be opened: what the drill-down's Dispute action reads."""
        statement = disputes.callback_query(current_scope(), query)
        return statement.order_by(statement.selected_columns.scheduled_start, statement.selected_columns.id)
