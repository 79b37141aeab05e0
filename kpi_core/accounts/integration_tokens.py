"""Integration tokens: named API tokens for scripts and integrations, created and revoked by admins.

A token's text is ``kpi_<prefix>_<secret>``: the prefix (12 hex digits) finds
its row and names it in lists; the secret is 256 random bits. Only a SHA-256
hash of the text is stored and compared in constant time: with that much
randomness there is nothing to guess, so a slow password hash would only slow
every request down. The text is shown once, when the token is made.

Each token acts as a user of its own (``token:<prefix>``, display name the
token's name, no password): the role and, for a manager, the teams of the
token. Everything the services key by user (report runs, evaluations, the
audit trail, the scoping rules) thereby names the token, never the admin who
made it. Its scope narrows that role to the permissions it names
(kpi_core/accounts/token_scopes.py). Every request made with a token is kept
in ``integration_token_uses`` (see :func:`record_use`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kpi_core.accounts.auth import AuthFailed
from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.token_scopes import check_role, grantable, resolve_scope
from kpi_core.accounts.users import INTEGRATION_USERNAME_PREFIX, managed_team_names
from kpi_core.audit.trail import Actor, json_safe, record
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.storage.models import IntegrationToken, IntegrationTokenUse, Team, User, team_managers
from kpi_core.storage.types import utcnow

TEXT_START = "kpi_"
"""Every integration token's text starts so, which tells it from a login's JWT."""
ENTITY = "integration_token"
NAME_MAX = 100
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
NO_PASSWORD = "!integration-token"  # noqa: S105 - not a hash: no password verifies against it
INVALID = "invalid integration token"
_DUMMY_HASH = hashlib.sha256(b"handyman-kpi-no-such-token").hexdigest()


class TokenNotFound(NotFound):
    pass


class TokenRejected(AuthFailed):
    """A real token (its secret matched) that may no longer be used: revoked or expired."""

    def __init__(self, message: str, token_id: int) -> None:
        super().__init__(message)
        self.token_id = token_id


@dataclass(frozen=True)
class NewToken:
    name: str
    role: str
    scope: tuple[str, ...] | None = None
    preset: str | None = None
    team_names: tuple[str, ...] = ()
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: IntegrationToken
    text: str
    """The token itself, to give to the script: shown this once, never stored."""


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def status_of(token: IntegrationToken, now: datetime | None = None) -> str:
    """``revoked``, ``expired`` or ``active``."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= (now or utcnow()) else "active"


def create_token(session: Session, new: NewToken, actor: Actor) -> IssuedToken:
    """Validate and add a token with its user; raises Invalid (or Conflict for a name in use) naming the field."""
    now = utcnow()
    name = new.name.strip()
    if not name or len(name) > NAME_MAX:
        raise Invalid("name", f"Enter a name of 1 to {NAME_MAX} characters that says what the token is for")
    check_role(new.role)
    scope = resolve_scope(new.role, new.scope, new.preset)
    teams = _teams(session, new.role, new.team_names)
    expires_at = _expiry(new.expires_at, now)
    active = select(IntegrationToken.id).where(
        IntegrationToken.name == name, IntegrationToken.revoked_at.is_(None), IntegrationToken.expires_at > now
    )
    if session.scalar(active.limit(1)) is not None:
        raise Conflict("name", "another active token has this name; choose another")
    prefix = _new_prefix(session)
    text = f"{TEXT_START}{prefix}_{secrets.token_urlsafe(32)}"
    user = User(
        username=f"{INTEGRATION_USERNAME_PREFIX}{prefix}", password_hash=NO_PASSWORD, role=new.role, display_name=name
    )
    session.add(user)
    session.flush()
    for team in teams:
        session.execute(team_managers.insert().values(team_id=team.id, user_id=user.id))
    token = IntegrationToken(
        name=name,
        prefix=prefix,
        secret_hash=hash_text(text),
        role=new.role,
        scope=sorted(scope),
        preset=new.preset,
        user_id=user.id,
        created_by_id=actor.user_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record(session, actor, "create", ENTITY, token.id, after=_audit_view(token, [team.name for team in teams]))
    return IssuedToken(token, text)


def list_tokens(session: Session) -> list[IntegrationToken]:
    """Every token, revoked and expired ones included, newest first."""
    return list(session.scalars(select(IntegrationToken).order_by(IntegrationToken.id.desc())))


def get_token(session: Session, token_id: int) -> IntegrationToken:
    token = session.get(IntegrationToken, token_id)
    if token is None:
        raise TokenNotFound(f"no integration token with id {token_id}")
    return token


def token_teams(session: Session, token: IntegrationToken) -> list[str]:
    return sorted(managed_team_names(session, token.user_id))


def username_of(session: Session, user_id: int | None) -> str | None:
    return None if user_id is None else session.scalar(select(User.username).where(User.id == user_id))


def revoke_token(session: Session, token_id: int, actor: Actor) -> IntegrationToken:
    """Stop the token at once (its next request is a 401). Revoking a revoked token changes nothing."""
    token = get_token(session, token_id)
    if token.revoked_at is not None:
        return token
    now = utcnow()
    token.revoked_at = now
    token.revoked_by_id = actor.user_id
    user = session.get(User, token.user_id)
    if user is not None:
        # Reports it asked for and that still wait are not made for a revoked token either.
        user.disabled = True
        user.tokens_valid_after = now
    session.flush()
    record(session, actor, "revoke", ENTITY, token.id, before={"revoked_at": None}, after={"revoked_at": now})
    return token


def authenticate_token(session: Session, text: str) -> Principal:
    """The principal of a valid token: raises AuthFailed for an unknown one, TokenRejected for one
    revoked or expired (only once the secret matched, so a guess learns nothing)."""
    prefix, _, secret = text.removeprefix(TEXT_START).partition("_")
    if not text.startswith(TEXT_START) or not prefix or not secret or len(text) > 200:
        raise AuthFailed(INVALID)
    token = session.scalar(select(IntegrationToken).where(IntegrationToken.prefix == prefix))
    matches = hmac.compare_digest(hash_text(text), token.secret_hash if token else _DUMMY_HASH)
    if token is None or not matches:
        raise AuthFailed(INVALID)
    if token.revoked_at is not None:
        when = token.revoked_at.date().isoformat()
        raise TokenRejected(f"this integration token was revoked on {when}; ask an admin for a new one", token.id)
    if status_of(token) == "expired":
        when = token.expires_at.date().isoformat()
        raise TokenRejected(f"this integration token expired on {when}; ask an admin for a new one", token.id)
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        raise TokenRejected("this integration token was revoked; ask an admin for a new one", token.id)
    teams = frozenset(session.scalars(select(team_managers.c.team_id).where(team_managers.c.user_id == user.id)))
    return Principal(
        user_id=user.id,
        username=user.username,
        role=token.role,
        managed_team_ids=teams,
        integration_token_id=token.id,
        # Narrowed to what the role may give now, should the role lose a permission later.
        scope=frozenset(token.scope) & grantable(token.role),
    )


@dataclass(frozen=True)
class Use:
    """One request made with a token, as :func:`record_use` keeps it."""

    token_id: int
    method: str
    path: str
    permission: str | None
    status: int
    accepted: bool
    """Whether the token itself was accepted (a 403 beyond its scope was; a revoked token was not)."""
    request_id: str | None = None
    ip: str | None = None


def record_use(session: Session, use: Use) -> None:
    """Keep one use of a token and, if it was accepted, make it the token's last use."""
    now = utcnow()
    session.add(
        IntegrationTokenUse(
            token_id=use.token_id,
            at=now,
            method=use.method[:10],
            path=use.path[:500],
            permission=use.permission,
            status=use.status,
            request_id=use.request_id,
            ip=use.ip,
        )
    )
    if use.accepted:
        token = session.get(IntegrationToken, use.token_id)
        if token is not None:
            token.last_used_at = now


def uses_query(token_id: int) -> Select[tuple[IntegrationTokenUse]]:
    """The uses of a token, newest first."""
    return (
        select(IntegrationTokenUse)
        .where(IntegrationTokenUse.token_id == token_id)
        .order_by(IntegrationTokenUse.id.desc())
    )


def _teams(session: Session, role: str, names: tuple[str, ...]) -> list[Team]:
    if role == "admin":
        if names:
            raise Invalid("teams", "an admin token works for the whole company: leave teams out, or choose manager")
        return []
    if not names:
        raise Invalid("teams", "a manager token works for the teams it is given: name at least one")
    teams = []
    for name in dict.fromkeys(names):
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            raise Invalid("teams", f"no team named {name!r}")
        teams.append(team)
    return teams


def _expiry(expires_at: datetime | None, now: datetime) -> datetime:
    if expires_at is None:
        return now + DEFAULT_LIFETIME
    if expires_at <= now:
        raise Invalid("expires_at", "must be in the future")
    if expires_at > now + MAX_LIFETIME:
        raise Invalid("expires_at", "must be at most a year from now; make a new token before this one ends")
    return expires_at


def _new_prefix(session: Session) -> str:
    while True:
        prefix = secrets.token_hex(6)
        taken = select(IntegrationToken.id).where(IntegrationToken.prefix == prefix)
        if session.scalar(taken) is None:
            return prefix


def _audit_view(token: IntegrationToken, teams: list[str]) -> dict[str, object]:
    # Never the hash: knowing it would not let anyone in, but it has no business in a log.
    view = {
        "name": token.name,
        "prefix": token.prefix,
        "role": token.role,
        "scope": list(token.scope),
        "preset": token.preset,
        "teams": sorted(teams),
        "expires_at": token.expires_at,
        "user_id": token.user_id,
    }
    return json_safe(view)
