"""/api/v1/reports: request a PDF or CSV report, follow its progress, download it, delete it.

A report renders in the background (the ``core.report`` job); POST answers
202 at once with the run and its Location. Admins see every run; everyone
else only their own (someone else's run is 404, as if it did not exist).
The data in a report is what the requester may see (kpi_core/accounts/scope.py).
"""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from kpi_core.errors import Conflict
from kpi_core.jobs.errors import QueueUnavailable
from kpi_core.kpis.periods import MAX_PERIODS, PERIODS
from kpi_core.kpis.query import GROUP_BYS
from kpi_core.kpis.ranges import RANGES
from kpi_core.reports import service
from kpi_core.reports.filenames import content_disposition
from kpi_core.reports.spec import DEFAULT_TITLE, TITLE_LENGTH
from kpi_core.storage.models import RUN_STATUSES
from kpi_core.web.access import current_actor, current_principal, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, CalendarDate, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="PDF and CSV reports")

ID = RECORD_ID


class ReportFiltersSchema(StrictSchema):
    team = fields.List(fields.Integer(validate=ID), load_default=list, metadata={"description": "Team ids"})
    technician = fields.List(fields.Integer(validate=ID), load_default=list, metadata={"description": "Technician ids"})
    category = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=list,
        metadata={"description": "Categories"},
    )


class ReportInSchema(StrictSchema):
    format = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A report format's key, as GET /api/v1/reports/formats lists them with their labels"},
    )
    title = fields.String(
        load_default=DEFAULT_TITLE,
        validate=validate.Length(min=1, max=TITLE_LENGTH),
        metadata={"description": "Shown in the report; the download's file name is made from it"},
    )
    kpis = fields.List(fields.String(), load_default=list, metadata={"description": "KPI keys; all when empty"})
    group_by = fields.String(load_default="technician", validate=validate.OneOf(GROUP_BYS))
    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))
    start = CalendarDate(metadata={"description": "First local day, inclusive (company time zone)"})
    end = CalendarDate(metadata={"description": f"Day after the last, exclusive; at most {MAX_PERIODS} periods"})
    last_periods = fields.Integer(
        validate=validate.Range(min=1, max=MAX_PERIODS),
        metadata={"description": "Instead of start and end: the last N complete periods before today"},
    )
    range = fields.String(
        validate=validate.OneOf(RANGES),
        metadata={
            "description": "Instead of start and end: a relative range resolved on the day the report is made "
            "(last_30_days, month_to_date, last_month, ...; see GET /api/v1/kpis/values)"
        },
    )
    filters = fields.Nested(ReportFiltersSchema, load_default=dict)


class ReportSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    format = fields.String(required=True)
    spec = fields.Dict(required=True, metadata={"description": "The request, with start and end resolved"})
    status = fields.String(required=True, metadata={"enum": list(RUN_STATUSES)})
    progress = fields.Integer(required=True, metadata={"description": "0 to 100"})
    eta_seconds = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Estimated seconds left; null when unknown"}
    )
    message = fields.String(allow_none=True, metadata={"description": "What the job is doing now"})
    error = fields.String(allow_none=True, metadata={"description": "Why the latest attempt failed"})
    traceback = fields.Method("_traceback", allow_none=True, metadata={"type": "string", "description": "Admins only"})
    requested_by_id = fields.Integer(allow_none=True, metadata={"description": "null for a scheduled report"})
    job_run_id = fields.Integer(allow_none=True, metadata={"description": "The background job run rendering it"})
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    file_name = fields.String(allow_none=True)
    media_type = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    download_url = fields.Method(
        "_download_url", allow_none=True, metadata={"type": "string", "description": "Once finished"}
    )

    def _traceback(self, state: service.ReportState) -> str | None:
        # Stack traces name files and internals: for the owner only, as on job runs.
        return state.traceback if current_principal().role == "admin" else None

    def _download_url(self, state: service.ReportState) -> str | None:
        return url_for("reports.ReportDownload", report_id=state.id) if state.status == "finished" else None


class ReportFormatSchema(Schema):
    key = fields.String(required=True, metadata={"description": "What a report request names as its format"})
    label = fields.String(required=True, metadata={"description": "The format in words, for people"})
    media_type = fields.String(required=True)
    file_extension = fields.String(required=True)
    plugin = fields.String(required=True, metadata={"description": "The plugin that declares it"})


class ReportPage(SQLPage):
    """Pages (report run, job run) rows and answers each as one report."""

    @property
    def items(self) -> list[Any]:
        rows = db_session().execute(self.window(self.collection))
        return [service.state_of(run, job) for run, job in rows]


@blp.route("")
class Reports(MethodView):
    @requires(blp, "reports.read")
    @blp.response(200, ReportSchema(many=True))
    @blp.paginate(ReportPage)
    @blp.doc(operationId="listReports", summary="List report runs, newest first")
    def get(self) -> Any:
        """Report runs: all of them for admins, one's own for everyone else."""
        return service.report_query(current_principal())

    @requires(blp, "reports.create")
    @blp.arguments(ReportInSchema)
    @blp.response(202, ReportSchema)
    @blp.alt_response(503, schema=ErrorSchema, description="The job queue is unavailable (see Retry-After)")
    @blp.doc(operationId="createReport", summary="Request a report")
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a report; poll the Location (GET /api/v1/reports/{id}) until it is finished, then download it.

        Unknown formats, KPIs, teams or technicians, end <= start and too many
        periods are 422 naming the field. The report holds what you may see.
        """
        try:
            run = service.request_report(db_session(), runner(), current_actor(), body, scope=current_scope())
        except QueueUnavailable as exc:
            abort(503, message=str(exc), headers={"Retry-After": str(exc.retry_after)})
        commit()
        state = service.get_report(db_session(), current_principal(), run.id)
        return state, {"Location": url_for("reports.ReportItem", report_id=run.id)}


@blp.route("/formats")
class ReportFormats(MethodView):
    @requires(blp, "reports.read")
    @blp.response(200, ReportFormatSchema(many=True))
    @blp.doc(operationId="listReportFormats", summary="List the report formats, with their labels")
    def get(self) -> Any:
        """Every report format the installed plugins declare, by label (the order a form offers
        them in): the key a request names and the label a person reads ("PDF report")."""
        plugins = app_state().plugins
        return [
            {
                "key": key,
                "label": declared.label,
                "media_type": declared.media_type,
                "file_extension": declared.file_extension,
                "plugin": plugins.owner_of("kpi_report_formats", key),
            }
            for key, declared in sorted(plugins.report_formats.items(), key=lambda item: item[1].label.casefold())
        ]


@blp.route("/<int:report_id>")
class ReportItem(MethodView):
    @requires(blp, "reports.read")
    @blp.response(200, ReportSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such report (or not yours)")
    @blp.doc(operationId="getReport", summary="Read a report run: status, progress, ETA")
    def get(self, report_id: int) -> Any:
        """Status (queued, running, finished, failed), progress, ETA and, once finished, the download URL."""
        return service.get_report(db_session(), current_principal(), report_id)

    @requires(blp, "reports.create")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such report (or not yours)")
    @blp.doc(operationId="deleteReport", summary="Delete a report run and its file")
    def delete(self, report_id: int) -> None:
        """Delete the run and its file; one still rendering stores nothing."""
        state = service.get_report(db_session(), current_principal(), report_id)
        service.delete_report(db_session(), current_actor(), state)
        commit()


@blp.route("/<int:report_id>/download")
class ReportDownload(MethodView):
    @requires(blp, "reports.read")
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="application/octet-stream",
        description="The file, with the format's media type (application/pdf, text/csv, ...)",
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No such report (or not yours)")
    @blp.alt_response(409, schema=ErrorSchema, description="The report is not finished")
    @blp.doc(operationId="downloadReport", summary="Download a finished report")
    def get(self, report_id: int) -> Any:
        """The file, named after the report's title (Content-Disposition: attachment)."""
        session = db_session()
        state = service.get_report(session, current_principal(), report_id)
        stored = service.report_file(session, state) if state.status == "finished" else None
        if stored is None:
            raise Conflict("status", f"the report is {state.status}; download it once it is finished")
        response = Response(stored.content, content_type=state.media_type or "application/octet-stream")
        response.headers["Content-Disposition"] = content_disposition(state.file_name or "report")
        response.headers["ETag"] = f'"{stored.sha256}"'
        return response
