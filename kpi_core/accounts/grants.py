"""Which roles have the permissions plugins declare (``kpi_permissions``).

The core's permissions are fixed in kpi_core/accounts/permissions.py. A
plugin's permission has the roles its declaration names by default; an admin
may grant it to, or take it from, managers and technicians, and that choice
is kept in ``permission_grants`` (audited). Admins always have every
permission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import PERMISSIONS, Principal
from kpi_core.audit import trail
from kpi_core.declarations import ROLE_NAMES, Permission
from kpi_core.storage.models import PermissionGrant

CORE_NAMESPACES = frozenset(key.split(".", 1)[0] for key in PERMISSIONS)
"""The first words of the core's permission keys: a plugin's permission may not use them."""


class UnknownPermission(LookupError):
    """No loaded plugin declares this permission."""


class FixedPermission(ValueError):
    """The core's permissions (and admins' grants) cannot be changed."""


def roles_of(session: Session, declared: Mapping[str, Permission]) -> dict[str, tuple[str, ...]]:
    """Every plugin permission's roles in force: the declared defaults with admins' changes applied."""
    roles = {key: set(permission.roles) for key, permission in declared.items()}
    for grant in session.scalars(select(PermissionGrant).where(PermissionGrant.permission.in_(list(declared)))):
        if grant.granted:
            roles[grant.permission].add(grant.role)
        elif grant.role != "admin":
            roles[grant.permission].discard(grant.role)
    return {key: tuple(role for role in ROLE_NAMES if role in granted) for key, granted in roles.items()}


def may(session: Session, declared: Mapping[str, Permission], principal: Principal, key: str) -> bool:
    """Whether ``principal`` has the permission ``key`` (the core's or a plugin's)."""
    if key in PERMISSIONS:
        return principal.can(key)
    if key not in declared:
        return False
    if principal.scope is not None and key not in principal.scope:
        return False  # an integration token's scope names the core's permissions only
    if principal.role == "admin":
        return True
    return principal.role in roles_of(session, {key: declared[key]})[key]


def set_roles(
    session: Session, declared: Mapping[str, Permission], key: str, roles: Iterable[str], actor: trail.Actor
) -> tuple[str, ...]:
    """Give the plugin permission ``key`` to exactly ``roles`` (plus admins), in the caller's transaction."""
    if key in PERMISSIONS:
        raise FixedPermission(f"{key} is one of the core's permissions, which are fixed")
    if key not in declared:
        raise UnknownPermission(f"no loaded plugin declares the permission {key}")
    wanted = set(roles) | {"admin"}
    unknown = wanted - set(ROLE_NAMES)
    if unknown:
        raise ValueError(f"unknown role {sorted(unknown)[0]!r}: roles are {', '.join(ROLE_NAMES)}")
    before = roles_of(session, {key: declared[key]})[key]
    default = set(declared[key].roles)
    session.execute(delete(PermissionGrant).where(PermissionGrant.permission == key))
    for role in ROLE_NAMES:
        if role != "admin" and (role in wanted) != (role in default):
            session.add(PermissionGrant(permission=key, role=role, granted=role in wanted, updated_by_id=actor.user_id))
    session.flush()
    after = tuple(role for role in ROLE_NAMES if role in wanted)
    trail.record(
        session, actor, "permission.roles_set", "permission", key, before={"roles": before}, after={"roles": after}
    )
    return after


def listing(session: Session, declared: Mapping[str, Permission], owners: Mapping[str, str]) -> list[dict[str, Any]]:
    """The core's permissions and the plugins', with the roles that have each: the admin page's table."""
    from kpi_core.accounts.permissions import ROLE_PERMISSIONS

    rows: list[dict[str, Any]] = [
        {
            "key": key,
            "label": label,
            "plugin": None,
            "roles": [role for role in ROLE_NAMES if key in ROLE_PERMISSIONS[role]],
            "default_roles": [role for role in ROLE_NAMES if key in ROLE_PERMISSIONS[role]],
            "editable": False,
        }
        for key, label in PERMISSIONS.items()
    ]
    in_force = roles_of(session, declared)
    for key in sorted(declared):
        rows.append(
            {
                "key": key,
                "label": declared[key].label,
                "plugin": owners[key],
                "roles": list(in_force[key]),
                "default_roles": list(declared[key].roles),
                "editable": True,
            }
        )
    return rows
