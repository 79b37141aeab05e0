"""/api/v1/auth: log in, refresh, log out, who am I, change my password."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from kpi_core.accounts.auth import AuthFailed
from kpi_core.accounts.passwords import MAX_LENGTH
from kpi_core.accounts.throttle import LoginThrottled
from kpi_core.accounts.users import UserRejected, change_own_password
from kpi_core.web.access import current_actor, current_principal, public, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.schemas import StrictSchema, UserSchema
from kpi_core.web.state import app_state

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Log in and manage tokens")


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds until the access token expires"})


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))


def _unauthorized(message: str) -> None:
    abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="handyman-kpi"'})


@blp.route("/login")
class Login(MethodView):
    @public(blp)
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Invalid username or password")
    @blp.alt_response(429, schema=ErrorSchema, description="Too many failed logins (see Retry-After)")
    @blp.alt_response(503, schema=ErrorSchema, description="The throttle's store (Redis) is unreachable")
    @blp.doc(operationId="login", summary="Log in with username and password")
    def post(self, body: dict[str, Any]) -> Any:
        """Exchange a username and password for an access token and a refresh token."""
        authenticator = app_state().authenticator
        try:
            pair = authenticator.login(db_session(), body["username"], body["password"], current_actor())
        except LoginThrottled as exc:
            abort(429, message=str(exc), headers={"Retry-After": str(exc.retry_after)})
        except AuthFailed as exc:
            _unauthorized(str(exc))
        commit()
        return pair


@blp.route("/refresh")
class Refresh(MethodView):
    @public(blp)
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Invalid, expired, used or revoked refresh token")
    @blp.doc(operationId="refreshTokens", summary="Rotate a refresh token")
    def post(self, body: dict[str, Any]) -> Any:
        """Trade a refresh token for a new pair. Each refresh token works once; presenting a used
        one again revokes every token descended from the same login."""
        try:
            pair = app_state().authenticator.refresh(db_session(), body["refresh_token"], current_actor())
        except AuthFailed as exc:
            _unauthorized(str(exc))
        commit()
        return pair


@blp.route("/logout")
class Logout(MethodView):
    @requires(blp, "account.self")
    @blp.response(204)
    @blp.doc(operationId="logout", summary="Log out (revoke this login's tokens)")
    def post(self) -> None:
        """Revoke the refresh token family of this login and its access tokens."""
        app_state().authenticator.logout(db_session(), current_principal(), current_actor())
        commit()


@blp.route("/me")
class Me(MethodView):
    @requires(blp, "account.self")
    @blp.response(200, UserSchema)
    @blp.doc(operationId="getCurrentUser", summary="The logged-in user")
    def get(self) -> Any:
        """The account behind the access token, with role and linked technician."""
        from kpi_core.accounts.users import get_user

        return get_user(db_session(), current_principal().user_id)


@blp.route("/password")
class Password(MethodView):
    @requires(blp, "account.self")
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="Wrong current password or rejected new one")
    @blp.doc(operationId="changeOwnPassword", summary="Change one's own password")
    def post(self, body: dict[str, Any]) -> Any:
        """Change the password (the current one is required). Other logins' tokens stop working;
        the answer carries a fresh token pair for this one."""
        session = db_session()
        try:
            user = change_own_password(
                session, current_principal().user_id, body["current_password"], body["new_password"], current_actor()
            )
        except UserRejected as exc:
            # The service names the policy's field "password"; this request calls it new_password.
            field = "new_password" if exc.field == "password" else exc.field
            abort(422, message=f"{field}: {exc.message}", errors={"json": {field: [exc.message]}})
        pair = app_state().authenticator.issue_for(user)
        commit()
        return pair
