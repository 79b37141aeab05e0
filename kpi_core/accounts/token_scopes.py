"""What an integration token may be allowed to do: its roles, the permissions it may be given, presets.

A token's scope is a set of permission keys (kpi_core/accounts/permissions.py),
a subset of its role's. A few permissions are about a person and are never
given to a token (:data:`PERSONAL`). Presets name common scopes in words
("Import jobs and feedback") so that an admin need not know the keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kpi_core.accounts.permissions import PERMISSIONS, ROLE_PERMISSIONS
from kpi_core.errors import Invalid
from kpi_core.storage.models import TOKEN_ROLES

PERSONAL: dict[str, str] = {
    "account.self": "it is about a person's own account and password, and a token is not a person",
    "dashboard.use": "the dashboard and its layout are a person's own; read KPIs with kpis.read instead",
    "job_runs.dashboard": "the job queue's dashboard opens in a browser from a login",
    "evaluations.acknowledge": "only technicians acknowledge their own evaluations",
    "integration_tokens.manage": "tokens are created and revoked by an admin who is logged in, never by a token",
    "notifications.subscribe": "what a person receives is their own choice, and a token receives no messages",
    "self_appraisals.write": "a self-appraisal is a technician's about themselves, and a token is no technician",
}
"""Permissions no token is given, with the reason said to whoever asks for one."""

TECHNICIAN_REFUSED = (
    "a token cannot have the technician role: a technician sees only their own jobs, and a token is no "
    "technician. Choose manager (with the teams it works for) or admin"
)


@dataclass(frozen=True)
class Preset:
    """A named scope: ``permissions`` None means every read permission the token's role has."""

    key: str
    label: str
    description: str
    permissions: frozenset[str] | None

    def for_role(self, role: str) -> frozenset[str]:
        if self.permissions is None:
            return frozenset(p for p in grantable(role) if p.endswith(".read"))
        return self.permissions


PRESETS: tuple[Preset, ...] = (
    Preset(
        "imports",
        "Import jobs and feedback",
        "Send job and customer feedback files, and read the columns they take. Nothing else.",
        frozenset({"imports.run"}),
    ),
    Preset(
        "read_kpis",
        "Read KPIs and reports",
        "Read KPI values, scorecards and targets, the teams and technicians they are about, "
        "and download reports already made.",
        frozenset({"kpis.read", "targets.read", "teams.read", "technicians.read", "reports.read"}),
    ),
    Preset(
        "reports",
        "Request and download reports",
        "Ask for PDF and CSV reports of the KPIs, and download them.",
        frozenset({"reports.create", "reports.read", "kpis.read", "teams.read", "technicians.read"}),
    ),
    Preset(
        "sync_records",
        "Keep jobs, customers and feedback in step",
        "Read, add, change and delete jobs, customers and feedback, one at a time or by importing "
        "files, and read the teams and technicians they belong to.",
        frozenset(
            {"jobs.read", "jobs.manage", "customers.read", "customers.manage", "feedback.read", "feedback.manage"}
            | {"imports.run", "teams.read", "technicians.read"}
        ),
    ),
    Preset(
        "read_only",
        "Read everything, change nothing",
        "List and read whatever its role (and a manager token's teams) may see, and change nothing.",
        None,
    ),
)
PRESETS_BY_KEY = {preset.key: preset for preset in PRESETS}


def grantable(role: str) -> frozenset[str]:
    """The permissions a token of ``role`` may be given."""
    return frozenset(ROLE_PERMISSIONS.get(role, frozenset())) - PERSONAL.keys()


def check_role(role: str) -> None:
    if role == "technician":
        raise Invalid("role", TECHNICIAN_REFUSED)
    if role not in TOKEN_ROLES:
        raise Invalid("role", f"must be one of {', '.join(TOKEN_ROLES)}")


def resolve_scope(role: str, permissions: Iterable[str] | None, preset: str | None) -> frozenset[str]:
    """The scope asked for, either a preset's key or a list of permission keys; raises :class:`Invalid`
    naming ``preset`` or ``scope`` when it is missing, unknown, personal or beyond ``role``."""
    if preset is not None and permissions is not None:
        raise Invalid("preset", "give a preset or a list of permissions in scope, not both")
    if preset is not None:
        if preset not in PRESETS_BY_KEY:
            raise Invalid("preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS_BY_KEY)}")
        chosen = PRESETS_BY_KEY[preset]
        beyond = sorted(chosen.for_role(role) - grantable(role))
        if beyond:
            raise Invalid(
                "preset", f"{chosen.label!r} needs permissions a {role} token cannot have: {', '.join(beyond)}"
            )
        return chosen.for_role(role)
    if not permissions:
        raise Invalid("scope", "choose what the token may do: a preset, or at least one permission")
    wanted = frozenset(permissions)
    for permission in sorted(wanted):
        if permission not in PERMISSIONS:
            raise Invalid("scope", f"unknown permission {permission!r}")
        if permission in PERSONAL:
            raise Invalid("scope", f"{permission!r} cannot be given to a token: {PERSONAL[permission]}")
        if permission not in ROLE_PERMISSIONS[role]:
            raise Invalid("scope", f"{permission!r} is beyond the {role} role, so a {role} token cannot have it")
    return wanted


def describe(permission: str) -> str:
    """A permission in words, for messages."""
    return PERMISSIONS.get(permission, permission)
