"""/api/v1/imports/mappings: column mappings saved by name for jobs imports, and their JSON schema."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_dump, post_load, pre_dump, validate

from kpi_core.declarations import RULE_KINDS
from kpi_core.imports import saved
from kpi_core.imports.mapping_io import RULE_PARTS, mapping_from_json
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint(
    "import_mappings", __name__, url_prefix="/api/v1/imports/mappings", description="Saved column mappings of imports"
)

RULE_DOCS = {
    "kind": "column: the value of column; fixed: value on every row; value_map: column's value translated by "
    "values (compared ignoring case); date_time: the date in column joined with the time in time_column; "
    "minus_minutes: the time of the job field base minus the minutes in column",
    "column": "The source column (matched ignoring case and surrounding spaces)",
    "values": 'value_map: source value -> job value, such as {"pro canceled": "cancelled"}',
    "base": "minus_minutes: the job field (a time filled by another rule) the minutes are taken from",
}
MAPPING_DOCS = {
    "fields": "Each job field filled (the columns of GET /api/v1/imports/jobs/columns) and its rule",
    "timezone": "IANA time zone of times without an offset; null: the company's",
    "datetime_format": "strptime format of date-and-time cells, such as %m/%d/%Y %I:%M %p; null: ISO 8601",
    "date_format": "strptime format of a date_time rule's dates; null: ISO (2026-03-02)",
    "time_format": "strptime format of a date_time rule's times; null: 14:30",
}


class ImportFieldRuleSchema(StrictSchema):
    kind = fields.String(
        required=True, validate=validate.OneOf(RULE_KINDS), metadata={"description": RULE_DOCS["kind"]}
    )
    column = fields.String(allow_none=True, metadata={"description": RULE_DOCS["column"]})
    value = fields.String(allow_none=True, metadata={"description": "fixed: the value"})
    values = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": RULE_DOCS["values"]})
    time_column = fields.String(allow_none=True, metadata={"description": "date_time: the column of times of day"})
    base = fields.String(allow_none=True, metadata={"description": RULE_DOCS["base"]})

    @pre_dump
    def _every_part(self, rule: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        # A part missing from a dict would be looked up as its attribute (dict.values) instead.
        return {part: rule.get(part) for part in RULE_PARTS}

    @post_dump
    def _given_parts(self, rule: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {part: value for part, value in rule.items() if value not in (None, {})}


class ImportMappingSchema(StrictSchema):
    """A column mapping in its JSON form; loading it checks it whole (422 naming the part at fault)."""

    # Named apart from Schema.fields (marshmallow's own attribute); "fields" in JSON.
    field_rules = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ImportFieldRuleSchema),
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={"description": MAPPING_DOCS["fields"]},
    )
    timezone = fields.String(allow_none=True, load_default=None, metadata={"description": MAPPING_DOCS["timezone"]})
    datetime_format = fields.String(
        allow_none=True, load_default=None, metadata={"description": MAPPING_DOCS["datetime_format"]}
    )
    date_format = fields.String(
        allow_none=True, load_default=None, metadata={"description": MAPPING_DOCS["date_format"]}
    )
    time_format = fields.String(
        allow_none=True, load_default=None, metadata={"description": MAPPING_DOCS["time_format"]}
    )

    @post_load
    def _checked(self, data: dict[str, Any], **_kwargs: Any) -> Any:
        return mapping_from_json(data)


class SavedImportMappingSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    name = fields.String(required=True)
    mapping = fields.Nested(ImportMappingSchema, required=True)
    created_by_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SavedImportMappingInSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    mapping = fields.Nested(ImportMappingSchema, required=True)


class SavedImportMappingPatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    mapping = fields.Nested(ImportMappingSchema)


@blp.route("")
class SavedMappings(MethodView):
    @requires(blp, "imports.run")
    @blp.response(200, SavedImportMappingSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listImportMappings", summary="List saved column mappings")
    def get(self) -> Any:
        """Every saved mapping, by name."""
        return saved.mapping_query()

    @requires(blp, "imports.run")
    @blp.arguments(SavedImportMappingInSchema)
    @blp.response(201, SavedImportMappingSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="createImportMapping", summary="Save a column mapping")
    def post(self, body: dict[str, Any]) -> Any:
        """Save a mapping by name (audited); the mapping is checked whole (422 names the part at fault)."""
        job_fields = app_state().plugins.job_fields
        mapping = saved.create_saved(db_session(), current_actor(), body["name"], body["mapping"], job_fields)
        commit()
        return mapping


@blp.route("/<int:mapping_id>")
class SavedMappingItem(MethodView):
    @requires(blp, "imports.run")
    @blp.etag
    @blp.response(200, SavedImportMappingSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such mapping")
    @blp.doc(operationId="getImportMapping", summary="Read a saved column mapping")
    def get(self, mapping_id: int) -> Any:
        """One saved mapping; the ETag header is needed to change it."""
        return saved.get_saved(db_session(), mapping_id)

    @requires(blp, "imports.run")
    @blp.etag
    @blp.arguments(SavedImportMappingPatchSchema)
    @blp.response(200, SavedImportMappingSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such mapping")
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="updateImportMapping", summary="Rename or change a saved column mapping")
    def patch(self, body: dict[str, Any], mapping_id: int) -> Any:
        """Rename it or replace its mapping (audited). Send the ETag from GET in If-Match (428 without it)."""
        mapping = saved.get_saved(db_session(), mapping_id)
        blp.check_etag(mapping, SavedImportMappingSchema)
        mapping = saved.update_saved(db_session(), current_actor(), mapping, body, app_state().plugins.job_fields)
        commit()
        return mapping

    @requires(blp, "imports.run")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such mapping")
    @blp.doc(operationId="deleteImportMapping", summary="Delete a saved column mapping")
    def delete(self, mapping_id: int) -> None:
        """Delete a saved mapping (If-Match required, audited)."""
        mapping = saved.get_saved(db_session(), mapping_id)
        blp.check_etag(mapping, SavedImportMappingSchema)
        saved.delete_saved(db_session(), current_actor(), mapping)
        commit()
