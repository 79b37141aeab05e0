"""/api/v1/imports: jobs and feedback from CSV or JSON Lines, all or nothing; jobs from any CSV or
XLSX file through a column mapping (given, saved by name, or a plugin's preset), with a description
of the file and a preview of its first rows before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import IO, Any, NoReturn

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from kpi_core.declarations import ImportMapping
from kpi_core.errors import Invalid
from kpi_core.imports.columns import import_columns, template_csv
from kpi_core.imports.feedback import FEEDBACK_COLUMNS, import_feedback
from kpi_core.imports.finished import import_finished
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.mapped import (
    MAX_PREVIEW_ROWS,
    PREVIEW_ROWS,
    describe_file,
    import_mapped_jobs,
    preview_mapped_jobs,
)
from kpi_core.imports.mapping import MissingColumns, field_label
from kpi_core.imports.mapping_io import mapping_to_json
from kpi_core.imports.readers import FileRejected, detect_format, read_rows
from kpi_core.imports.report import ImportReport
from kpi_core.imports.saved import choose_mapping
from kpi_core.imports.sources import SheetNeeded
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.import_mappings_api import ImportMappingSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="Bulk imports")


class ImportQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Validate only; write nothing"})


class ImportSheetQuerySchema(StrictSchema):
    sheet = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "XLSX: the sheet to read (needed when the workbook has several)"},
    )


class MappedImportQuerySchema(ImportSheetQuerySchema):
    create_technicians = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Create technicians for unknown technician_ref (admins; the import page's "
            '"Create technicians that are not on file yet")'
        },
    )
    mapping_name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Read the file through the column mapping saved under this name"},
    )
    preset = fields.String(
        validate=validate.Length(min=1, max=120),
        metadata={"description": "Read the file through this import preset (GET /api/v1/imports/jobs/presets)"},
    )


class JobImportQuerySchema(ImportQuerySchema, MappedImportQuerySchema):
    pass


class ImportPreviewQuerySchema(MappedImportQuerySchema):
    rows = fields.Integer(
        load_default=PREVIEW_ROWS,
        validate=validate.Range(min=1, max=MAX_PREVIEW_ROWS),
        metadata={"description": "How many of the first rows to preview"},
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
    label = fields.String(required=True, metadata={"description": "What the column holds, named in words"})
    type = fields.String(required=True, metadata={"description": "What the column holds, in words"})
    required = fields.Boolean(required=True)
    example = fields.String(required=True, metadata={"description": "A value it may hold (empty: none needed)"})
    description = fields.String(required=True, metadata={"description": "What it means, in words"})


TEMPLATE_RESPONSE = {
    "description": "A CSV with the header row and one example row (UTF-8 with a byte-order mark)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "headers": {"Content-Disposition": {"description": "attachment, with the file name", "schema": {"type": "string"}}},
}


class ImportRowErrorSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "The row of the file (its header is row 1)"})
    column = fields.String(allow_none=True, metadata={"description": "The file's column, or how a field is derived"})
    message = fields.String(required=True)


class ImportPreviewRowSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "The row of the file (its header is row 1)"})
    values = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "Each job field as it would be imported (times in ISO 8601, UTC)"},
    )


class ImportPreviewSchema(Schema):
    rows = fields.List(fields.Nested(ImportPreviewRowSchema), required=True)
    errors = fields.List(fields.Nested(ImportRowErrorSchema), required=True)
    error_count = fields.Integer(required=True)
    columns = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Each job field in the file's terms: its column, or how it is derived"},
    )
    sheet = fields.String(allow_none=True)


class ImportSourceColumnSchema(Schema):
    name = fields.String(required=True, metadata={"description": "The column's name in the file"})
    samples = fields.List(
        fields.Raw(), required=True, metadata={"description": "Up to three values from the first rows"}
    )


class ImportPresetFitSchema(Schema):
    key = fields.String(required=True)
    missing = fields.List(
        fields.String(), required=True, metadata={"description": "Columns it reads that the file lacks"}
    )


class ImportFileDescriptionSchema(Schema):
    columns = fields.List(fields.Nested(ImportSourceColumnSchema), required=True)
    proposal = fields.Dict(
        required=True,
        metadata={"description": "A mapping matched by column names (the JSON form of a mapping, maybe incomplete)"},
    )
    presets = fields.List(fields.Nested(ImportPresetFitSchema), required=True)
    sheets = fields.List(fields.String(), required=True, metadata={"description": "XLSX: the workbook's sheets"})
    sheet = fields.String(allow_none=True, metadata={"description": "XLSX: the sheet read (null: choose one)"})


class ImportPresetSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "Where the export's columns are documented"})
    mapping = fields.Nested(ImportMappingSchema, required=True)


def _columns(kind: str) -> list[dict[str, Any]]:
    job_fields = app_state().plugins.job_fields
    labels = {key: field.label for key, field in job_fields.items()}
    return [
        asdict(column) | {"label": labels.get(column.name) or field_label(column.name)}
        for column in import_columns(kind, job_fields)
    ]


def _template(kind: str) -> Response:
    response = Response(template_csv(kind, app_state().plugins.job_fields), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{kind}-import-template.csv"'
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAPPING_FIELD = {
    "type": "string",
    "description": "The column mapping as JSON text (the form of ImportMappingSchema); or give mapping_name or preset",
}


def _request_body(columns: tuple[str, ...], *, mapped: bool = False) -> dict[str, Any]:
    form: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    media = {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": form}},
    }
    description = (
        f"CSV (UTF-8, comma or semicolon, header row) or JSON Lines with the columns "
        f"{', '.join(columns)}; as the body or a multipart upload in the field 'file'. Timestamps "
        "without a zone are read in the company time zone."
    )
    if columns == JOB_COLUMNS:
        description += (
            " Plugins' job fields (GET /api/v1/jobs/fields) are columns too, named by their keys "
            "(safety.ppe_checked); a file without such a column leaves those fields as stored, an empty "
            "cell removes a value; a column that is neither is refused, naming it."
        )
    if mapped:
        media[XLSX] = {"schema": {"type": "string", "format": "binary"}}
        form["mapping"] = MAPPING_FIELD
        description += (
            " Any other CSV or XLSX workbook is read through a column mapping: the multipart field 'mapping' "
            "(JSON), or the query's mapping_name or preset; an XLSX in these columns needs none."
        )
    return {"required": True, "description": description, "content": media}


def _upload_only() -> dict[str, Any]:
    form = {"file": {"type": "string", "format": "binary"}, "mapping": MAPPING_FIELD}
    return {
        "required": True,
        "description": "A multipart upload: the CSV file or XLSX workbook in the field 'file' (and, to "
        "preview, the mapping in 'mapping' unless the query names a saved one or a preset)",
        "content": {"multipart/form-data": {"schema": {"type": "object", "properties": form, "required": ["file"]}}},
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
        common = {
            "scope": current_scope(),
            "actor": current_actor(),
            "zone": settings.zone,
            "dry_run": query["dry_run"],
        }
        if kind == "jobs":
            mapping = _mapping(query)
            job_fields = app_state().plugins.job_fields
            if mapping is not None or fmt == "xlsx":
                with _mapping_errors_in_form():
                    report = import_mapped_jobs(
                        session, stream, fmt, mapping, sheet=query.get("sheet"),
                        create_technicians=query["create_technicians"], job_fields=job_fields, **common,
                    )  # fmt: skip
            else:
                rows = read_rows(stream, fmt, (*JOB_COLUMNS, *job_fields))
                report = import_jobs(
                    session, rows, create_technicians=query["create_technicians"], job_fields=job_fields, **common
                )
        else:
            report = import_feedback(session, read_rows(stream, fmt, FEEDBACK_COLUMNS), **common)
    except FileRejected as exc:
        session.rollback()
        _file_rejected(exc)
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
        import_finished(session, runner(), current_actor(), kind, report)
        commit()
    return report


def _mapping(query: dict[str, Any]) -> ImportMapping | None:
    """The mapping the request names: the multipart field 'mapping' (JSON), or a saved one or a preset."""
    given = request.form.get("mapping") if request.mimetype == "multipart/form-data" else None
    if given:
        try:
            given = json.loads(given)
        except ValueError:
            abort(422, message="mapping: not valid JSON", errors={"form": {"mapping": ["Not valid JSON."]}})
    presets = app_state().plugins.import_presets
    return choose_mapping(
        db_session(), presets, given=given, saved=query.get("mapping_name"), preset=query.get("preset")
    )


@contextmanager
def _mapping_errors_in_form() -> Iterator[None]:
    """A mapping the file's import cannot take is named where the mapping came in: the form."""
    try:
        yield
    except Invalid as exc:
        if exc.field.startswith("mapping.") and exc.location == "json":
            raise Invalid(exc.field, exc.message, "form") from None
        raise


def _file_rejected(exc: FileRejected) -> NoReturn:
    errors: dict[str, Any] = {"file": {"file": [str(exc)]}}
    if isinstance(exc, MissingColumns):
        errors["missing_columns"] = exc.columns
    if isinstance(exc, SheetNeeded):
        errors["query"] = {"sheet": [str(exc)]}
        errors["sheets"] = list(exc.sheets)
    abort(422, message=f"file: {exc}", errors=errors)


@blp.route("/jobs")
class JobImport(MethodView):
    @requires(blp, "imports.run")
    @blp.arguments(JobImportQuerySchema, location="query")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(413, schema=ErrorSchema, description="File larger than the configured limit")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid rows (errors.rows: row, column, message)")
    @blp.doc(operationId="importJobs", summary="Import jobs", requestBody=_request_body(JOB_COLUMNS, mapped=True))
    def post(self, query: dict[str, Any]) -> Any:
        """Create or update jobs by external_ref. A file with any invalid row writes nothing and
        lists every error (the first 1,000, and a count). Importing the same file again changes nothing.
        Through a column mapping, errors name the file's own columns; a file without a column the
        mapping reads is refused naming every missing column (errors.missing_columns)."""
        return _run("jobs", query)


@blp.route("/jobs/describe")
class JobImportDescription(MethodView):
    @requires(blp, "imports.run")
    @blp.arguments(ImportSheetQuerySchema, location="query")
    @blp.response(200, ImportFileDescriptionSchema)
    @blp.alt_response(413, schema=ErrorSchema, description="File larger than the configured limit")
    @blp.alt_response(422, schema=ErrorSchema, description="The file cannot be read")
    @blp.doc(
        operationId="describeJobImportFile", summary="Describe a file to import jobs from", requestBody=_upload_only()
    )
    def post(self, query: dict[str, Any]) -> Any:
        """The file's columns with sample values, a mapping proposed by matching their names, and how
        well each import preset fits it. Writes nothing. A workbook with several sheets and none
        chosen answers its sheets and no columns."""
        stream, fmt = _uploaded_file()
        try:
            plugins = app_state().plugins
            return describe_file(
                stream, fmt, plugins.import_presets, sheet=query.get("sheet"), job_fields=plugins.job_fields
            )
        except FileRejected as exc:
            _file_rejected(exc)


@blp.route("/jobs/preview")
class JobImportPreview(MethodView):
    @requires(blp, "imports.run")
    @blp.arguments(ImportPreviewQuerySchema, location="query")
    @blp.response(200, ImportPreviewSchema)
    @blp.alt_response(413, schema=ErrorSchema, description="File larger than the configured limit")
    @blp.alt_response(422, schema=ErrorSchema, description="The file or the mapping cannot be used")
    @blp.doc(operationId="previewJobImport", summary="Preview a mapped jobs import", requestBody=_upload_only())
    def post(self, query: dict[str, Any]) -> Any:
        """The first rows of the file as they would be imported through the mapping, with every error
        those rows have (named in the file's terms), checked exactly as the import checks them.
        Nothing is written."""
        session = db_session()
        stream, fmt = _uploaded_file()
        try:
            with _mapping_errors_in_form():
                preview = preview_mapped_jobs(
                    session, stream, fmt, _mapping(query), sheet=query.get("sheet"), scope=current_scope(),
                    actor=current_actor(), zone=app_state().settings.zone,
                    create_technicians=query["create_technicians"], limit=query["rows"],
                    job_fields=app_state().plugins.job_fields,
                )  # fmt: skip
        except FileRejected as exc:
            _file_rejected(exc)
        finally:
            session.rollback()
        return preview


@blp.route("/jobs/presets")
class JobImportPresets(MethodView):
    @requires(blp, "imports.run")
    @blp.response(200, ImportPresetSchema(many=True))
    @blp.doc(operationId="listJobImportPresets", summary="List the import presets of the installed plugins")
    def get(self) -> Any:
        """Ready mappings for known exports (kpi_import_presets), by label, each with its documented source."""
        presets = app_state().plugins.import_presets.values()
        return [asdict_preset(preset) for preset in sorted(presets, key=lambda preset: preset.label)]


def asdict_preset(preset: Any) -> dict[str, Any]:
    return {
        "key": preset.key,
        "label": preset.label,
        "description": preset.description,
        "source": preset.source,
        "mapping": mapping_to_json(preset.mapping),
    }


def _uploaded_file() -> tuple[IO[bytes], str]:
    if request.mimetype != "multipart/form-data":
        abort(422, message="file: send the file as a multipart upload in the field 'file'",
              errors={"files": {"file": ["Missing data for required field."]}})  # fmt: skip
    try:
        return _upload()
    except FileRejected as exc:
        _file_rejected(exc)


@blp.route("/jobs/columns")
class JobImportColumns(MethodView):
    @requires(blp, "imports.run")
    @blp.response(200, ImportColumnSchema(many=True))
    @blp.doc(operationId="listJobImportColumns", summary="Describe the columns of a jobs import")
    def get(self) -> Any:
        """Every column a jobs file may have, in order: its header, its type and an example in words,
        and whether it is required; then one per plugin job field, named by its key. The import page
        lists them, and the mapping page offers each as a field to fill."""
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
