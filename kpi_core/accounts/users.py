"""User accounts: the service behind the users API and `kpi users`. Every change is audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from kpi_core.accounts.passwords import PasswordRejected, check_policy, hash_password, verify_password
from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Invalid, NotFound
from kpi_core.notify.addresses import check_email
from kpi_core.storage.models import ROLES, IntegrationToken, Team, Technician, User, team_managers
from kpi_core.storage.types import utcnow

USERNAME_MAX = 150
INTEGRATION_USERNAME_PREFIX = "token:"
"""The usernames of integration tokens' own users (kpi_core/accounts/integration_tokens.py): kept for them."""


class UserRejected(Invalid):
    """A user cannot be created or changed as asked; ``field`` names the culprit."""


class UserNotFound(NotFound):
    pass


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: str
    technician_ref: str | None = None
    team_names: tuple[str, ...] = ()
    display_name: str | None = None
    must_change_password: bool = False
    email: str | None = None


@dataclass(frozen=True)
class UserChanges:
    """Fields to change; None leaves a field as it is."""

    role: str | None = None
    display_name: str | None = None
    disabled: bool | None = None
    technician_ref: str | None = None
    team_names: tuple[str, ...] | None = field(default=None)
    email: str | None = None
    """The user's own e-mail address ("" removes it)."""


def _audit_view(session: Session, user: User) -> dict[str, object]:
    view = snapshot(user, exclude=("last_login_at", "tokens_valid_after"))
    view["teams"] = sorted(managed_team_names(session, user.id))
    return view


def managed_team_names(session: Session, user_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Team.name)
            .join(team_managers, team_managers.c.team_id == Team.id)
            .where(team_managers.c.user_id == user_id)
        )
    )


def is_person(user_id: object = User.id) -> ColumnElement[bool]:
    """A WHERE clause keeping people: an integration token's own user is managed with its token, not here."""
    return user_id.not_in(select(IntegrationToken.user_id))  # type: ignore[attr-defined,no-any-return]


def get_user(session: Session, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id, is_person()))
    if user is None:
        raise UserNotFound(f"no user with id {user_id}")
    return user


def create_user(session: Session, new: NewUser, actor: Actor | None = None) -> User:
    """Validate and add a user; raises :class:`UserRejected` naming the field at fault.

    ``actor`` is who is creating it (the command line or set-up code when None)."""
    actor = actor or Actor.system("system")
    username = new.username.strip()
    if not username or len(username) > USERNAME_MAX:
        raise UserRejected("username", f"must be 1 to {USERNAME_MAX} characters")
    if username.lower().startswith(INTEGRATION_USERNAME_PREFIX):
        raise UserRejected(
            "username", f"names starting with {INTEGRATION_USERNAME_PREFIX!r} are kept for integration tokens"
        )
    _check_role(new.role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserRejected("username", f"{username!r} is already taken")
    _check_password(new.password, username)
    user = User(
        username=username,
        password_hash=hash_password(new.password),
        role=new.role,
        display_name=new.display_name,
        email=_email(new.email),
        technician_id=_technician_id(session, new.role, new.technician_ref, None),
        must_change_password=new.must_change_password,
    )
    session.add(user)
    session.flush()
    _set_teams(session, user, new.team_names)
    record(session, actor, "create", "user", user.id, after=_audit_view(session, user))
    return user


def update_user(session: Session, user_id: int, changes: UserChanges, actor: Actor) -> User:
    user = get_user(session, user_id)
    before = _audit_view(session, user)
    role = changes.role or user.role
    _check_role(role)
    if changes.role is not None:
        user.role = changes.role
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if changes.email is not None:
        user.email = _email(changes.email)
    if changes.technician_ref is not None or (role != "technician" and user.technician_id is not None):
        user.technician_id = _technician_id(session, role, changes.technician_ref, user.id)
    elif role == "technician" and user.technician_id is None:
        raise UserRejected("technician", "a technician user must be linked to a technician record")
    if changes.disabled is not None and changes.disabled != user.disabled:
        if changes.disabled and actor.user_id == user.id:
            raise UserRejected("disabled", "you cannot disable your own account")
        user.disabled = changes.disabled
        user.tokens_valid_after = utcnow()
    if changes.team_names is not None or role != "manager":
        _set_teams(session, user, changes.team_names or ())
    session.flush()
    record(session, actor, "update", "user", user.id, before=before, after=_audit_view(session, user))
    return user


def reset_password(session: Session, user_id: int, actor: Actor) -> tuple[User, str]:
    """Give the user a random temporary password they must change at next login."""
    user = get_user(session, user_id)
    before = {"must_change_password": user.must_change_password}
    temporary = secrets.token_urlsafe(12)
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    user.tokens_valid_after = utcnow()
    record(session, actor, "reset_password", "user", user.id, before=before, after={"must_change_password": True})
    return user, temporary


def change_own_password(session: Session, user_id: int, current: str, new: str, actor: Actor) -> User:
    user = get_user(session, user_id)
    if not verify_password(user.password_hash, current):
        raise UserRejected("current_password", "is not your current password")
    if current == new:
        raise UserRejected("new_password", "must differ from the current password")
    _check_password(new, user.username)
    before = {"must_change_password": user.must_change_password}
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.tokens_valid_after = utcnow()
    after = {"password": "changed", "must_change_password": False}
    record(session, actor, "change_password", "user", user.id, before=before, after=after)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(is_person()).order_by(User.username)))


def _email(address: str | None) -> str | None:
    """The address as stored (None for none), or UserRejected naming ``email``."""
    address = (address or "").strip() or None
    problem = check_email(address) if address is not None else None
    if problem:
        raise UserRejected("email", f"Enter an e-mail address in the right form, like name@example.com: {problem}")
    return address


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserRejected("role", f"must be one of {', '.join(ROLES)}")


def _check_password(password: str, username: str) -> None:
    try:
        check_policy(password, username=username)
    except PasswordRejected as exc:
        raise UserRejected("password", str(exc)) from None


def _technician_id(session: Session, role: str, ref: str | None, user_id: int | None) -> int | None:
    if role != "technician":
        if ref:
            raise UserRejected("technician", "only technician users are linked to a technician record")
        return None
    if not ref:
        raise UserRejected("technician", "a technician user must be linked to a technician record")
    technician = session.scalar(select(Technician).where(Technician.external_ref == ref))
    if technician is None:
        raise UserRejected("technician", f"no technician with reference {ref!r}")
    holder = session.scalar(select(User.id).where(User.technician_id == technician.id))
    if holder is not None and holder != user_id:
        raise UserRejected("technician", f"technician {ref!r} already has a user")
    return technician.id


def _set_teams(session: Session, user: User, names: tuple[str, ...]) -> None:
    if names and user.role != "manager":
        raise UserRejected("team", "only managers manage teams")
    teams = []
    for name in names:
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            raise UserRejected("team", f"no team named {name!r}")
        teams.append(team)
    session.execute(delete(team_managers).where(team_managers.c.user_id == user.id))
    for team in teams:
        session.execute(team_managers.insert().values(team_id=team.id, user_id=user.id))
