"""Logging in, refreshing, logging out, and turning an access token into a Principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.accounts.passwords import MAX_LENGTH, hash_password, verify_password
from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.throttle import LoginThrottle
from kpi_core.accounts.tokens import TokenClaims, TokenInvalid, TokenSigner, to_milliseconds
from kpi_core.audit.trail import Actor, record
from kpi_core.errors import KpiError
from kpi_core.storage.models import TokenRevocation, User, team_managers
from kpi_core.storage.types import utcnow

# Checked against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_password("handyman-kpi-timing-equaliser")


class AuthFailed(KpiError):
    """Credentials or token rejected. The message is safe to show: it never says which part was wrong."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


def _family_marker(family: str) -> str:
    return f"family:{family}"


class Authenticator:
    def __init__(self, signer: TokenSigner, throttle: LoginThrottle) -> None:
        self.signer = signer
        self.throttle = throttle

    def issue_for(self, user: User, family: str | None = None) -> TokenPair:
        """A new token pair for ``user`` (a new login family unless ``family`` is given)."""
        refresh = self.signer.issue(user.id, "refresh", family=family)
        family = self.signer.verify(refresh, "refresh").family
        access = self.signer.issue(user.id, "access", family=family, role=user.role)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=self.signer.access_ttl)

    def login(self, session: Session, username: str, password: str, actor: Actor) -> TokenPair:
        """A token pair for the right password; raises LoginThrottled or AuthFailed.

        The attempt is counted by the throttle first (committing ``session`` with the database
        store) and stays counted as a failure unless the password was right.
        """
        attempt = self.throttle.begin(session, username, actor.ip)
        user = session.scalar(select(User).where(User.username == username.strip())) if len(username) <= 150 else None
        # Always run the hash check so an unknown user answers as slowly as a wrong password.
        matches = verify_password(user.password_hash if user else _DUMMY_HASH, password[: MAX_LENGTH + 1])
        if user is None or not matches or user.disabled:
            raise AuthFailed("invalid username or password")
        self.throttle.succeeded(session, attempt)
        user.last_login_at = utcnow()
        record(session, Actor(user.id, user.username, actor.request_id, actor.ip), "login", "user", user.id)
        return self.issue_for(user)

    def refresh(self, session: Session, refresh_token: str, actor: Actor) -> TokenPair:
        try:
            claims = self.signer.verify(refresh_token, "refresh")
        except TokenInvalid:
            raise AuthFailed("invalid or expired refresh token") from None
        if self._revoked(session, claims):
            if self._reused(session, claims):
                self._revoke_family(session, claims, "reuse_detected")
                session.commit()
            raise AuthFailed("invalid or expired refresh token")
        user = self._active_user(session, claims)
        try:
            with session.begin_nested():
                session.add(self._revocation(claims, claims.jti, "rotated"))
        except IntegrityError:
            # Another request rotated this very token at the same moment: a replay.
            self._revoke_family(session, claims, "reuse_detected")
            session.commit()
            raise AuthFailed("invalid or expired refresh token") from None
        record(session, Actor(user.id, user.username, actor.request_id, actor.ip), "refresh", "user", user.id)
        return self.issue_for(user, family=claims.family)

    def logout(self, session: Session, principal: Principal, actor: Actor) -> None:
        if principal.token_family:
            session.add(
                TokenRevocation(
                    jti=_family_marker(principal.token_family),
                    family_id=principal.token_family,
                    user_id=principal.user_id,
                    reason="logout",
                )
            )
        record(session, actor, "logout", "user", principal.user_id)

    def authenticate(self, session: Session, access_token: str) -> Principal:
        """The principal behind a valid, unrevoked access token of an active user."""
        try:
            claims = self.signer.verify(access_token, "access")
        except TokenInvalid:
            raise AuthFailed("invalid or expired access token") from None
        if self._revoked(session, claims):
            raise AuthFailed("invalid or expired access token")
        user = self._active_user(session, claims)
        teams = frozenset(session.scalars(select(team_managers.c.team_id).where(team_managers.c.user_id == user.id)))
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            technician_id=user.technician_id,
            managed_team_ids=teams,
            token_jti=claims.jti,
            token_family=claims.family,
            must_change_password=user.must_change_password,
        )

    def _active_user(self, session: Session, claims: TokenClaims) -> User:
        user = session.get(User, claims.user_id)
        if user is None or user.disabled:
            raise AuthFailed("invalid or expired token")
        valid_after = user.tokens_valid_after
        # Compared to the millisecond: a token issued the same millisecond as a reset still counts
        # as issued after it, so the pair answered to a password change works at once.
        if valid_after is not None and claims.issued_at < to_milliseconds(valid_after.timestamp()):
            raise AuthFailed("invalid or expired token")
        return user

    @staticmethod
    def _revoked(session: Session, claims: TokenClaims) -> bool:
        found = session.scalar(
            select(TokenRevocation.id)
            .where(or_(TokenRevocation.jti == claims.jti, TokenRevocation.jti == _family_marker(claims.family)))
            .limit(1)
        )
        return found is not None

    @staticmethod
    def _reused(session: Session, claims: TokenClaims) -> bool:
        reason = session.scalar(select(TokenRevocation.reason).where(TokenRevocation.jti == claims.jti))
        return reason == "rotated"

    def _revoke_family(self, session: Session, claims: TokenClaims, reason: str) -> None:
        marker = _family_marker(claims.family)
        if session.scalar(select(TokenRevocation.id).where(TokenRevocation.jti == marker)) is None:
            session.add(self._revocation(claims, marker, reason))
            record(
                session,
                Actor.system("token-guard"),
                "revoke_family",
                "user",
                claims.user_id,
                after={"family": claims.family, "reason": reason},
            )

    @staticmethod
    def _revocation(claims: TokenClaims, jti: str, reason: str) -> TokenRevocation:
        return TokenRevocation(
            jti=jti,
            family_id=claims.family,
            user_id=claims.user_id,
            reason=reason,
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        )
