"""Authentication and the one permission check every API operation goes through.

Each view method is decorated with ``@requires(blp, "permission")`` (or
``@public(blp)``). The decorator authenticates the bearer token, checks the
permission from kpi_core/accounts/permissions.py, documents the security
requirement and the 401/403 answers in OpenAPI, and records the rule so a
test can walk every operation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Blueprint, abort

from kpi_core.accounts import integration_tokens
from kpi_core.accounts.auth import AuthFailed
from kpi_core.accounts.permissions import PERMISSIONS, Principal
from kpi_core.accounts.scope import Scope
from kpi_core.accounts.token_scopes import PERSONAL, describe
from kpi_core.audit.trail import Actor
from kpi_core.web.db import db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.state import app_state

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "public"
SIGNED_IN = "signed-in"
"""The rule of an operation open to any logged-in user (``signed_in``)."""
BEARER_SCHEME = "bearerAuth"
PERMISSION_EXTENSION = "x-permission"
"""Each operation in the OpenAPI document names its permission here (or "public")."""
# Operations a user whose password was reset may still call: enough to change it.
PASSWORD_CHANGE_ALLOWED = frozenset({"account.self"})


def _challenge(message: str) -> None:
    abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="handyman-kpi"'})


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_principal() -> Principal:
    """The authenticated user of this request (only inside a ``requires`` view)."""
    return g.principal


def current_actor() -> Actor:
    """Who is acting, for the audit trail: the user if authenticated, with request id and IP."""
    principal: Principal | None = g.get("principal")
    return Actor(
        user_id=principal.user_id if principal else None,
        username=principal.username if principal else None,
        request_id=g.get("request_id"),
        ip=request.remote_addr,
    )


TOKEN_USED = "integration_token_id"  # noqa: S105 - a key of flask.g, not a secret
"""``g`` key: the integration token a request presented, once its secret matched (web/token_uses.py logs the use)."""
OPERATION_PERMISSION = "operation_permission"
"""``g`` key: the permission of the operation the request called."""


def authenticate() -> Principal:
    """The principal of the request's bearer token: a login's access token or an integration token."""
    token = _bearer_token()
    if token is None:
        _challenge("authentication required: send Authorization: Bearer <access token>")
    try:
        if token.startswith(integration_tokens.TEXT_START):
            principal = integration_tokens.authenticate_token(db_session(), token)
            g.setdefault(TOKEN_USED, principal.integration_token_id)
        else:
            principal = app_state().authenticator.authenticate(db_session(), token)
    except integration_tokens.TokenRejected as exc:
        g.setdefault(TOKEN_USED, exc.token_id)
        _challenge(str(exc))
    except AuthFailed as exc:
        _challenge(str(exc))
    g.principal = principal
    return principal


def _beyond_scope(permission: str) -> None:
    if permission in PERSONAL:
        message = f"An integration token cannot do this: {PERSONAL[permission]}."
    else:
        message = (
            f'This integration token may not do this: its scope does not include "{describe(permission)}" '
            f"(permission {permission}). An admin can make a token whose scope includes it."
        )
    abort(403, message=message, errors={"headers": {"Authorization": [f"the token's scope lacks {permission}"]}})


def requires(blp: Blueprint, permission: str, *, unless: Callable[[Principal], bool] | None = None) -> Callable[[F], F]:
    """Allow the operation only to authenticated users whose role has ``permission``.

    ``unless(principal)``, if given, lets in a principal without the permission
    when it says True (a job's own permission for starting that job).
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def check(principal: Principal) -> None:
        if unless is not None and not principal.can(permission) and unless(principal):
            return
        if principal.role_can(permission) and not principal.can(permission):
            _beyond_scope(permission)
        if not principal.can(permission):
            _refuse(principal)

    return _guard(blp, permission, check)


def requires_declared(blp: Blueprint, permission: str) -> Callable[[F], F]:
    """Like :func:`requires` for a permission a plugin declares (checked once plugins are loaded)."""
    from kpi_core.accounts import grants

    def check(principal: Principal) -> None:
        if not grants.may(db_session(), app_state().plugins.permissions, principal, permission):
            _refuse(principal)

    return _guard(blp, permission, check)


def signed_in(blp: Blueprint) -> Callable[[F], F]:
    """Allow the operation to anyone logged in, whatever their role."""
    return _guard(blp, SIGNED_IN, lambda principal: None)


def _refuse(principal: Principal) -> None:
    # The permission's key stays in the audit log and the API docs, not in a message for people.
    abort(403, message=f"Your role ({principal.role}) cannot do this. Ask an administrator if you need to.")


def _guard(blp: Blueprint, permission: str, check: Callable[[Principal], None]) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            g.setdefault(OPERATION_PERMISSION, permission)
            principal = authenticate()
            if principal.must_change_password and permission not in PASSWORD_CHANGE_ALLOWED:
                abort(403, message="Change your temporary password first, then try again.")
            check(principal)
            return view(*args, **kwargs)

        guarded._kpi_permission = permission  # type: ignore[attr-defined]
        documented = blp.doc(security=[{BEARER_SCHEME: []}], **{PERMISSION_EXTENSION: permission})(guarded)
        documented = blp.alt_response(401, schema=ErrorSchema, description="Missing, invalid or expired token")(
            documented
        )
        if permission == SIGNED_IN:
            return documented
        return blp.alt_response(403, schema=ErrorSchema, description=f"Needs permission {permission}")(documented)

    return decorate


def public(blp: Blueprint) -> Callable[[F], F]:
    """Mark an operation as open to anyone (documented with no security requirement)."""

    def decorate(view: F) -> F:
        view._kpi_permission = PUBLIC  # type: ignore[attr-defined]
        return blp.doc(security=[], **{PERMISSION_EXTENSION: PUBLIC})(view)

    return decorate


def permission_of(view: Callable[..., Any]) -> str | None:
    return getattr(view, "_kpi_permission", None)


def current_scope() -> Scope:
    """The records the current user may see (see kpi_core/accounts/scope.py)."""
    return Scope(g.principal)
