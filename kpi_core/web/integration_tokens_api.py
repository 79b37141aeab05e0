"""/api/v1/integration-tokens: named API tokens for scripts and integrations (admins).

A token is shown once, when it is made; it is listed with its last use and
revocable at once. Requests send it as ``Authorization: Bearer kpi_...``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.accounts import integration_tokens as service
from kpi_core.accounts.permissions import PERMISSIONS
from kpi_core.accounts.token_scopes import PERSONAL, PRESETS, grantable
from kpi_core.storage.models import ROLES, TOKEN_ROLES, IntegrationToken
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import AwareTimestamp, StrictSchema

blp = Blueprint(
    "integration_tokens",
    __name__,
    url_prefix="/api/v1/integration-tokens",
    description="API tokens for scripts and integrations",
)


NAME_WANTED = f"Enter a name of 1 to {service.NAME_MAX} characters that says what the token is for"


class IntegrationTokenCreateSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=service.NAME_MAX, error=NAME_WANTED),
        error_messages={"required": NAME_WANTED},
        metadata={"description": "What the token is for, e.g. 'Nightly job import'"},
    )
    role = fields.String(
        required=True,
        validate=validate.OneOf(ROLES),
        metadata={"description": "admin (the whole company) or manager (the teams given); technician is refused"},
    )
    teams = fields.List(
        fields.String(validate=validate.Length(min=1, max=120)),
        validate=validate.Length(max=100),
        metadata={"description": "Names of the teams a manager token works for (at least one)"},
    )
    preset = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A named scope (see /scopes); or give scope"},
    )
    scope = fields.List(
        fields.String(validate=validate.Length(min=1, max=60)),
        validate=validate.Length(min=1, max=len(PERMISSIONS)),
        metadata={"description": "The permission keys the token may use, within its role; or give preset"},
    )
    expires_at = AwareTimestamp(
        metadata={"description": "When it stops working: in the future, at most a year ahead (default 90 days)"}
    )


class IntegrationTokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The start of the token, kpi_<prefix>_..."})
    username = fields.String(required=True, metadata={"description": "Who the token is in the audit trail"})
    role = fields.String(required=True)
    teams = fields.List(fields.String(), required=True)
    scope = fields.List(fields.String(), required=True, metadata={"description": "Permission keys it may use"})
    preset = fields.String(allow_none=True, metadata={"description": "The preset it was made with, if any"})
    status = fields.String(required=True, validate=validate.OneOf(("active", "expired", "revoked")))
    created_at = fields.DateTime(required=True)
    created_by = fields.String(allow_none=True, metadata={"description": "Username of the admin who made it"})
    expires_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoked_by = fields.String(allow_none=True)


class IssuedIntegrationTokenSchema(IntegrationTokenSchema):
    token = fields.String(
        required=True, metadata={"description": "The token itself: shown this once, never again. Keep it secret."}
    )


class IntegrationTokenUseSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    method = fields.String(required=True)
    path = fields.String(required=True)
    permission = fields.String(allow_none=True, metadata={"description": "The permission the operation needs"})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status it was answered with"})
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)


class IntegrationTokenPresetSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    permissions = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "The permission keys it gives, by role"},
    )


class IntegrationTokenPermissionSchema(Schema):
    key = fields.String(required=True)
    description = fields.String(required=True)
    roles = fields.List(fields.String(), required=True, metadata={"description": "Token roles that may have it"})


class IntegrationTokenScopesSchema(Schema):
    presets = fields.List(fields.Nested(IntegrationTokenPresetSchema), required=True)
    permissions = fields.List(fields.Nested(IntegrationTokenPermissionSchema), required=True)


def _view(token: IntegrationToken) -> dict[str, Any]:
    session = db_session()
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "username": service.username_of(session, token.user_id),
        "role": token.role,
        "teams": service.token_teams(session, token),
        "scope": list(token.scope),
        "preset": token.preset,
        "status": service.status_of(token),
        "created_at": token.created_at,
        "created_by": service.username_of(session, token.created_by_id),
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "revoked_by": service.username_of(session, token.revoked_by_id),
    }


@blp.route("")
class Tokens(MethodView):
    @requires(blp, "integration_tokens.manage")
    @blp.response(200, IntegrationTokenSchema(many=True))
    @blp.doc(operationId="listIntegrationTokens", summary="List integration tokens")
    def get(self) -> Any:
        """Every token, newest first, with its last use; revoked and expired ones too. Never the token itself."""
        return [_view(token) for token in service.list_tokens(db_session())]

    @requires(blp, "integration_tokens.manage")
    @blp.arguments(IntegrationTokenCreateSchema)
    @blp.response(201, IssuedIntegrationTokenSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Another active token has this name")
    @blp.doc(operationId="createIntegrationToken", summary="Make an integration token")
    def post(self, body: dict[str, Any]) -> Any:
        """Make a token with a role, a scope (a preset or permission keys) and an expiry. The answer holds
        the token itself, shown this once: only a hash of it is kept."""
        new = service.NewToken(
            name=body["name"],
            role=body["role"],
            scope=tuple(body["scope"]) if "scope" in body else None,
            preset=body.get("preset"),
            team_names=tuple(body.get("teams", ())),
            expires_at=body.get("expires_at"),
        )
        issued = service.create_token(db_session(), new, current_actor())
        result = {**_view(issued.token), "token": issued.text}
        commit()
        return result


@blp.route("/scopes")
class Scopes(MethodView):
    @requires(blp, "integration_tokens.manage")
    @blp.response(200, IntegrationTokenScopesSchema)
    @blp.doc(operationId="listIntegrationTokenScopes", summary="Presets and permissions a token may have")
    def get(self) -> Any:
        """The named scopes (presets) in words, and every permission a token may be given, by role."""
        presets = [
            {
                "key": preset.key,
                "label": preset.label,
                "description": preset.description,
                "permissions": {role: sorted(preset.for_role(role)) for role in TOKEN_ROLES},
            }
            for preset in PRESETS
        ]
        permissions = [
            {"key": key, "description": description, "roles": [role for role in TOKEN_ROLES if key in grantable(role)]}
            for key, description in PERMISSIONS.items()
            if key not in PERSONAL
        ]
        return {"presets": presets, "permissions": permissions}


@blp.route("/<int:token_id>")
class TokenItem(MethodView):
    @requires(blp, "integration_tokens.manage")
    @blp.response(200, IntegrationTokenSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such token")
    @blp.doc(operationId="getIntegrationToken", summary="Read an integration token")
    def get(self, token_id: int) -> Any:
        """One token with its last use (never the token itself)."""
        return _view(service.get_token(db_session(), token_id))

    @requires(blp, "integration_tokens.manage")
    @blp.response(200, IntegrationTokenSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such token")
    @blp.doc(operationId="revokeIntegrationToken", summary="Revoke an integration token")
    def delete(self, token_id: int) -> Any:
        """Stop the token at once: its next request is answered 401. It stays listed, revoked, with its uses."""
        token = service.revoke_token(db_session(), token_id, current_actor())
        result = _view(token)
        commit()
        return result


@blp.route("/<int:token_id>/uses")
class TokenUses(MethodView):
    @requires(blp, "integration_tokens.manage")
    @blp.response(200, IntegrationTokenUseSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.alt_response(404, schema=ErrorSchema, description="No such token")
    @blp.doc(operationId="listIntegrationTokenUses", summary="What a token was used for")
    def get(self, token_id: int) -> Any:
        """Every request made with the token, newest first: when, which operation, and the answer's status."""
        service.get_token(db_session(), token_id)
        return service.uses_query(token_id)
