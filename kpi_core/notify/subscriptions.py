"""Who receives which kind of message, and the signed one-click unsubscribe.

A subscription is a row of ``notification_subscriptions``: (user, kind) ->
channel, ``enabled``, ``options``. No row means the kind's default (the
code that queues that kind decides it, through ``is_enabled(..., default=)``).
Kinds are short names (``weekly_scorecard``, ``team_digest``,
``monthly_summary``, ``alerts``); :data:`KIND_LABELS` says each in words for
the unsubscribe page and the dashboard: add a kind there when adding one.

The unsubscribe token is signed with the app's secret key (itsdangerous,
already a dependency of Flask; keys in ``KPI_PREVIOUS_SECRET_KEYS`` still
verify) and carries (user, kind) and its time of signing; it works for
:data:`TOKEN_DAYS` days. ``POST /api/v1/notifications/unsubscribe?token=``
(RFC 8058 one-click, public) turns the subscription off; the link in a
message's body opens a page with a button that does the same, since mail
scanners open links in messages without anyone clicking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.config import Settings
from kpi_core.storage.models import NotificationSubscription, User
from kpi_core.storage.types import utcnow

TOKEN_DAYS = 90
SALT = "kpi-notifications-unsubscribe"
KIND_LABELS: dict[str, str] = {
    "weekly_scorecard": "your weekly scorecard",
    "team_digest": "your team's weekly digest",
    "monthly_summary": "the company's monthly summary",
    "alerts": "alerts about KPIs",
    "test": "test messages from the administrators",
}
"""Each kind of message in words, as in "You will no longer receive <label>"."""


class TokenRejected(ValueError):
    """An unsubscribe token that is forged, cut short or expired; the message says what to do."""


@dataclass(frozen=True)
class Unsubscribe:
    """What a valid token is for."""

    user_id: int
    kind: str

    @property
    def label(self) -> str:
        return label_of(self.kind)


def label_of(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # The last key signs, every key verifies: tokens survive a key rotation like access tokens do.
    keys = [*reversed(settings.previous_secret_keys), settings.resolved_secret_key()]
    return URLSafeTimedSerializer(keys, salt=SALT)


def make_token(settings: Settings, user_id: int, kind: str) -> str:
    """A signed token that turns off ``kind`` for ``user_id``."""
    return _serializer(settings).dumps({"u": user_id, "k": kind})


def read_token(settings: Settings, token: str, *, max_age_days: int = TOKEN_DAYS) -> Unsubscribe:
    """The (user, kind) a token is for, or TokenRejected saying why it cannot be used."""
    try:
        data: Any = _serializer(settings).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise TokenRejected(
            f"This unsubscribe link has expired: links work for {max_age_days} days. Use the link in a newer "
            "message, or log in and turn these messages off on your dashboard."
        ) from None
    except BadSignature:
        raise TokenRejected(
            "This unsubscribe link is not valid: it may have been cut short or changed. Open the link exactly as "
            "it is in the message, or log in and turn these messages off on your dashboard."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("k"), str):
        raise TokenRejected("This unsubscribe link is not valid.")
    return Unsubscribe(data["u"], data["k"])


def links(settings: Settings, user_id: int, kind: str) -> tuple[str, str]:
    """(one-click URL for the List-Unsubscribe header, page URL for the link in the body)."""
    token = make_token(settings, user_id, kind)
    base = settings.effective_public_url
    return f"{base}/api/v1/notifications/unsubscribe?token={token}", f"{base}/unsubscribe?token={token}"


def is_enabled(session: Session, user_id: int, kind: str, *, default: bool = True) -> bool:
    """Whether ``user_id`` receives messages of ``kind``: their subscription's switch, else ``default``."""
    enabled = session.scalar(
        select(NotificationSubscription.enabled).where(
            NotificationSubscription.user_id == user_id, NotificationSubscription.kind == kind
        )
    )
    return default if enabled is None else bool(enabled)


def subscription(session: Session, user_id: int, kind: str) -> NotificationSubscription | None:
    return session.scalar(
        select(NotificationSubscription).where(
            NotificationSubscription.user_id == user_id, NotificationSubscription.kind == kind
        )
    )


def unsubscribe(session: Session, target: Unsubscribe, actor: Actor) -> NotificationSubscription:
    """Turn the subscription off (making its row if there is none); audited. Doing it twice changes nothing."""
    if session.get(User, target.user_id) is None:
        raise TokenRejected("This unsubscribe link is for an account that no longer exists: nothing is sent to it.")
    row = subscription(session, target.user_id, target.kind)
    if row is None:
        row = NotificationSubscription(user_id=target.user_id, kind=target.kind, channel="email", options={})
        session.add(row)
    elif not row.enabled:
        return row
    row.enabled = False
    row.unsubscribed_at = utcnow()
    session.flush()
    after = {"user_id": target.user_id, "kind": target.kind, "enabled": False}
    record(session, actor, "unsubscribe", "notification_subscription", row.id, after=after)
    return row
