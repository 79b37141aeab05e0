"""/api/v1/feedback (scoped through the job's technician)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kpi_core.records import feedback
from kpi_core.storage.models import Feedback
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CompanyDateTime, StrictSchema
from kpi_core.web.sorting import order_by, sort_field

blp = Blueprint("feedback", __name__, url_prefix="/api/v1/feedback", description="Customer feedback on jobs")

ID = RECORD_ID
ZONE_NOTE = "ISO 8601; without a zone it is read in the company time zone; answered in UTC with its offset."
DOCS = {
    "job_id": "The job it is about: one you may see; each job has at most one feedback",
    "rating": "Customer's rating, 1 (worst) to 5 (best)",
    "nps": "Net Promoter answer, 0 to 10, if asked",
    "comment": f"Customer's words, at most {feedback.MAX_COMMENT} characters",
    "received_at": f"When the feedback arrived. {ZONE_NOTE}",
}


class FeedbackSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    job_id = fields.Integer(required=True, metadata={"description": DOCS["job_id"]})
    rating = fields.Integer(required=True, metadata={"description": DOCS["rating"]})
    nps = fields.Integer(allow_none=True, metadata={"description": DOCS["nps"]})
    comment = fields.String(allow_none=True, metadata={"description": DOCS["comment"]})
    received_at = CompanyDateTime(required=True, metadata={"description": DOCS["received_at"]})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class FeedbackPatchSchema(StrictSchema):
    rating = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=5), metadata={"description": DOCS["rating"]}
    )
    nps = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=10), metadata={"description": DOCS["nps"]}
    )
    comment = fields.String(
        allow_none=True, validate=validate.Length(max=feedback.MAX_COMMENT), metadata={"description": DOCS["comment"]}
    )
    received_at = CompanyDateTime(metadata={"description": DOCS["received_at"]})


class FeedbackInSchema(FeedbackPatchSchema):
    job_id = fields.Integer(required=True, validate=ID, metadata={"description": DOCS["job_id"]})
    rating = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=5), metadata={"description": DOCS["rating"]}
    )
    received_at = CompanyDateTime(required=True, metadata={"description": DOCS["received_at"]})


class FeedbackQuerySchema(StrictSchema):
    technician = fields.Integer(validate=ID, metadata={"description": "Technician id (of the job)"})
    team = fields.Integer(validate=ID, metadata={"description": "Team id (of the job's technician)"})
    job = fields.Integer(validate=ID, metadata={"description": "Job id"})
    rating = fields.Integer(validate=validate.Range(min=1, max=5))
    from_ = CompanyDateTime(
        data_key="from", attribute="from", metadata={"description": f"received_at at or after. {ZONE_NOTE}"}
    )
    to = CompanyDateTime(metadata={"description": f"received_at before (exclusive). {ZONE_NOTE}"})
    sort = sort_field(feedback.SORTABLE, "-received_at")

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("from") is not None and data.get("to") is not None and data["to"] <= data["from"]:
            raise ValidationError("Must be later than from.", "to")


@blp.route("")
class FeedbackList(MethodView):
    @requires(blp, "feedback.read")
    @blp.arguments(FeedbackQuerySchema, location="query")
    @blp.response(200, FeedbackSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listFeedback", summary="List feedback")
    def get(self, query: dict[str, Any]) -> Any:
        """Feedback on jobs one may see, filtered by technician, team, job, rating and when it was received."""
        statement = feedback.feedback_query(current_scope(), query)
        return statement.order_by(*order_by(feedback.SORTABLE, query["sort"], Feedback.id))

    @requires(blp, "feedback.manage")
    @blp.arguments(FeedbackInSchema)
    @blp.response(201, FeedbackSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The job already has feedback")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field or job (named in errors)")
    @blp.doc(operationId="createFeedback", summary="Record feedback on a job")
    def post(self, body: dict[str, Any]) -> Any:
        """Record a job's feedback (managers: on their teams' jobs); a job has at most one."""
        created = feedback.create_feedback(db_session(), current_scope(), current_actor(), body)
        commit()
        return created


@blp.route("/<int:feedback_id>")
class FeedbackItem(MethodView):
    @requires(blp, "feedback.read")
    @blp.etag
    @blp.response(200, FeedbackSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such feedback (or not yours to see)")
    @blp.doc(operationId="getFeedback", summary="Read feedback")
    def get(self, feedback_id: int) -> Any:
        """One feedback; the ETag header is needed to change it."""
        return feedback.get_feedback(db_session(), current_scope(), feedback_id)

    @requires(blp, "feedback.manage")
    @blp.etag
    @blp.arguments(FeedbackPatchSchema)
    @blp.response(200, FeedbackSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such feedback (or not yours to see)")
    @blp.doc(operationId="updateFeedback", summary="Change feedback")
    def patch(self, body: dict[str, Any], feedback_id: int) -> Any:
        """Change the given fields (not the job). Send the ETag in If-Match (428 without it, 412 if stale)."""
        session, scope = db_session(), current_scope()
        item = feedback.get_feedback(session, scope, feedback_id, for_update=True)
        blp.check_etag(item, FeedbackSchema)
        item = feedback.update_feedback(session, scope, current_actor(), item, body)
        commit()
        return item

    @requires(blp, "feedback.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such feedback (or not yours to see)")
    @blp.doc(operationId="deleteFeedback", summary="Delete feedback")
    def delete(self, feedback_id: int) -> None:
        """Delete a feedback (If-Match required)."""
        session = db_session()
        item = feedback.get_feedback(session, current_scope(), feedback_id, for_update=True)
        blp.check_etag(item, FeedbackSchema)
        feedback.delete_feedback(session, current_actor(), item)
        commit()
