"""/api/v1/imports: jobs and feedback from CSV or JSON Lines, all or nothing."""

from __future__ import annotations

from typing import IO, Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from kpi_core.imports.feedback import FEEDBACK_COLUMNS, import_feedback
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.readers import FileRejected, detect_format, read_rows
from kpi_core.imports.report import ImportReport
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="Bulk imports")


class ImportQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Validate only; write nothing"})


class JobImportQuerySchema(ImportQuerySchema):
    create_technicians = fields.Boolean(
        load_default=False, metadata={"description": "Create technicians for unknown technician_ref (admins)"}
    )


class ImportResultSchema(Schema):
    kind = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    rows = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


def _request_body(columns: tuple[str, ...]) -> dict[str, Any]:
    media = {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    }
    return {
        "required": True,
        "description": f"CSV (UTF-8, comma or semicolon, header row) or JSON Lines with the columns "
        f"{', '.join(columns)}; as the body or a multipart upload in the field 'file'. Timestamps "
        "without a zone are read in the company time zone.",
        "content": media,
    }


def _upload() -> tuple[IO[bytes], str]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(
                422,
                message="file: send the file in the multipart field 'file'",
                errors={"files": {"file": ["Missing data for required field."]}},
            )
        return upload.stream, detect_format(upload.mimetype or "", upload.filename)
    return request.stream, detect_format(request.mimetype or "")


def _run(kind: str, query: dict[str, Any]) -> ImportReport:
    session = db_session()
    settings = app_state().settings
    try:
        stream, fmt = _upload()
        columns = JOB_COLUMNS if kind == "jobs" else FEEDBACK_COLUMNS
        rows = read_rows(stream, fmt, columns)
        common = {
            "scope": current_scope(),
            "actor": current_actor(),
            "zone": settings.zone,
            "dry_run": query["dry_run"],
        }
        if kind == "jobs":
            report = import_jobs(session, rows, create_technicians=query["create_technicians"], **common)
        else:
            report = import_feedback(session, rows, **common)
    except FileRejected as exc:
        session.rollback()
        abort(422, message=f"file: {exc}", errors={"file": {"file": [str(exc)]}})
    if not report.ok:
        session.rollback()
        abort(
            422,
            message=report.describe(),
            errors={
                "rows": [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors],
                "error_count": report.error_count,
            },
        )
    if report.dry_run:
        session.rollback()
    else:
        commit()
    return report


@blp.route("/jobs")
class JobImport(MethodView):
    @requires(blp, "imports.run")
    @blp.arguments(JobImportQuerySchema, location="query")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(413, schema=ErrorSchema, description="File larger than the configured limit")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid rows (errors.rows: row, column, message)")
    @blp.doc(operationId="importJobs", summary="Import jobs", requestBody=_request_body(JOB_COLUMNS))
    def post(self, query: dict[str, Any]) -> Any:
        """Create or update jobs by external_ref. A file with any invalid row writes nothing and
        lists every error (the first 1,000, and a count). Importing the same file again changes nothing."""
        return _run("jobs", query)


@blp.route("/feedback")
class FeedbackImport(MethodView):
    @requires(blp, "imports.run")
    @blp.arguments(ImportQuerySchema, location="query")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(413, schema=ErrorSchema, description="File larger than the configured limit")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid rows (errors.rows: row, column, message)")
    @blp.doc(
        operationId="importFeedback", summary="Import customer feedback", requestBody=_request_body(FEEDBACK_COLUMNS)
    )
    def post(self, query: dict[str, Any]) -> Any:
        """Create or replace the feedback of jobs (by job_ref), all or nothing."""
        return _run("feedback", query)
