"""/api/v1/teams."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.records import teams
from kpi_core.web.access import current_actor, current_scope, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.sorting import order_by, sort_field

blp = Blueprint("teams", __name__, url_prefix="/api/v1/teams", description="Teams of technicians")


class TeamSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TeamInSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class TeamPatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=120))


class TeamQuerySchema(StrictSchema):
    name = fields.String(validate=validate.Length(max=120), metadata={"description": "Name contains"})
    sort = sort_field(teams.SORTABLE, "name")


@blp.route("")
class Teams(MethodView):
    @requires(blp, "teams.read")
    @blp.arguments(TeamQuerySchema, location="query")
    @blp.response(200, TeamSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listTeams", summary="List teams")
    def get(self, query: dict[str, Any]) -> Any:
        """Teams, filtered by name and sorted."""
        statement = teams.team_query(current_scope(), name=query.get("name"))
        from kpi_core.storage.models import Team

        return statement.order_by(*order_by(teams.SORTABLE, query["sort"], Team.id))

    @requires(blp, "teams.manage")
    @blp.arguments(TeamInSchema)
    @blp.response(201, TeamSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="createTeam", summary="Create a team")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a team with a unique name."""
        team = teams.create_team(db_session(), current_actor(), body)
        commit()
        return team


@blp.route("/<int:team_id>")
class TeamItem(MethodView):
    @requires(blp, "teams.read")
    @blp.etag
    @blp.response(200, TeamSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such team")
    @blp.doc(operationId="getTeam", summary="Read a team")
    def get(self, team_id: int) -> Any:
        """One team; the ETag header is needed to change it."""
        return teams.get_team(db_session(), current_scope(), team_id)

    @requires(blp, "teams.manage")
    @blp.etag
    @blp.arguments(TeamPatchSchema)
    @blp.response(200, TeamSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such team")
    @blp.alt_response(409, schema=ErrorSchema, description="Name already used")
    @blp.doc(operationId="updateTeam", summary="Rename a team")
    def patch(self, body: dict[str, Any], team_id: int) -> Any:
        """Change a team. Send the ETag from GET in If-Match (428 without it, 412 if stale)."""
        team = teams.get_team(db_session(), current_scope(), team_id)
        blp.check_etag(team, TeamSchema)
        team = teams.update_team(db_session(), current_actor(), team, body)
        commit()
        return team

    @requires(blp, "teams.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such team")
    @blp.alt_response(409, schema=ErrorSchema, description="Technicians still belong to it")
    @blp.doc(operationId="deleteTeam", summary="Delete an empty team")
    def delete(self, team_id: int) -> None:
        """Delete a team that has no technicians (If-Match required)."""
        team = teams.get_team(db_session(), current_scope(), team_id)
        blp.check_etag(team, TeamSchema)
        teams.delete_team(db_session(), current_actor(), team)
        commit()
