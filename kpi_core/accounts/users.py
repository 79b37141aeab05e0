"""Creating and listing users: the service behind `kpi users` (and later the users API)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.accounts.passwords import PasswordRejected, check_policy, hash_password
from kpi_core.errors import KpiError
from kpi_core.storage.models import ROLES, Team, Technician, User, team_managers

USERNAME_MAX = 150


class UserRejected(KpiError):
    """A user cannot be created as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: str
    technician_ref: str | None = None
    team_names: tuple[str, ...] = ()
    display_name: str | None = None
    must_change_password: bool = False


def create_user(session: Session, new: NewUser) -> User:
    """Validate and add a user; raises :class:`UserRejected` naming the field at fault."""
    username = new.username.strip()
    if not username or len(username) > USERNAME_MAX:
        raise UserRejected("username", f"must be 1 to {USERNAME_MAX} characters")
    if new.role not in ROLES:
        raise UserRejected("role", f"must be one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserRejected("username", f"{username!r} is already taken")
    try:
        check_policy(new.password, username=username)
    except PasswordRejected as exc:
        raise UserRejected("password", str(exc)) from None
    technician_id = _technician_id(session, new)
    user = User(
        username=username,
        password_hash=hash_password(new.password),
        role=new.role,
        display_name=new.display_name,
        technician_id=technician_id,
        must_change_password=new.must_change_password,
    )
    session.add(user)
    session.flush()
    for team in _teams(session, new):
        session.execute(team_managers.insert().values(team_id=team.id, user_id=user.id))
    return user


def _technician_id(session: Session, new: NewUser) -> int | None:
    if new.role != "technician":
        if new.technician_ref:
            raise UserRejected("technician", "only technician users are linked to a technician record")
        return None
    if not new.technician_ref:
        raise UserRejected("technician", "a technician user must be linked to a technician record")
    technician = session.scalar(select(Technician).where(Technician.external_ref == new.technician_ref))
    if technician is None:
        raise UserRejected("technician", f"no technician with reference {new.technician_ref!r}")
    if session.scalar(select(User.id).where(User.technician_id == technician.id)) is not None:
        raise UserRejected("technician", f"technician {new.technician_ref!r} already has a user")
    return technician.id


def _teams(session: Session, new: NewUser) -> list[Team]:
    if new.team_names and new.role != "manager":
        raise UserRejected("team", "only managers manage teams")
    teams = []
    for name in new.team_names:
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            raise UserRejected("team", f"no team named {name!r}")
        teams.append(team)
    return teams


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
