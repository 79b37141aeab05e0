"""/api/v1/webhooks and /api/v1/notifications (issue #20, points 3 and 6): admins register endpoints, read
the delivery log and replay; read the messages sent; every bad input is a 422 naming its field, never a 5xx.

Events reach the endpoints from the code that makes them: a submitted evaluation here, through the API.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from kpi_core.storage.models import NotificationMessage, Technician, WebhookEndpoint
from kpi_core.testing.webhooks import webhook_receiver

SECRET = "whsec_api-test-secret-12345"


@pytest.fixture
def settings(settings):
    import dataclasses

    return dataclasses.replace(settings, webhook_allow_private=True)


@pytest.fixture
def receiver():
    with webhook_receiver(SECRET) as found:
        yield found


def create(client, headers, **changes: Any):
    body = {"name": "Ops room", "url": "https://hooks.example.net/kpi", "events": ["report.finished"], **changes}
    return client.post("/api/v1/webhooks", json=body, headers=headers)


def wait_for(predicate, seconds: float = 60.0, state: Any = None) -> None:
    """Wait until ``predicate()``; on a timeout, say what ``state()`` finds (e.g. the delivery runs)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out; {state() if state else ''}"
        time.sleep(0.05)


def delivery_state(database) -> str:
    """The delivery runs and messages, for a timeout's message."""
    from kpi_core.storage.models import JobRun

    with database.session(write=False) as session:
        runs = [(run.id, run.job_key, run.status, run.attempts, run.error) for run in session.query(JobRun)]
        messages = [
            (m.id, m.status, m.attempts, m.next_attempt_at, m.last_error) for m in session.query(NotificationMessage)
        ]
    return f"runs {runs}; messages {messages}"


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(client, admin_headers, receiver):
    answer = create(client, admin_headers, url=receiver.url, events=["evaluation.submitted", "report.finished"])

    assert answer.status_code == 201, answer.json
    assert answer.json["secret"].startswith("whsec_") and len(answer.json["secret"]) > 30
    listed = client.get("/api/v1/webhooks", headers=admin_headers).json
    assert [endpoint["name"] for endpoint in listed] == ["Ops room"]
    assert "secret" not in listed[0] and listed[0]["secret_hint"] == "…" + answer.json["secret"][-4:]
    assert listed[0]["format"] == "kpi" and listed[0]["enabled"] is True


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"url": "ftp://files.example.net/x"}, "url", "must start with https:// or http://"),
        ({"url": "https://user:pw@hooks.example.net/x"}, "url", "must not contain a user name or password"),
        ({"events": []}, "events", "Choose at least one event"),
        ({"events": ["report.exploded"]}, "events", "Must be one of"),
        ({"name": ""}, "name", "Enter a name"),
        ({"secret": "short"}, "secret", "16 to 200 characters"),
        ({"format": "teams"}, "format", "Must be one of"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field(client, admin_headers, changes, field, words):
    answer = create(client, admin_headers, **changes)

    assert answer.status_code == 422, answer.json
    assert words in str(answer.json["errors"]["json"][field])


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x"]
)
def test_a_private_or_loopback_address_is_refused_unless_allowed(client, admin_headers, app, url):
    app.extensions["kpi_core"].settings = _without_private(app.extensions["kpi_core"].settings)

    answer = create(client, admin_headers, url=url)

    assert answer.status_code == 422
    (message,) = answer.json["errors"]["json"]["url"]
    assert "private, loopback or link-local address" in message and "ask whoever runs the server" in message
    assert "KPI_" not in message, "an admin reads it on screen: no setting names"


def _without_private(settings):
    import dataclasses

    return dataclasses.replace(settings, webhook_allow_private=False)


def test_an_endpoint_is_changed_and_removed_with_its_log_kept(client, admin_headers, database):
    endpoint = create(client, admin_headers, url="http://127.0.0.1:9/x").json

    changed = client.patch(
        f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": False, "format": "slack"}, headers=admin_headers
    )
    refused = client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"url": "gopher://x"}, headers=admin_headers)
    removed = client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=admin_headers)

    assert changed.status_code == 200 and (changed.json["enabled"], changed.json["format"]) == (False, "slack")
    assert refused.status_code == 422 and "url" in refused.json["errors"]["json"]
    assert removed.status_code == 204
    assert client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=admin_headers).status_code == 404
    with database.session(write=False) as session:
        assert session.query(WebhookEndpoint).count() == 0


def test_managers_and_technicians_cannot_see_webhooks_or_messages(client, make_user, login):
    make_user("manager", username="mo")
    headers = login("mo")

    for path in ("/api/v1/webhooks", "/api/v1/webhooks/deliveries", "/api/v1/notifications/messages"):
        assert client.get(path, headers=headers).status_code == 403


def submit_evaluation(client, headers, database) -> int:
    with database.session() as session:
        technician = Technician(external_ref="T-1", name="Tess Fixit", email="tess@example.com")
        session.add(technician)
        session.flush()
        technician_id = technician.id
    form = client.get("/api/v1/evaluations/form", headers=headers).json
    answers = {field["key"]: 4 for field in form["fields"] if field["type"] == "rating"}
    answers |= {field["key"]: True for field in form["fields"] if field["type"] == "yes_no"}
    body = {
        "technician_id": technician_id,
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
        "answers": answers,
        "status": "submitted",
    }
    answer = client.post("/api/v1/evaluations", json=body, headers=headers)
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def test_a_submitted_evaluation_reaches_the_endpoint_signed(client, admin_headers, database, receiver, app):
    create(client, admin_headers, url=receiver.url, events=["evaluation.submitted"], secret=SECRET)

    evaluation_id = submit_evaluation(client, admin_headers, database)
    # The app's scheduler is not running in tests: deliver as its tick would.
    from kpi_core.audit.trail import Actor
    from kpi_core.notify.outbox import kick
    from kpi_core.web.jobs_runs_api import RUNNER_KEY

    kick(app.extensions[RUNNER_KEY], requested_by=Actor.system("scheduler"))
    wait_for(lambda: receiver.deliveries)

    (delivery,) = receiver.deliveries
    assert delivery.signature_ok and delivery.headers["X-KPI-Event"] == "evaluation.submitted"
    assert delivery.json["data"]["evaluation_id"] == evaluation_id
    assert delivery.json["data"]["technician"] == "Tess Fixit"
    log = client.get("/api/v1/webhooks/deliveries", headers=admin_headers)
    wait_for(lambda: client.get("/api/v1/webhooks/deliveries", headers=admin_headers).json[0]["status"] == "sent")
    assert log.status_code == 200 and log.json[0]["event"] == "evaluation.submitted"


def test_a_delivery_is_replayed_from_the_log(client, admin_headers, database, receiver):
    endpoint = create(client, admin_headers, url=receiver.url, events=["evaluation.submitted"], secret=SECRET).json
    receiver.answers.extend([404])  # refused: failed at once
    submit_evaluation(client, admin_headers, database)
    with database.session(write=False) as session:
        (delivery_id,) = session.query(NotificationMessage.id).filter_by(webhook_endpoint_id=endpoint["id"]).one()
    from kpi_core.notify.delivery import Deliverer

    app_state = client.application.extensions["kpi_core"]
    Deliverer(database.engine, app_state.settings, app_state.plugins).run()
    failed = client.get("/api/v1/webhooks/deliveries", headers=admin_headers).json[0]
    assert failed["status"] == "failed" and "HTTP 404" in failed["last_error"]

    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/replay", headers=admin_headers)

    assert replay.status_code == 202 and replay.json["id"] == delivery_id
    wait_for(
        lambda: client.get("/api/v1/webhooks/deliveries", headers=admin_headers).json[0]["status"] == "sent",
        state=lambda: delivery_state(database),
    )
    first, second = receiver.deliveries
    assert first.headers["X-KPI-Delivery"] == second.headers["X-KPI-Delivery"], "a failed delivery keeps its id"

    again = client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/replay", headers=admin_headers)

    assert again.status_code == 202 and again.json["id"] != delivery_id and again.json["replay_of"] == delivery_id
    wait_for(lambda: len(receiver.deliveries) == 3, state=lambda: delivery_state(database))
    assert receiver.deliveries[2].headers["X-KPI-Delivery"] != first.headers["X-KPI-Delivery"], "a new delivery"
    assert receiver.deliveries[2].json["data"] == first.json["data"]


def test_a_delivery_still_waiting_cannot_be_replayed(client, admin_headers, database):
    with database.session() as session:
        session.add(
            NotificationMessage(
                idempotency_key="w", delivery_id="d", channel="webhook", recipient="https://x.example/", subject="s",
                body_text="t", attachments=[], status="queued", attempts=0, max_attempts=5,
            )
        )  # fmt: skip
    delivery = client.get("/api/v1/webhooks/deliveries", headers=admin_headers).json[0]

    answer = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin_headers)

    assert answer.status_code == 422 and "still waiting" in answer.json["errors"]["json"]["status"][0]


def test_the_test_email_is_written_as_an_eml_file_and_listed_for_download(client, admin_headers, settings):
    refused = client.post("/api/v1/notifications/test-email", json={"to": "not-an-address"}, headers=admin_headers)
    answer = client.post("/api/v1/notifications/test-email", json={"to": "owner@example.com"}, headers=admin_headers)

    assert refused.status_code == 422 and "valid e-mail address" in refused.json["errors"]["json"]["to"][0]
    assert answer.status_code == 202, answer.json
    message_id = answer.json["id"]
    wait_for(
        lambda: (
            client.get(f"/api/v1/notifications/messages/{message_id}", headers=admin_headers).json["status"] == "sent"
        )
    )
    listed = client.get("/api/v1/notifications/messages", headers=admin_headers).json
    assert listed[0]["id"] == message_id and listed[0]["has_file"] is True and listed[0]["to"] == "owner@example.com"
    download = client.get(f"/api/v1/notifications/messages/{message_id}/eml", headers=admin_headers)
    assert download.status_code == 200 and download.mimetype == "message/rfc822"
    assert b"Subject: Test message from Handyman KPI" in download.data


def test_only_a_failed_message_is_sent_again(client, admin_headers):
    answer = client.post("/api/v1/notifications/test-email", json={"to": "owner@example.com"}, headers=admin_headers)
    message_id = answer.json["id"]
    wait_for(
        lambda: (
            client.get(f"/api/v1/notifications/messages/{message_id}", headers=admin_headers).json["status"] == "sent"
        )
    )

    again = client.post(f"/api/v1/notifications/messages/{message_id}/resend", headers=admin_headers)

    assert again.status_code == 422 and "Only a failed message" in again.json["errors"]["json"]["status"][0]
    assert client.get("/api/v1/notifications/messages/999999/eml", headers=admin_headers).status_code == 404
