"""Hook implementation of the webhook channel (key ``webhook``): signed JSON POSTs, or Slack-style bodies."""

from __future__ import annotations

import json
import ssl
import time
from importlib import metadata
from typing import Any

from kpi_core import hookimpl
from kpi_core.declarations import ChannelContext, DeliveryFailed, NotificationChannel, OutgoingMessage
from kpi_core.notify.addresses import AddressRefused, resolve_web_url, split_web_url
from notify_webhook import http
from notify_webhook.signing import signature

RETRIED_STATUSES = frozenset({408, 425, 429})


def _version() -> str:
    try:
        return metadata.version("notify-webhook")
    except metadata.PackageNotFoundError:
        return "0"


def body_of(message: OutgoingMessage) -> bytes:
    """The request body: the event as JSON (``kpi``), or ``{"text": ...}`` for Slack-style endpoints."""
    if message.options.get("format") == "slack":
        text = message.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        document: dict[str, Any] = {"text": text}
    elif message.payload:
        document = {"id": message.delivery_id, "summary": message.subject, **message.payload}
    else:
        document = {"id": message.delivery_id, "event": message.event, "summary": message.subject, "text": message.text}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def headers_of(message: OutgoingMessage, body: bytes, timestamp: str) -> dict[str, str]:
    if not message.secret:
        raise DeliveryFailed("The endpoint has no signing secret; set one and replay the delivery", permanent=True)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"HandymanKPI-Webhook/{_version()}",
        "X-KPI-Event": message.event or "message",
        "X-KPI-Delivery": message.delivery_id,
        "X-KPI-Attempt": str(message.attempt),
        "X-KPI-Timestamp": timestamp,
        "X-KPI-Signature": signature(message.secret, timestamp, body),
    }


def send(message: OutgoingMessage, context: ChannelContext) -> str:
    """POST the signed delivery to the endpoint; a 2xx answer is delivered, anything else says why not."""
    try:
        target = resolve_web_url(message.to, allow_private=bool(context.settings.webhook_allow_private))
    except AddressRefused as exc:
        raise DeliveryFailed(f"Not sent: {exc}", permanent=True) from None
    body = body_of(message)
    timestamp = str(int(time.time()))
    where = f"{target.host}:{target.port}"
    try:
        read_timeout = min(http.READ_TIMEOUT, float(context.timeout))
        answer = http.post(target, body, headers_of(message, body, timestamp), read_timeout=read_timeout)
    except TimeoutError:
        raise DeliveryFailed(f"The endpoint {where} did not answer in time (5 s to connect, 10 s to answer)") from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(f"The certificate of {where} could not be verified: {exc.verify_message}") from None
    except OSError as exc:
        raise DeliveryFailed(f"The endpoint {where} cannot be reached: {exc.strerror or exc}") from None
    status = f"{answer.status} {answer.reason}".strip()
    if 200 <= answer.status < 300:
        return f"HTTP {status} in {answer.seconds:.2f} s"
    if 300 <= answer.status < 400:
        raise DeliveryFailed(
            f"The endpoint answered HTTP {status}, a redirect to {answer.location or 'somewhere else'}; redirects "
            "are not followed: register the address it points to",
            permanent=True,
        )
    said = f": {answer.text}" if answer.text else ""
    retried = answer.status >= 500 or answer.status in RETRIED_STATUSES
    raise DeliveryFailed(f"The endpoint answered HTTP {status}{said}", permanent=not retried)


def check_address(address: str) -> str | None:
    try:
        split_web_url(address)
    except AddressRefused as exc:
        return str(exc)
    return None


@hookimpl
def kpi_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            key="webhook",
            label="Webhook",
            send=send,
            settings=("KPI_WEBHOOK_ALLOW_PRIVATE",),
            description="A signed JSON POST to each endpoint an admin registered (or a Slack-style message).",
            describe=lambda context: (
                "Events are posted, signed, to the endpoints registered under Webhooks"
                + (" (private addresses allowed)." if context.settings.webhook_allow_private else ".")
            ),
            check_address=check_address,
            # X-KPI-Delivery is the same on every attempt: a receiver keeps one delivery per id.
            deduplicates=True,
            timeout=30,
        )
    ]
