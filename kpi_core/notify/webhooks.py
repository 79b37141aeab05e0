"""Webhook endpoints admins register, and ``emit_event``: one outbox message per endpoint that wants an event.

Call :func:`emit_event` in the transaction of whatever happened::

    emit_event(session, "report.finished", {"report_run_id": run.id, ...},
               event_id=f"report_run:{run.id}", summary="The report 'May KPIs' is ready.")

Each enabled endpoint whose ``events`` include the name gets one message on
the ``webhook`` channel, keyed ``webhook:<endpoint>:<event>:<event_id>``, so
emitting the same event again (a retried job) sends nothing more. The body,
the signature and the headers are the ``notify_webhook`` plugin's; see
docs/notifications.md for how a receiver verifies them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Invalid, NotFound
from kpi_core.notify.addresses import AddressRefused, resolve_web_url
from kpi_core.notify.outbox import MessageDraft, queue_message
from kpi_core.storage.models import NotificationMessage, WebhookEndpoint
from kpi_core.storage.types import utcnow

CHANNEL = "webhook"
ENTITY = "webhook_endpoint"
EVENTS: dict[str, str] = {
    "report.finished": "A report finished and its file is ready",
    "import.finished": "An import of jobs or feedback finished",
    "evaluation.submitted": "A manager submitted an evaluation",
    "dispute.opened": "A callback's attribution was disputed",
    "alert.raised": "An alert about a KPI was raised",
}
"""Every event an endpoint may ask for, with what it means in words."""
SECRET_MIN = 16
NAME_MAX = 100


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_events(events: Any) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise Invalid("events", "Choose at least one event to send to this endpoint")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise Invalid("events", f"Unknown events: {', '.join(map(str, unknown))}. Choose from {', '.join(EVENTS)}")
    return list(dict.fromkeys(events))


def check_url(url: str, *, allow_private: bool) -> str:
    try:
        resolve_web_url(url, allow_private=allow_private)
    except AddressRefused as exc:
        raise Invalid("url", str(exc)) from None
    return url


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.name, WebhookEndpoint.id)))


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return snapshot(endpoint, exclude=("secret",))


def create_endpoint(
    session: Session, actor: Actor, data: Mapping[str, Any], *, allow_private: bool
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (given, or made here), which is shown only now."""
    secret = data.get("secret") or new_secret()
    if len(secret) < SECRET_MIN:
        raise Invalid("secret", f"Use a secret of at least {SECRET_MIN} characters, or leave it empty to get one")
    endpoint = WebhookEndpoint(
        name=data["name"].strip(),
        url=check_url(data["url"], allow_private=allow_private),
        events=check_events(data["events"]),
        secret=secret,
        format=data.get("format", "kpi"),
        enabled=data.get("enabled", True),
        created_by_id=actor.user_id,
    )
    session.add(endpoint)
    session.flush()
    record(session, actor, "create", ENTITY, endpoint.id, after=_audited(endpoint))
    return endpoint, secret


def update_endpoint(
    session: Session, actor: Actor, endpoint: WebhookEndpoint, data: Mapping[str, Any], *, allow_private: bool
) -> WebhookEndpoint:
    """Change an endpoint; a new ``secret`` applies to every delivery from now on, queued ones included."""
    before = _audited(endpoint)
    if "url" in data:
        endpoint.url = check_url(data["url"], allow_private=allow_private)
    if "events" in data:
        endpoint.events = check_events(data["events"])
    if "secret" in data:
        if len(data["secret"]) < SECRET_MIN:
            raise Invalid("secret", f"Use a secret of at least {SECRET_MIN} characters")
        endpoint.secret = data["secret"]
    for name in ("name", "format", "enabled"):
        if name in data:
            setattr(endpoint, name, data[name].strip() if name == "name" else data[name])
    endpoint.updated_at = utcnow()
    session.flush()
    after = _audited(endpoint)
    if "secret" in data:
        after["secret"] = "changed"  # noqa: S105 - says that it changed, never what it is
    record(session, actor, "update", ENTITY, endpoint.id, before=before, after=after)
    return endpoint


def delete_endpoint(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint; its delivery log stays (its queued deliveries fail: the endpoint is gone)."""
    record(session, actor, "delete", ENTITY, endpoint.id, before=_audited(endpoint))
    session.delete(endpoint)
    session.flush()


def emit_event(
    session: Session, name: str, payload: Mapping[str, Any], *, event_id: str, summary: str
) -> list[NotificationMessage]:
    """Queue the event for every enabled endpoint that asked for it, in the caller's transaction.

    ``payload`` is the event's JSON data (ids and numbers, never more than an
    admin may see: endpoints are registered by admins); ``event_id`` names the
    occurrence (``report_run:12``) so that the same event is never sent twice;
    ``summary`` says it in one sentence (the subject, and the text of a
    Slack-style message).
    """
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}; add it to EVENTS")
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))).all()
    queued = []
    occurred_at = utcnow().isoformat()
    for endpoint in endpoints:
        if name not in (endpoint.events or ()):
            continue
        draft = MessageDraft(
            channel=CHANNEL,
            to=endpoint.url,
            subject=summary,
            text=summary,
            event=name,
            payload={"event": name, "event_id": event_id, "occurred_at": occurred_at, "data": dict(payload)},
            webhook_endpoint_id=endpoint.id,
        )
        message = queue_message(session, draft, idempotency_key=f"webhook:{endpoint.id}:{name}:{event_id}")
        if message is not None:
            queued.append(message)
    return queued


def replay(session: Session, actor: Actor, message: NotificationMessage) -> NotificationMessage:
    """Send a delivery again: a failed one goes back in the queue as it was (same delivery id); a sent one
    is copied as a new delivery (a new id, so a receiver that drops repeats takes it)."""
    from kpi_core.notify.outbox import send_again

    if message.channel != CHANNEL:
        raise NotFound(f"delivery {message.id} is not a webhook delivery")
    if message.status in ("queued", "sending"):
        raise Invalid("status", "This delivery is still waiting to be sent; replay it once it has been sent or failed")
    if message.status == "failed":
        send_again(session, message)
        replayed = message
    else:
        copies = session.scalar(
            select(NotificationMessage.id).where(NotificationMessage.replay_of_id == message.id).limit(1)
        )
        draft = MessageDraft(
            channel=CHANNEL,
            to=message.recipient,
            subject=message.subject,
            text=message.body_text,
            event=message.event,
            payload=message.payload,
            webhook_endpoint_id=message.webhook_endpoint_id,
        )
        key = f"replay:{message.id}:{utcnow().strftime('%Y%m%dT%H%M%S.%f')}:{copies or 0}"
        copy = queue_message(session, draft, idempotency_key=key, replay_of_id=message.id)
        assert copy is not None
        replayed = copy
    session.flush()
    record(session, actor, "replay", "webhook_delivery", message.id, after={"delivery": replayed.id})
    return replayed
