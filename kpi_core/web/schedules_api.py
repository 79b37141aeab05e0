"""/api/v1/schedules: when background jobs (and reports) run. Admins manage, managers read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.jobs import schedules
from kpi_core.reports.service import schedule_spec_check
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("schedules", __name__, url_prefix="/api/v1/schedules", description="Schedules of background jobs")

DOCS = {
    "kind": "job (runs job_key) or report (requests a report from report_spec, as POST /api/v1/reports does)",
    "report_spec": "For kind report: the body of POST /api/v1/reports; last_periods (e.g. 1 with period month: "
    "the month just ended) instead of start and end keeps it relative to each firing",
    "cron": "5 fields: minute hour day-of-month month day-of-week, e.g. '30 2 * * *'",
    "timezone": "IANA time zone the cron is read in; default the company's (KPI_TIMEZONE)",
    "missed": "Occurrences missed while no scheduler ran: run_once (one catch-up run) or skip",
    "enabled": "A disabled schedule never fires; enabling it again starts from now",
}


class ScheduleSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(schedules.KINDS), "description": DOCS["kind"]})
    job_key = fields.String(allow_none=True)
    report_spec = fields.Dict(allow_none=True, metadata={"description": DOCS["report_spec"]})
    cron = fields.String(required=True, metadata={"description": DOCS["cron"]})
    timezone = fields.String(required=True, metadata={"description": DOCS["timezone"]})
    enabled = fields.Boolean(required=True, metadata={"description": DOCS["enabled"]})
    missed = fields.String(required=True, metadata={"enum": list(schedules.MISSED), "description": DOCS["missed"]})
    last_fired_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "Latest occurrence fired"}
    )
    next_fire_at = fields.Method(
        "_next", dump_only=True, allow_none=True, metadata={"type": "string", "format": "date-time"}
    )
    created_by_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _next(self, schedule: Any) -> str | None:
        upcoming = schedules.next_fire_at(schedule)
        return upcoming.isoformat() if upcoming else None


class ScheduleInSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(load_default="job", validate=validate.OneOf(schedules.KINDS))
    job_key = fields.String(allow_none=True, validate=validate.Length(min=1, max=120))
    report_spec = fields.Dict(allow_none=True, metadata={"description": DOCS["report_spec"]})
    cron = fields.String(required=True, validate=validate.Length(max=120), metadata={"description": DOCS["cron"]})
    timezone = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": DOCS["timezone"]})
    enabled = fields.Boolean(load_default=True)
    missed = fields.String(load_default="run_once", validate=validate.OneOf(schedules.MISSED))


class SchedulePatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(schedules.KINDS))
    job_key = fields.String(allow_none=True, validate=validate.Length(min=1, max=120))
    report_spec = fields.Dict(allow_none=True, metadata={"description": DOCS["report_spec"]})
    cron = fields.String(validate=validate.Length(max=120))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    enabled = fields.Boolean()
    missed = fields.String(validate=validate.OneOf(schedules.MISSED))


class ScheduleQuerySchema(StrictSchema):
    enabled = fields.Boolean()
    job_key = fields.String(validate=validate.Length(max=120))


@blp.route("")
class Schedules(MethodView):
    @requires(blp, "schedules.read")
    @blp.arguments(ScheduleQuerySchema, location="query")
    @blp.response(200, ScheduleSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listSchedules", summary="List schedules")
    def get(self, query: dict[str, Any]) -> Any:
        """Schedules by name, optionally only enabled (or disabled) ones, or those of one job."""
        return schedules.schedule_query(enabled=query.get("enabled"), job_key=query.get("job_key"))

    @requires(blp, "schedules.manage")
    @blp.arguments(ScheduleInSchema)
    @blp.response(201, ScheduleSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="createSchedule", summary="Create a schedule")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a schedule; the cron, time zone and job key are checked (422 names the field)."""
        zone = app_state().settings.timezone
        check = schedule_spec_check(db_session(), runner())
        schedule = schedules.create_schedule(
            db_session(), runner().jobs, current_actor(), body, default_zone=zone, check_report=check
        )
        commit()
        return schedule


@blp.route("/<int:schedule_id>")
class ScheduleItem(MethodView):
    @requires(blp, "schedules.read")
    @blp.etag
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such schedule")
    @blp.doc(operationId="getSchedule", summary="Read a schedule")
    def get(self, schedule_id: int) -> Any:
        """One schedule with its next occurrence; the ETag header is needed to change it."""
        return schedules.get_schedule(db_session(), schedule_id)

    @requires(blp, "schedules.manage")
    @blp.etag
    @blp.arguments(SchedulePatchSchema)
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such schedule")
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="updateSchedule", summary="Change a schedule")
    def patch(self, body: dict[str, Any], schedule_id: int) -> Any:
        """Change a schedule. Send the ETag from GET in If-Match (428 without it, 412 if stale)."""
        schedule = schedules.get_schedule(db_session(), schedule_id)
        blp.check_etag(schedule, ScheduleSchema)
        check = schedule_spec_check(db_session(), runner())
        schedule = schedules.update_schedule(
            db_session(), runner().jobs, current_actor(), schedule, body, check_report=check
        )
        commit()
        return schedule

    @requires(blp, "schedules.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such schedule")
    @blp.doc(operationId="deleteSchedule", summary="Delete a schedule")
    def delete(self, schedule_id: int) -> None:
        """Delete a schedule (If-Match required); its past runs stay, without the link."""
        schedule = schedules.get_schedule(db_session(), schedule_id)
        blp.check_etag(schedule, ScheduleSchema)
        schedules.delete_schedule(db_session(), current_actor(), schedule)
        commit()
