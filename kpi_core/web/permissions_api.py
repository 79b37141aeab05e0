"""/api/v1/permissions: the core's permissions and the plugins' (``kpi_permissions``), with their roles.

An admin may grant a plugin's permission to, or take it from, managers and
technicians; the core's permissions are fixed (docs/permissions.md).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from kpi_core.accounts import grants
from kpi_core.declarations import ROLE_NAMES
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("permissions", __name__, url_prefix="/api/v1/permissions", description="Roles' permissions")


class PermissionSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True, metadata={"description": "What the permission allows, in words"})
    plugin = fields.String(allow_none=True, metadata={"description": "The plugin that declares it; null: the core"})
    roles = fields.List(fields.String(), required=True, metadata={"description": "The roles that have it now"})
    default_roles = fields.List(fields.String(), required=True, metadata={"description": "As declared"})
    editable = fields.Boolean(required=True, metadata={"description": "Whether an admin may change its roles"})


class PermissionRolesSchema(StrictSchema):
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_NAMES)),
        required=True,
        metadata={"description": "The roles to have it (admins always do)"},
    )


def _rows() -> list[dict[str, Any]]:
    plugins = app_state().plugins
    owners = {key: plugins.owner_of("kpi_permissions", key) for key in plugins.permissions}
    return grants.listing(db_session(), plugins.permissions, owners)


@blp.route("")
class Permissions(MethodView):
    @requires(blp, "users.read")
    @blp.response(200, PermissionSchema(many=True))
    @blp.doc(operationId="listPermissions", summary="List permissions and the roles that have them")
    def get(self) -> list[dict[str, Any]]:
        """The core's permissions (fixed) and those the loaded plugins declare, with the roles that have each."""
        return _rows()


@blp.route("/<string:key>")
class PermissionItem(MethodView):
    @requires(blp, "users.manage")
    @blp.arguments(PermissionRolesSchema)
    @blp.response(200, PermissionSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No loaded plugin declares this permission")
    @blp.alt_response(409, schema=ErrorSchema, description="A core permission, which is fixed")
    @blp.doc(operationId="putPermissionRoles", summary="Choose which roles have a plugin's permission")
    def put(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        """Give a plugin's permission to exactly these roles (admins always keep it). Audited."""
        plugins = app_state().plugins
        try:
            grants.set_roles(db_session(), plugins.permissions, key, data["roles"], current_actor())
        except grants.UnknownPermission as exc:
            abort(404, message=str(exc))
        except grants.FixedPermission as exc:
            abort(409, message=f"{exc}: see docs/permissions.md")
        commit()
        return next(row for row in _rows() if row["key"] == key)
