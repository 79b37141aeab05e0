"""/api/v1/technicians (scoped: technicians see themselves, managers their teams)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.records import technicians
from kpi_core.storage.models import Technician
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, StrictSchema
from kpi_core.web.sorting import order_by, sort_field

blp = Blueprint("technicians", __name__, url_prefix="/api/v1/technicians", description="Technicians")

REF = validate.Length(min=1, max=64)


class TechnicianSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    external_ref = fields.String(required=True, metadata={"description": "Your field-service system's id"})
    name = fields.String(required=True)
    email = fields.Email(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    hired_on = fields.Date(allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TechnicianInSchema(StrictSchema):
    external_ref = fields.String(required=True, validate=REF)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    team_id = fields.Integer(allow_none=True, validate=RECORD_ID)
    active = fields.Boolean(load_default=True)
    hired_on = fields.Date(allow_none=True)


class TechnicianPatchSchema(StrictSchema):
    external_ref = fields.String(validate=REF)
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    team_id = fields.Integer(allow_none=True, validate=RECORD_ID)
    active = fields.Boolean()
    hired_on = fields.Date(allow_none=True)


class TechnicianQuerySchema(StrictSchema):
    team = fields.Integer(validate=RECORD_ID, metadata={"description": "Team id"})
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "Name contains"})
    sort = sort_field(technicians.SORTABLE, "name")


@blp.route("")
class Technicians(MethodView):
    @requires(blp, "technicians.read")
    @blp.arguments(TechnicianQuerySchema, location="query")
    @blp.response(200, TechnicianSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listTechnicians", summary="List technicians")
    def get(self, query: dict[str, Any]) -> Any:
        """Technicians one may see, filtered by team, active and name."""
        statement = technicians.technician_query(current_scope(), query)
        return statement.order_by(*order_by(technicians.SORTABLE, query["sort"], Technician.id))

    @requires(blp, "technicians.manage")
    @blp.arguments(TechnicianInSchema)
    @blp.response(201, TechnicianSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.doc(operationId="createTechnician", summary="Create a technician")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a technician (managers: into a team they manage)."""
        technician = technicians.create_technician(db_session(), current_scope(), current_actor(), body)
        commit()
        return technician


@blp.route("/<int:technician_id>")
class TechnicianItem(MethodView):
    @requires(blp, "technicians.read")
    @blp.etag
    @blp.response(200, TechnicianSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such technician (or not yours to see)")
    @blp.doc(operationId="getTechnician", summary="Read a technician")
    def get(self, technician_id: int) -> Any:
        """One technician; the ETag header is needed to change it."""
        return technicians.get_technician(db_session(), current_scope(), technician_id)

    @requires(blp, "technicians.manage")
    @blp.etag
    @blp.arguments(TechnicianPatchSchema)
    @blp.response(200, TechnicianSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such technician (or not yours to see)")
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.doc(operationId="updateTechnician", summary="Change a technician")
    def patch(self, body: dict[str, Any], technician_id: int) -> Any:
        """Change the given fields. Send the ETag in If-Match (428 without it, 412 if stale)."""
        session, scope = db_session(), current_scope()
        technician = technicians.get_technician(session, scope, technician_id)
        blp.check_etag(technician, TechnicianSchema)
        technician = technicians.update_technician(session, scope, current_actor(), technician, body)
        commit()
        return technician

    @requires(blp, "technicians.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such technician (or not yours to see)")
    @blp.alt_response(409, schema=ErrorSchema, description="Jobs or evaluations refer to the technician")
    @blp.doc(operationId="deleteTechnician", summary="Delete a technician without history")
    def delete(self, technician_id: int) -> None:
        """Delete a technician who has no jobs or evaluations; otherwise set ``active`` to false."""
        session = db_session()
        technician = technicians.get_technician(session, current_scope(), technician_id)
        blp.check_etag(technician, TechnicianSchema)
        technicians.delete_technician(session, current_actor(), technician)
        commit()
