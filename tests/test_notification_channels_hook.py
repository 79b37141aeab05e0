"""kpi_notification_channels (issue #20, point 1): channels are plugins; a third party adds one the way
docs/plugins.md shows, and the host delivers through it like through its own e-mail and webhooks."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from kpi_core import hookimpl
from kpi_core.declarations import DeclarationError, NotificationChannel
from kpi_core.notify.outbox import MessageDraft
from kpi_core.plugins import load_plugins
from kpi_core.testing.outbox import Outbox

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def documented_sms_plugin() -> types.ModuleType:
    """The example of docs/plugins.md, as the module a third party would ship."""
    page = DOCS.read_text()
    found = re.search(r"<!-- example: sms channel[^>]*-->\n```python\n(.*?)```", page, re.S)
    assert found, "docs/plugins.md lost its SMS channel example"
    module = types.ModuleType("fixture_sms")
    exec(compile(found.group(1), "docs/plugins.md", "exec"), module.__dict__)
    return module


@pytest.fixture
def sms() -> types.ModuleType:
    return documented_sms_plugin()


def test_a_third_party_channel_is_registered_under_its_plugin(settings, sms):
    host = load_plugins(settings, extra=[("fixture_sms", sms)])

    assert not [problem for problem in host.problems if problem.name == "fixture_sms"]
    assert host.owner_of("kpi_notification_channels", "sms") == "fixture_sms"
    assert host.plugins["fixture_sms"].contributes["kpi_notification_channels"] == ["sms"]
    assert {"email", "webhook", "sms"} <= set(host.notification_channels)


def test_a_message_on_the_third_party_channel_is_delivered_through_it(settings, database, sms):
    outbox = Outbox(database, settings, load_plugins(settings, extra=[("fixture_sms", sms)]))
    message_id = outbox.queue(
        MessageDraft(channel="sms", to="+15550100", subject="Alert", text="Callbacks doubled"), "alert:1"
    )

    report = outbox.deliver()

    message = outbox.get(message_id)
    assert report.sent == [message_id] and message.receipt == "recorded (no gateway set)"
    assert [{"to": "+15550100", "text": "Alert: Callbacks doubled", "id": message.delivery_id}] == sms.SENT


def test_the_third_party_channel_fails_a_bad_number_at_once(settings, database, sms):
    outbox = Outbox(database, settings, load_plugins(settings, extra=[("fixture_sms", sms)]))
    message_id = outbox.queue(MessageDraft(channel="sms", to="555-0100", subject="Alert", text="x"), "alert:1")

    outbox.deliver()

    message = outbox.get(message_id)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "not a phone number in international form" in message.last_error


def test_a_channel_key_another_plugin_has_is_the_later_plugins_load_error(settings):
    class Copycat:
        @hookimpl
        def kpi_notification_channels(self):
            return [NotificationChannel(key="email", label="Another e-mail", send=lambda message, context: None)]

    host = load_plugins(settings, extra=[("copycat", Copycat())])

    (problem,) = [problem for problem in host.problems if problem.name == "copycat"]
    assert problem.stage == "duplicate" and "'email' is already declared by plugin 'notify_email'" in problem.reason
    assert host.owner_of("kpi_notification_channels", "email") == "notify_email"


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"key": "SMS!"}, "must be a lower-case word"),
        ({"label": " "}, "label must be a non-empty string"),
        ({"send": "not callable"}, "send must be callable"),
        ({"settings": "KPI_SMTP_URL"}, "settings must be a tuple"),
        ({"timeout": 0}, "timeout must be 1 to 3600 seconds"),
        ({"deduplicates": "yes"}, "deduplicates must be True or False"),
        ({"attachments": 1}, "attachments must be True or False"),
    ],
)
def test_a_malformed_channel_is_refused_naming_its_fault(changes, fault):
    fields = {"key": "sms", "label": "Text message", "send": lambda message, context: None, **changes}
    with pytest.raises(DeclarationError, match=fault):
        NotificationChannel(**fields)


def test_the_bundled_channels_say_where_their_messages_go(client, admin_headers, settings):
    answer = client.get("/api/v1/notifications/channels", headers=admin_headers)

    assert answer.status_code == 200
    channels = {channel["key"]: channel for channel in answer.json}
    assert channels["email"]["plugin"] == "notify_email" and channels["email"]["deduplicates"] is True
    assert str(settings.data_dir / "mail") in channels["email"]["status"]
    assert channels["webhook"]["settings"] == ["KPI_WEBHOOK_ALLOW_PRIVATE"]


def test_a_pdf_is_asked_only_of_a_channel_that_carries_files(settings, database, sms, make_user):
    from kpi_core.audit.trail import Actor
    from kpi_core.errors import Invalid
    from kpi_core.notify import preferences
    from kpi_core.storage.models import User

    host = load_plugins(settings, extra=[("fixture_sms", sms)])
    user_id = make_user("manager", username="mona")
    item = {"kind": "team_digest", "enabled": True, "channel": "sms", "address": "+15550100", "attach_pdf": True}
    with database.session() as session:
        user = session.get(User, user_id)
        with pytest.raises(Invalid) as refused:
            preferences.save_choices(session, user, Actor.system("test"), [item], channels=host.notification_channels)
        (chosen,) = [
            choice
            for choice in preferences.save_choices(
                session, user, Actor.system("test"), [{**item, "channel": "email", "address": None}],
                channels=host.notification_channels,
            )
            if choice.kind.key == "team_digest"
        ]  # fmt: skip

    assert refused.value.field == "subscriptions.0.attach_pdf" and "cannot carry a PDF" in refused.value.message
    assert chosen.attach_pdf is True and host.notification_channels["email"].attachments is True
