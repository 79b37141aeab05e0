"""/api/v1/jobs (scoped through the crew: technicians see the jobs they are on, managers the jobs with
a technician of their teams on the crew; only those who see a job's lead change it)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from kpi_core.declarations import JOB_FIELD_TYPES
from kpi_core.records import job_crews, job_fields, jobs
from kpi_core.records.crews import MAX_CREW
from kpi_core.storage.models import CREW_ROLES, JOB_STATUSES, Job
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CompanyDateTime, Money, StrictSchema
from kpi_core.web.sorting import order_by, sort_field
from kpi_core.web.state import app_state

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Jobs (work orders)")

ID = RECORD_ID
ZONE_NOTE = "ISO 8601; without a zone it is read in the company time zone; answered in UTC with its offset."
REVENUE_DOC = {
    "type": "string",
    "pattern": r"^\d{1,10}\.\d{2}$",
    "description": "Amount in the company's currency, at least 0 with at most 2 decimal places. "
    'Answered as a decimal string with exactly 2 places ("125.50") so no precision is lost; '
    "a JSON number is also accepted on input.",
}
RULES = {
    "status": "scheduled, completed or cancelled. A completed job needs completed_at; a scheduled job has "
    "no completed_at; a cancelled job may keep the times it reached.",
    "technician_id": "The lead technician: one you may see (managers: of your teams), else 422. For a job "
    "of one technician give technician_id alone; for a crew give technicians (technician_id, if given too, "
    "must be its lead)",
    "customer_id": "An existing customer, or null",
    "category": "Kind of work, e.g. plumbing; stored lower-case",
    "scheduled_start": "Start of the scheduled window",
    "scheduled_end": "End of the scheduled window: not before scheduled_start",
    "arrived_at": "When the technician arrived on site",
    "started_at": "When work started: not before arrived_at",
    "completed_at": "When work was completed: not before started_at; required when status is completed",
    "estimated_minutes": "Planned duration in minutes, 0 to 100000",
    "callback_of_id": "The job this one reworks: an existing job you may see, never this job itself",
}


FIELDS_DOC = (
    "Plugins' job fields by key (GET /api/v1/jobs/fields lists them), each a boolean, whole number, number "
    "or text as its declaration says"
)
FIELD_VALUE_DOC = {"type": ["boolean", "integer", "number", "string"]}


CREW_DOC = (
    "The crew: every technician on the job, the lead first, with their role and share of the job's credit "
    "(how a KPI credits a crew is the setting core.crew_credit)"
)
CREW_IN_DOC = (
    f"The crew, 1 to {MAX_CREW} technicians, none twice. Exactly one is the lead (a crew of one: that one; a "
    "member without a role is a helper). Shares are above 0 and sum to 1; members without a share split what "
    "the others leave equally (by default every member has an equal share). Each technician must be one you "
    "may see (managers: of your teams; one already on the job's crew may stay). On a change, the crew given "
    "replaces the crew. A problem is 422 naming technicians[i].technician_id, .role or .share, or technicians "
    "for the crew as a whole (no lead, shares not summing to 1)"
)


def _stamp(name: str) -> CompanyDateTime:
    return CompanyDateTime(allow_none=True, metadata={"description": f"{RULES[name]}. {ZONE_NOTE}"})


class JobCrewMemberSchema(Schema):
    technician_id = fields.Integer(required=True)
    technician = fields.String(required=True, metadata={"description": "The technician's name"})
    role = fields.String(required=True, metadata={"enum": list(CREW_ROLES), "description": "lead or helper"})
    share = fields.Float(
        required=True, metadata={"description": "Share of the job's credit, above 0 and at most 1; the crew's sum to 1"}
    )


class Crew(fields.List):
    """A job's crew as answered (:func:`job_crews.crew_of`): names read once for a whole page of jobs."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return job_crews.crew_of(db_session(), obj)


class Share(fields.Float):
    """A member's share: a number, NaN, infinities and numbers too large for a float refused. Whether
    it is above 0, at most 1 and sums to 1 with the others is the crew's rule (job_crews)."""

    def _validated(self, value: Any) -> Any:
        try:
            return super()._validated(value)
        except OverflowError:
            raise self.make_error("invalid") from None


class JobCrewMemberInSchema(StrictSchema):
    technician_id = fields.Integer(required=True, validate=ID, metadata={"description": "A technician you may see"})
    role = fields.String(
        allow_none=True,
        validate=validate.OneOf(CREW_ROLES),
        metadata={"description": "lead or helper; left out: the sole member leads, others help"},
    )
    share = Share(
        allow_none=True,
        metadata={
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "Share of the job's credit; left out: an equal part of what the others leave",
        },
    )


class JobSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    external_ref = fields.String(required=True, metadata={"description": "Your field-service system's id; unique"})
    technician_id = fields.Integer(required=True, metadata={"description": "The lead technician"})
    technicians = Crew(
        fields.Nested(JobCrewMemberSchema), required=True, dump_only=True, metadata={"description": CREW_DOC}
    )
    customer_id = fields.Integer(allow_none=True, metadata={"description": RULES["customer_id"]})
    category = fields.String(required=True, metadata={"description": RULES["category"]})
    status = fields.String(required=True, metadata={"enum": list(JOB_STATUSES), "description": RULES["status"]})
    scheduled_start = _stamp("scheduled_start")
    scheduled_end = _stamp("scheduled_end")
    arrived_at = _stamp("arrived_at")
    started_at = _stamp("started_at")
    completed_at = _stamp("completed_at")
    estimated_minutes = fields.Integer(allow_none=True, metadata={"description": RULES["estimated_minutes"]})
    revenue = fields.Decimal(allow_none=True, as_string=True, places=2, metadata=REVENUE_DOC)
    callback_of_id = fields.Integer(allow_none=True, metadata={"description": RULES["callback_of_id"]})
    job_fields = fields.Method(
        "_job_fields",
        data_key="fields",
        required=True,
        metadata={
            "type": "object",
            "additionalProperties": FIELD_VALUE_DOC,
            "description": f"{FIELDS_DOC}; a field without a value is left out",
        },
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _job_fields(self, job: Job) -> dict[str, Any]:
        return job_fields.field_values(job, app_state().plugins.job_fields)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """A page of jobs row by row without marshmallow's per-field machinery (a third of a 50-job page's
        time, bench/README.md); the same output as the fields above give one job (tests/test_job_fields_api.py)."""
        if not (self.many if many is None else many) or self.only or self.exclude:
            return super().dump(obj, many=many)
        return self._rows(obj)

    def _rows(self, found: Any) -> list[dict[str, Any]]:
        session, declared = db_session(), app_state().plugins.job_fields
        revenue = self.fields["revenue"]

        def when(value: Any) -> str | None:  # the fields' format: ISO 8601 (marshmallow's DateTime "iso")
            return None if value is None else value.isoformat()

        return [
            {
                "id": job.id,
                "external_ref": job.external_ref,
                "technician_id": job.technician_id,
                "technicians": job_crews.crew_of(session, job),
                "customer_id": job.customer_id,
                "category": job.category,
                "status": job.status,
                "scheduled_start": when(job.scheduled_start),
                "scheduled_end": when(job.scheduled_end),
                "arrived_at": when(job.arrived_at),
                "started_at": when(job.started_at),
                "completed_at": when(job.completed_at),
                "estimated_minutes": job.estimated_minutes,
                "revenue": None if job.revenue is None else revenue._serialize(job.revenue, "revenue", job),
                "callback_of_id": job.callback_of_id,
                "fields": job_fields.field_values(job, declared),
                "created_at": when(job.created_at),
                "updated_at": when(job.updated_at),
            }
            for job in found
        ]


class JobPatchSchema(StrictSchema):
    external_ref = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "Unique"})
    technician_id = fields.Integer(validate=ID, metadata={"description": RULES["technician_id"]})
    technicians = fields.List(
        fields.Nested(JobCrewMemberInSchema),
        validate=validate.Length(max=MAX_CREW),
        metadata={"minItems": 1, "description": CREW_IN_DOC},
    )
    customer_id = fields.Integer(allow_none=True, validate=ID, metadata={"description": RULES["customer_id"]})
    category = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": RULES["category"]})
    status = fields.String(validate=validate.OneOf(JOB_STATUSES), metadata={"description": RULES["status"]})
    scheduled_start = _stamp("scheduled_start")
    scheduled_end = _stamp("scheduled_end")
    arrived_at = _stamp("arrived_at")
    started_at = _stamp("started_at")
    completed_at = _stamp("completed_at")
    estimated_minutes = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=jobs.MAX_MINUTES),
        metadata={"description": RULES["estimated_minutes"]},
    )
    revenue = Money(
        jobs.MAX_REVENUE,
        allow_none=True,
        metadata={
            **REVENUE_DOC,
            "type": ["string", "number"],
            "pattern": r"^\d{1,10}(\.\d{1,2})?$",
            "minimum": 0,
            "maximum": float(jobs.MAX_REVENUE),
        },
    )
    callback_of_id = fields.Integer(allow_none=True, validate=ID, metadata={"description": RULES["callback_of_id"]})
    job_fields = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=120)),
        values=fields.Raw(allow_none=True, metadata=FIELD_VALUE_DOC),
        data_key="fields",
        attribute="fields",
        metadata={
            "description": f"{FIELDS_DOC}. A key no plugin declares, a value of another type or out of its "
            "bounds, or a choice not among its choices is 422 naming fields.<key>. On a change, the fields "
            "named are set (null removes a value) and the others kept; a required field cannot be removed."
        },
    )


class JobInSchema(JobPatchSchema):
    external_ref = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"description": "Unique"}
    )
    category = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"description": RULES["category"]}
    )
    status = fields.String(
        load_default="scheduled", validate=validate.OneOf(JOB_STATUSES), metadata={"description": RULES["status"]}
    )

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _someone(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        # Named beside the other missing fields, so a form shows every one at once; a crew given but
        # wrong is named on its own.
        given = original if isinstance(original, dict) else {}
        if "technician_id" not in given and "technicians" not in given:
            raise ValidationError("Missing data for required field: give technician_id, or the crew in technicians.",
                                  "technician_id")  # fmt: skip


class JobQuerySchema(StrictSchema):
    team = fields.Integer(
        validate=ID, metadata={"description": "Team id: jobs with a technician of the team on the crew"}
    )
    technician = fields.Integer(validate=ID, metadata={"description": "Technician id: jobs they lead or help on"})
    customer = fields.Integer(validate=ID, metadata={"description": "Customer id"})
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    category = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "Category (any case)"})
    date_field = fields.String(
        load_default="scheduled_start",
        validate=validate.OneOf(sorted(jobs.DATE_FIELDS)),
        metadata={"description": "Timestamp that from and to apply to"},
    )
    from_ = CompanyDateTime(
        data_key="from", attribute="from", metadata={"description": f"date_field at or after. {ZONE_NOTE}"}
    )
    to = CompanyDateTime(metadata={"description": f"date_field before (exclusive). {ZONE_NOTE}"})
    sort = sort_field(jobs.SORTABLE, "scheduled_start")

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("from") is not None and data.get("to") is not None and data["to"] <= data["from"]:
            raise ValidationError("Must be later than from.", "to")


class JobPage(SQLPage):
    """A page of jobs, with the names of their crews read in one query."""

    @property
    def items(self) -> list[Any]:
        found = super().items
        job_crews.technician_names(db_session(), found)
        return found


def _ensure_may_change(job: Job) -> None:
    if not jobs.may_change(db_session(), current_scope(), job):
        abort(
            403,
            message="You can see this job because a technician of your team is on its crew, but only a manager "
            "of the lead technician's team can change or delete it.",
        )


@blp.route("")
class Jobs(MethodView):
    @requires(blp, "jobs.read")
    @blp.arguments(JobQuerySchema, location="query")
    @blp.response(200, JobSchema(many=True))
    @blp.paginate(JobPage)
    @blp.doc(operationId="listJobs", summary="List jobs")
    def get(self, query: dict[str, Any]) -> Any:
        """Jobs one may see, filtered by team, technician, customer, status, category and a date range."""
        statement = jobs.job_query(current_scope(), query)
        return statement.order_by(*order_by(jobs.SORTABLE, query["sort"], Job.id))

    @requires(blp, "jobs.manage")
    @blp.arguments(JobInSchema)
    @blp.response(201, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field, rule or reference (named in errors)")
    @blp.doc(operationId="createJob", summary="Create a job")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a job: with technician_id, a job of one technician; with technicians, a crew (managers: of
        technicians of their teams)."""
        declared = app_state().plugins.job_fields
        job = jobs.create_job(db_session(), current_scope(), current_actor(), body, declared_fields=declared)
        commit()
        return job


@blp.route("/<int:job_id>")
class JobItem(MethodView):
    @requires(blp, "jobs.read")
    @blp.etag
    @blp.response(200, JobSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job (or not yours to see)")
    @blp.doc(operationId="getJob", summary="Read a job")
    def get(self, job_id: int) -> Any:
        """One job; the ETag header is needed to change it."""
        return jobs.get_job(db_session(), current_scope(), job_id)

    @requires(blp, "jobs.manage")
    @blp.etag
    @blp.arguments(JobPatchSchema)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job (or not yours to see)")
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field, rule or reference (named in errors)")
    @blp.doc(operationId="updateJob", summary="Change a job")
    def patch(self, body: dict[str, Any], job_id: int) -> Any:
        """Change the given fields; the job as a whole must still keep every rule. technicians replaces the
        crew; technician_id alone makes that technician the lead of the crew as it is. Only those who see
        the job's lead change it (403 for a manager who sees it through a helper of their team).
        Send the ETag in If-Match (428 without it, 412 if stale)."""
        session, scope = db_session(), current_scope()
        job = jobs.get_job(session, scope, job_id, for_update=True)
        _ensure_may_change(job)
        blp.check_etag(job, JobSchema)
        job = jobs.update_job(
            session, scope, current_actor(), job, body, declared_fields=app_state().plugins.job_fields
        )
        commit()
        return job

    @requires(blp, "jobs.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job (or not yours to see)")
    @blp.alt_response(409, schema=ErrorSchema, description="Other jobs are callbacks of it")
    @blp.doc(operationId="deleteJob", summary="Delete a job")
    def delete(self, job_id: int) -> None:
        """Delete a job and its feedback (If-Match required); refused while callbacks refer to it, and
        (403) to a manager who sees it only through a helper of their team."""
        session = db_session()
        job = jobs.get_job(session, current_scope(), job_id, for_update=True)
        _ensure_may_change(job)
        blp.check_etag(job, JobSchema)
        jobs.delete_job(session, current_actor(), job)
        commit()


class JobFieldSchema(Schema):
    key = fields.String(required=True, metadata={"description": "The field's key: its column in an import"})
    label = fields.String(required=True, metadata={"description": "What the field records, in words"})
    type = fields.String(required=True, metadata={"enum": list(JOB_FIELD_TYPES)})
    required = fields.Boolean(
        required=True, metadata={"description": "Every new job, and every imported row, gives it"}
    )
    minimum = fields.Float(allow_none=True, metadata={"description": "integer and number: the smallest value"})
    maximum = fields.Float(allow_none=True, metadata={"description": "integer and number: the largest value"})
    choices = fields.List(fields.String(), required=True, metadata={"description": "choice: the values it takes"})
    help_text = fields.String(required=True, metadata={"description": "More about the field, in words"})
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})


@blp.route("/fields")
class JobFields(MethodView):
    @requires(blp, "jobs.read")
    @blp.response(200, JobFieldSchema(many=True))
    @blp.doc(operationId="listJobFields", summary="List the job fields plugins declare")
    def get(self) -> Any:
        """Every plugin's job field (kpi_job_fields), in load order: what a job's ``fields`` may hold."""
        plugins = app_state().plugins
        return [
            {**asdict(field), "plugin": plugins.owner_of("kpi_job_fields", key)}
            for key, field in plugins.job_fields.items()
        ]
