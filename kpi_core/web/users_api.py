"""/api/v1/users: user accounts (admins)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from kpi_core.accounts.passwords import MAX_LENGTH
from kpi_core.accounts.users import (
    NewUser,
    UserChanges,
    UserNotFound,
    UserRejected,
    create_user,
    get_user,
    list_users,
    reset_password,
    update_user,
)
from kpi_core.storage.models import ROLES
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema, UserSchema

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="User accounts")
EMAIL_HELP = "Where the user's digests and alerts are sent (a technician's falls back to their technician record's)"


class UserCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    display_name = fields.String(validate=validate.Length(max=200))
    technician_ref = fields.String(validate=validate.Length(min=1, max=64))
    teams = fields.List(fields.String(validate=validate.Length(min=1, max=120)), validate=validate.Length(max=100))
    must_change_password = fields.Boolean(load_default=True)
    email = fields.String(validate=validate.Length(max=254), metadata={"description": EMAIL_HELP})


class UserUpdateSchema(StrictSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    display_name = fields.String(validate=validate.Length(max=200))
    disabled = fields.Boolean()
    technician_ref = fields.String(validate=validate.Length(min=1, max=64))
    teams = fields.List(fields.String(validate=validate.Length(min=1, max=120)), validate=validate.Length(max=100))
    email = fields.String(validate=validate.Length(max=254), metadata={"description": EMAIL_HELP + '; "" removes it'})


class UserDetailSchema(UserSchema):
    teams = fields.List(fields.String(), metadata={"description": "Teams a manager manages"})


class TemporaryPasswordSchema(Schema):
    temporary_password = fields.String(required=True)
    must_change_password = fields.Boolean(required=True)


def _rejected(exc: UserRejected) -> None:
    field = {"team": "teams", "technician": "technician_ref"}.get(exc.field, exc.field)
    status = 409 if exc.field == "username" and "taken" in exc.message else 422
    abort(status, message=f"{field}: {exc.message}", errors={"json": {field: [exc.message]}})


def _detail(user: Any) -> dict[str, Any]:
    from kpi_core.accounts.users import managed_team_names

    data = {name: getattr(user, name) for name in UserSchema().fields}
    data["teams"] = sorted(managed_team_names(db_session(), user.id))
    return data


def _get_or_404(user_id: int) -> Any:
    try:
        return get_user(db_session(), user_id)
    except UserNotFound:
        abort(404, message=f"no user with id {user_id}")


@blp.route("")
class Users(MethodView):
    @requires(blp, "users.read")
    @blp.response(200, UserSchema(many=True))
    @blp.doc(operationId="listUsers", summary="List users")
    def get(self) -> Any:
        """Every user account, by username."""
        return list_users(db_session())

    @requires(blp, "users.manage")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserDetailSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Username already taken")
    @blp.doc(operationId="createUser", summary="Create a user")
    def post(self, body: dict[str, Any]) -> Any:
        """Create an account. By default the user must change the password at first login."""
        new = NewUser(
            username=body["username"],
            password=body["password"],
            role=body["role"],
            technician_ref=body.get("technician_ref"),
            team_names=tuple(body.get("teams", ())),
            display_name=body.get("display_name"),
            must_change_password=body["must_change_password"],
            email=body.get("email"),
        )
        try:
            user = create_user(db_session(), new, current_actor())
        except UserRejected as exc:
            _rejected(exc)
        result = _detail(user)
        commit()
        return result


@blp.route("/<int:user_id>")
class UserItem(MethodView):
    @requires(blp, "users.read")
    @blp.etag
    @blp.response(200, UserDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    @blp.doc(operationId="getUser", summary="Read a user")
    def get(self, user_id: int) -> Any:
        """One account with the teams it manages; the ETag header is needed to change it."""
        return _detail(_get_or_404(user_id))

    @requires(blp, "users.manage")
    @blp.etag
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    @blp.doc(operationId="updateUser", summary="Change a user (role, teams, disabled, ...)")
    def patch(self, body: dict[str, Any], user_id: int) -> Any:
        """Change the given fields. Send the ETag in If-Match (428 without it, 412 if stale).
        Disabling a user stops their tokens at once."""
        blp.check_etag(_detail(_get_or_404(user_id)), UserDetailSchema)
        teams = body.get("teams")
        changes = UserChanges(
            role=body.get("role"),
            display_name=body.get("display_name"),
            disabled=body.get("disabled"),
            technician_ref=body.get("technician_ref"),
            team_names=tuple(teams) if teams is not None else None,
            email=body.get("email"),
        )
        try:
            user = update_user(db_session(), user_id, changes, current_actor())
        except UserRejected as exc:
            _rejected(exc)
        result = _detail(user)
        commit()
        return result


@blp.route("/<int:user_id>/reset-password")
class UserPasswordReset(MethodView):
    @requires(blp, "users.manage")
    @blp.response(200, TemporaryPasswordSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    @blp.doc(operationId="resetUserPassword", summary="Reset a user's password")
    def post(self, user_id: int) -> Any:
        """Set a random temporary password, shown once; the user must change it at next login
        and their current tokens stop working."""
        _get_or_404(user_id)
        _user, temporary = reset_password(db_session(), user_id, current_actor())
        commit()
        return {"temporary_password": temporary, "must_change_password": True}
