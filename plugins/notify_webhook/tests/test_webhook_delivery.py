"""The webhook channel end to end: emit_event -> outbox -> notify.deliver -> a real HTTP server on loopback.

The receiver (kpi_core.testing.webhooks) checks each signature the way
docs/notifications.md tells a receiver to, with its own code. The loopback
address is private, so these tests set KPI_WEBHOOK_ALLOW_PRIVATE; one test
shows the refusal without it.
"""

from __future__ import annotations

import json

import pytest
from notify_webhook import http as webhook_http
from notify_webhook.signing import signature, verify

from kpi_core.audit.trail import Actor
from kpi_core.notify import webhooks
from kpi_core.testing.outbox import Outbox
from kpi_core.testing.webhooks import webhook_receiver

SECRET = "whsec_test-secret-long-enough"
ADMIN = Actor.system("test")


@pytest.fixture
def outbox(settings, database, plugins) -> Outbox:
    box = Outbox(database, settings, plugins)
    box.configure(webhook_allow_private=True)
    return box


@pytest.fixture
def receiver():
    with webhook_receiver(SECRET) as found:
        yield found


def register(database, url: str, *, events=("report.finished",), fmt: str = "kpi") -> int:
    with database.session() as session:
        data = {"name": "Ops", "url": url, "events": list(events), "secret": SECRET, "format": fmt}
        endpoint, _secret = webhooks.create_endpoint(session, ADMIN, data, allow_private=True)
        return endpoint.id


def emit(database, name: str = "report.finished", event_id: str = "report_run:7") -> list[int]:
    with database.session() as session:
        messages = webhooks.emit_event(
            session, name, {"report_run_id": 7, "title": "April"}, event_id=event_id, summary="April is <ready> & done"
        )
        session.flush()
        return [message.id for message in messages]


def test_a_delivery_is_signed_and_the_receiver_verifies_it(outbox, database, receiver):
    register(database, receiver.url)
    (message_id,) = emit(database)

    report = outbox.deliver()

    assert report.sent == [message_id]
    (delivery,) = receiver.deliveries
    assert delivery.signature_ok
    message = outbox.get(message_id)
    assert delivery.headers["X-KPI-Delivery"] == message.delivery_id
    assert delivery.headers["X-KPI-Event"] == "report.finished"
    assert delivery.headers["Content-Type"] == "application/json; charset=utf-8"
    body = delivery.json
    assert (body["id"], body["event"], body["event_id"]) == (message.delivery_id, "report.finished", "report_run:7")
    assert body["data"] == {"report_run_id": 7, "title": "April"}
    assert message.status == "sent" and message.receipt.startswith("HTTP 200")


def test_the_same_event_emitted_twice_is_delivered_once(outbox, database, receiver):
    register(database, receiver.url)
    first, second = emit(database), emit(database)

    outbox.deliver()

    assert first == second and len(receiver.deliveries) == 1


def test_an_endpoint_gets_only_the_events_it_asked_for(outbox, database, receiver):
    register(database, receiver.url, events=("evaluation.submitted",))

    assert emit(database) == []


def test_a_500_is_retried_with_the_same_delivery_id_and_then_delivered(outbox, database, receiver):
    register(database, receiver.url)
    (message_id,) = emit(database)
    receiver.answers.append(500)

    outbox.deliver()

    waiting = outbox.get(message_id)
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert waiting.last_error.startswith("The endpoint answered HTTP 500")
    outbox.later(31)
    outbox.deliver()
    assert outbox.get(message_id).status == "sent"
    first, second = receiver.deliveries
    assert first.headers["X-KPI-Delivery"] == second.headers["X-KPI-Delivery"]
    assert (first.headers["X-KPI-Attempt"], second.headers["X-KPI-Attempt"]) == ("1", "2")
    assert second.signature_ok


def test_a_4xx_is_not_retried(outbox, database, receiver):
    register(database, receiver.url)
    (message_id,) = emit(database)
    receiver.answers.append(404)

    outbox.deliver()

    message = outbox.get(message_id)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "HTTP 404" in message.last_error


def test_a_redirect_is_not_followed(outbox, database, receiver):
    register(database, receiver.url)
    (message_id,) = emit(database)
    receiver.answers.append((302, "http://127.0.0.1:9/elsewhere"))

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "failed" and "redirects are not followed" in message.last_error
    assert len(receiver.deliveries) == 1


def test_a_hanging_endpoint_times_out_and_is_retried(outbox, database, receiver, monkeypatch):
    monkeypatch.setattr(webhook_http, "READ_TIMEOUT", 0.5)
    register(database, receiver.url)
    (message_id,) = emit(database)
    receiver.answers.append("hang")

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "queued" and "did not answer in time" in message.last_error


def test_a_private_address_is_refused_unless_allowed(outbox, database, receiver):
    register(database, receiver.url)
    (message_id,) = emit(database)
    outbox.configure(webhook_allow_private=False)

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "failed" and "private, loopback or link-local address (127.0.0.1)" in message.last_error
    assert receiver.deliveries == []


def test_a_slack_endpoint_gets_a_text_message(outbox, database, receiver):
    register(database, receiver.url, fmt="slack")
    emit(database)

    outbox.deliver()

    (delivery,) = receiver.deliveries
    assert delivery.json == {"text": "April is &lt;ready&gt; &amp; done"}
    assert delivery.signature_ok


def test_a_removed_endpoint_fails_its_waiting_deliveries_with_a_reason(outbox, database, receiver):
    endpoint_id = register(database, receiver.url)
    (message_id,) = emit(database)
    with database.session() as session:
        webhooks.delete_endpoint(session, ADMIN, webhooks.get_endpoint(session, endpoint_id))

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "failed" and "endpoint was removed" in message.last_error


def test_the_documented_verification_accepts_a_signature_and_refuses_a_changed_body():
    body = json.dumps({"id": "x"}).encode()
    signed = signature(SECRET, "1700000000", body)

    assert verify(SECRET, "1700000000", body, signed, now=1700000100)
    assert not verify(SECRET, "1700000000", body + b" ", signed, now=1700000100)
    assert not verify(SECRET, "1700000000", body, signed, now=1700000000 + 301), "too old: a replay"
    assert not verify("another-secret-entirely", "1700000000", body, signed, now=1700000100)
