"""The outbox: every message to send is a row, written in the transaction of whatever caused it.

The API for code that sends messages (subscriptions, scorecards, alerts)::

    from kpi_core.notify.outbox import MessageDraft, queue_message

    message = queue_message(
        session,
        MessageDraft(
            channel="email",                   # a key of kpi_notification_channels
            to="ana@example.com",              # the address in the channel's terms
            subject="Your week: 14-20 April",
            text=plain_text,                   # always: the plain-text body
            html=html_fragment,                # optional: inline-CSS HTML (kpi_core.notify.content.html_table)
            user_id=user.id, kind="weekly_scorecard",   # whose subscription: adds the unsubscribe links
            attachments=({"report_run_id": run.id},),  # a rendered report, attached as its file
        ),
        idempotency_key=f"weekly_scorecard:{user.id}:2026-W16",
    )

- **In the caller's transaction.** The row commits or rolls back with the
  work that caused it: a message exists exactly when its cause does, and
  never goes out for something that was undone.
- **Idempotent.** ``idempotency_key`` is unique: queueing with a key that
  is already there changes nothing and returns the message already queued
  (whatever became of it), so a job that runs twice, a retry or two
  schedulers never queue a message twice. Make the key say what the message
  is *about* (kind, recipient, period), not when it was made.
- **Subscriptions.** With ``user_id`` and ``kind``, a user who turned that
  kind off (:mod:`kpi_core.notify.subscriptions`, the unsubscribe link) gets
  nothing: ``queue_message`` returns None. Every such message carries a
  signed one-click unsubscribe (RFC 8058 headers and a link in the body).
- **Delivery** is the ``notify.deliver`` background job
  (:mod:`kpi_core.notify.delivery`): it claims each due message, sends it
  through its channel and records the outcome; failures are retried with
  back-off (30 s, 60 s, 120 s, ... ``max_attempts`` in all), then the
  message is ``failed`` and shown to admins, who may send it again. The
  scheduler (``kpi scheduler``, or the demo's thread) starts the job within
  its tick (30 s) whenever messages are due; :func:`request_delivery` starts
  it at once from code that holds the job runner (an API request).

Statuses: ``queued`` -> ``sending`` -> ``sent``; back to ``queued`` after a
failure that may pass; ``failed`` when the attempts are spent or the failure
is permanent. See docs/notifications.md for what is guaranteed when a worker
dies mid-send.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, json_safe
from kpi_core.notify.subscriptions import is_enabled
from kpi_core.storage.models import JobRun, NotificationMessage
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

DELIVER_JOB_KEY = "notify.deliver"
DEFAULT_MAX_ATTEMPTS = 5
"""Attempts of a message before it is marked failed: now, then after 30 s, 60 s, 120 s and 240 s."""
SUBJECT_MAX = 300
KEY_MAX = 200
DELIVERY_NAMESPACE = uuid.UUID("6f1d3c52-8a55-4c1e-9a57-3c3f0f3e2b10")
"""Delivery ids are UUIDs derived from the idempotency key, so they are the same on every attempt."""
RUN_STALE_AFTER = timedelta(minutes=20)
"""A delivery run queued or running for longer than this no longer keeps the scheduler from starting another."""


@dataclass(frozen=True)
class MessageDraft:
    """A message to queue: the channel, the address, the content and what it is about.

    ``attachments`` are references read when the message is sent:
    ``{"report_run_id": 12}`` attaches that report's file (the message waits,
    retrying, while the report is still rendering). ``payload`` is JSON data
    for machine receivers. ``event`` names an event (webhooks), ``kind`` the
    kind of subscription a message to ``user_id`` is sent under.
    """

    channel: str
    to: str
    subject: str
    text: str
    html: str | None = None
    user_id: int | None = None
    kind: str | None = None
    event: str | None = None
    payload: Mapping[str, Any] | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()
    webhook_endpoint_id: int | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if not self.channel or not self.to:
            raise ValueError("a message needs a channel and an address (to)")
        if not self.subject.strip() or not isinstance(self.text, str):
            raise ValueError("a message needs a subject and a plain-text body")
        if not 1 <= self.max_attempts <= 20:
            raise ValueError("max_attempts must be 1 to 20")
        for attachment in self.attachments:
            if set(attachment) != {"report_run_id"} or not isinstance(attachment["report_run_id"], int):
                raise ValueError("an attachment is {'report_run_id': <id>}")


def delivery_id_for(idempotency_key: str) -> str:
    """The delivery id receivers see for a message: the same for the same key, on every attempt."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, idempotency_key))


def queue_message(
    session: Session,
    draft: MessageDraft,
    *,
    idempotency_key: str,
    not_before: datetime | None = None,
    replay_of_id: int | None = None,
) -> NotificationMessage | None:
    """Queue ``draft`` in the caller's transaction; returns the message, or None if the user opted out.

    A message already queued under ``idempotency_key`` is returned as it is
    (nothing new is written). ``not_before`` delays the first attempt.
    """
    if not idempotency_key or len(idempotency_key) > KEY_MAX:
        raise ValueError(f"idempotency_key must be 1 to {KEY_MAX} characters")
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    if draft.user_id is not None and draft.kind and not is_enabled(session, draft.user_id, draft.kind):
        return None
    subject = " ".join(draft.subject.split())
    message = NotificationMessage(
        idempotency_key=idempotency_key,
        delivery_id=delivery_id_for(idempotency_key),
        channel=draft.channel,
        recipient=draft.to,
        user_id=draft.user_id,
        kind=draft.kind,
        event=draft.event,
        webhook_endpoint_id=draft.webhook_endpoint_id,
        subject=subject[: SUBJECT_MAX - 1] + "…" if len(subject) > SUBJECT_MAX else subject,
        body_text=draft.text,
        body_html=draft.html,
        payload=json_safe(dict(draft.payload)) if draft.payload is not None else None,
        attachments=[dict(attachment) for attachment in draft.attachments],
        status="queued",
        attempts=0,
        max_attempts=draft.max_attempts,
        next_attempt_at=not_before or utcnow(),
        replay_of_id=replay_of_id,
    )
    # A savepoint: another transaction may queue the same key at the same moment; then its row wins.
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        found = _by_key(session, idempotency_key)
        if found is None:
            raise
        return found
    return message


def _by_key(session: Session, idempotency_key: str) -> NotificationMessage | None:
    return session.scalar(select(NotificationMessage).where(NotificationMessage.idempotency_key == idempotency_key))


def send_again(session: Session, message: NotificationMessage, *, extra_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
    """Put a failed message back in the queue with ``extra_attempts`` more attempts (same delivery id)."""
    if message.status != "failed":
        raise ValueError("only a failed message is sent again this way")
    message.status = "queued"
    message.max_attempts = message.attempts + extra_attempts
    message.next_attempt_at = utcnow()
    message.failed_at = None
    message.claimed_by = message.claimed_at = message.claim_token = None


def due_exists(session: Session, now: datetime | None = None) -> bool:
    """Whether any message waits to be sent now (or was left ``sending`` by a worker)."""
    now = now or utcnow()
    waiting = select(NotificationMessage.id).where(
        ((NotificationMessage.status == "queued") & (NotificationMessage.next_attempt_at <= now))
        | (NotificationMessage.status == "sending")
    )
    return bool(session.scalar(select(exists(waiting))))


def _delivery_pending(session: Session, now: datetime) -> bool:
    pending = select(JobRun.id).where(
        JobRun.job_key == DELIVER_JOB_KEY,
        JobRun.status.in_(("queued", "running")),
        JobRun.created_at > now - RUN_STALE_AFTER,
    )
    return bool(session.scalar(select(exists(pending))))


def request_delivery(session: Session, runner: Any, *, requested_by: Actor) -> int | None:
    """Start the delivery job in the caller's transaction, unless one is already queued or running.

    ``runner`` is the app's job runner. Returns the run's id, or None when a
    run was already pending or the queue cannot take one now (the messages
    stay queued; the scheduler's next tick starts delivery).
    """
    if not runner.jobs.get(DELIVER_JOB_KEY) or _delivery_pending(session, utcnow()):
        return None
    from kpi_core.jobs.errors import QueueUnavailable

    try:
        with session.begin_nested():
            return runner.enqueue(DELIVER_JOB_KEY, {}, requested_by=requested_by, session=session)
    except QueueUnavailable as exc:
        log.warning("notifications wait for the scheduler: %s", exc)
        return None


def kick(runner: Any, *, requested_by: Actor, now: datetime | None = None) -> int | None:
    """The scheduler's tick: start the delivery job if messages are due and no delivery run is pending."""
    now = now or utcnow()
    with runner.env.database.session(write=False) as session:
        if not due_exists(session, now) or _delivery_pending(session, now):
            return None
    with runner.env.database.session() as session:
        return request_delivery(session, runner, requested_by=requested_by)
