"""/api/v1/imports: jobs and feedback from CSV or JSON Lines, all or nothing."""

from __future__ import annotations

from dataclasses import asdict
from typing import IO, Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from kpi_core.imports.columns import IMPORT_COLUMNS, template_csv
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
        load_default=False,
        metadata={
            "description": "Create technicians for unknown technician_ref (admins; the import page's "
            '"Create technicians that are not on file yet")'
        },
    )


class ImportResultSchema(Schema):
    kind = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    rows = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    first_scheduled = fields.Date(
        allow_none=True,
        metadata={"description": "Jobs: the company-zone day of the earliest scheduled_start in the file"},
    )
    last_scheduled = fields.Date(
        allow_none=True, metadata={"description": "Jobs: the company-zone day of the latest scheduled_start"}
    )


class ImportColumnSchema(Schema):
    name = fields.String(required=True, metadata={"description": "The column's header in the file"})
    type = fields.String(required=True, metadata={"description": "What the column holds, in words"})
    required = fields.Boolean(required=True)
    example = fields.String(required=True, metadata={"description": "A value it may hold (empty: none needed)"})
    description = fields.String(required=True, metadata={"description": "What it means, in words"})


TEMPLATE_RESPONSE = {
    "description": "A CSV with the header row and one example row (UTF-8 with a byte-order mark)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "headers": {"Content-Disposition": {"description": "attachment, with the file name", "schema": {"type": "string"}}},
}


def _columns(kind: str) -> list[dict[str, Any]]:
    return [asdict(column) for column in IMPORT_COLUMNS[kind]]


def _template(kind: str) -> Response:
    response = Response(template_csv(kind), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{kind}-import-template.csv"'
    return response


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


@blp.route("/jobs/columns")
class JobImportColumns(MethodView):
    @requires(blp, "imports.run")
    @blp.response(200, ImportColumnSchema(many=True))
    @blp.doc(operationId="listJobImportColumns", summary="Describe the columns of a jobs import")
    def get(self) -> Any:
        """Every column a jobs file may have, in order: its header, its type and an example in words,
        and whether it is required. The import page lists them."""
        return _columns("jobs")


@blp.route("/jobs/template.csv")
class JobImportTemplate(MethodView):
    @requires(blp, "imports.run")
    @blp.doc(
        operationId="downloadJobImportTemplate",
        summary="Download a template CSV for a jobs import",
        responses={"200": TEMPLATE_RESPONSE},
    )
    def get(self) -> Any:
        """A CSV with every column's header and an example row, to fill in and import."""
        return _template("jobs")


@blp.route("/feedback/columns")
class FeedbackImportColumns(MethodView):
    @requires(blp, "imports.run")
    @blp.response(200, ImportColumnSchema(many=True))
    @blp.doc(operationId="listFeedbackImportColumns", summary="Describe the columns of a feedback import")
    def get(self) -> Any:
        """Every column a feedback file may have, in order, with its type, an example and whether it is required."""
        return _columns("feedback")


@blp.route("/feedback/template.csv")
class FeedbackImportTemplate(MethodView):
    @requires(blp, "imports.run")
    @blp.doc(
        operationId="downloadFeedbackImportTemplate",
        summary="Download a template CSV for a feedback import",
        responses={"200": TEMPLATE_RESPONSE},
    )
    def get(self) -> Any:
        """A CSV with every column's header and an example row, to fill in and import."""
        return _template("feedback")


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
