"""The e-mail channel end to end: outbox -> notify.deliver -> a real SMTP server on loopback -> parsed back.

Each message is read back with the standard ``email`` package: both parts,
the headers (Message-ID from the delivery id, RFC 8058 one-click
unsubscribe), the attachment; the unsubscribe links are then used against the
app. Failures (a refused recipient, an invalid address, a server that is not
there, an unreadable KPI_SMTP_URL) end in the delivery log in words.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner

from kpi_core.notify.outbox import MessageDraft
from kpi_core.storage.models import NotificationSubscription, ReportFile, ReportRun, Technician
from kpi_core.testing.mail import free_port, self_signed_certificate, smtp_server
from kpi_core.testing.outbox import Outbox

TABLE = (
    '<table role="presentation" style="width:100%; border-collapse:collapse;">'
    '<tr><th style="text-align:left; padding:6px;">KPI</th>'
    '<th style="text-align:right; padding:6px;">This week</th></tr>'
    '<tr><td style="padding:6px;">First-time fix</td><td style="text-align:right; padding:6px;">92 %</td></tr>'
    "</table>"
)


@pytest.fixture
def outbox(settings, database, plugins) -> Outbox:
    return Outbox(database, settings, plugins)


@pytest.fixture
def technician_user(database, make_user) -> int:
    with database.session() as session:
        session.add(Technician(external_ref="T-7", name="Ana Flores", email="ana@example.com"))
    return make_user("technician", username="ana", technician_ref="T-7")


def scorecard(user_id: int, **changes) -> MessageDraft:
    fields = {
        "channel": "email",
        "to": "ana@example.com",
        "subject": "Your week: first-time fix 92 %",
        "text": "Ana, your week.\n\nFirst-time fix: 92 % (last week 88 %).",
        "html": TABLE,
        "user_id": user_id,
        "kind": "weekly_scorecard",
    }
    return MessageDraft(**{**fields, **changes})


@pytest.fixture
def smtp():
    with smtp_server() as (recorder, port):
        yield recorder, f"smtp://127.0.0.1:{port}"


def test_a_scorecard_arrives_with_a_plain_and_an_html_part_and_one_click_unsubscribe(outbox, technician_user, smtp):
    recorder, url = smtp
    outbox.configure(smtp_url=url, mail_from="Handyman KPI <kpi@example.com>", public_url="https://kpi.example.com")
    message_id = outbox.queue(scorecard(technician_user), "weekly_scorecard:ana:2026-W16")

    report = outbox.deliver()

    assert report.sent == [message_id]
    (received,) = recorder.messages
    assert received.rcpt_tos == ["ana@example.com"] and received.mail_from == "kpi@example.com"
    mail = received.parsed()
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "First-time fix: 92 % (last week 88 %)." in text
    assert "92 %" in html and 'style="' in html and "<style" not in html
    assert "<img" not in html and "src=" not in html, "no external images"
    sent = outbox.get(message_id)
    assert mail["Message-ID"] == f"<{sent.delivery_id}@example.com>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = re.fullmatch(
        r"<(https://kpi\.example\.com/api/v1/notifications/unsubscribe\?token=[^>]+)>", mail["List-Unsubscribe"]
    )
    assert one_click, mail["List-Unsubscribe"]
    page = re.search(r"https://kpi\.example\.com/unsubscribe\?token=\S+", text)
    assert page and page.group(0) in html.replace("&amp;", "&")
    assert sent.status == "sent" and sent.attempts == 1
    assert sent.receipt.startswith(f"accepted by 127.0.0.1:{urlsplit(url).port}: 250")


def test_the_one_click_unsubscribe_turns_the_subscription_off(outbox, technician_user, smtp, client, database):
    recorder, url = smtp
    outbox.configure(smtp_url=url)
    outbox.queue(scorecard(technician_user), "weekly_scorecard:ana:w1")
    outbox.deliver()
    header = recorder.messages[0].parsed()["List-Unsubscribe"].strip("<>")

    # What a mail client does for RFC 8058: POST the URL with this form body, no login.
    answer = client.post(
        _path(header), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 200, answer.json
    assert answer.json == {"kind": "weekly_scorecard", "label": "your weekly scorecard", "enabled": False}
    with database.session(write=False) as session:
        row = session.query(NotificationSubscription).one()
        assert (row.user_id, row.kind, row.enabled) == (technician_user, "weekly_scorecard", False)
    assert outbox.queue(scorecard(technician_user), "weekly_scorecard:ana:w2") is None, "nothing queued once off"


def test_the_link_in_the_body_opens_a_page_whose_button_unsubscribes(outbox, technician_user, smtp, client, database):
    recorder, url = smtp
    outbox.configure(smtp_url=url)
    outbox.queue(scorecard(technician_user), "weekly_scorecard:ana:w1")
    outbox.deliver()
    link = re.search(r"\S+/unsubscribe\?token=\S+", recorder.messages[0].parsed().get_body(("plain",)).get_content())

    page = client.get(_path(link.group(0)))

    assert page.status_code == 200
    assert "Stop receiving your weekly scorecard?" in page.get_data(as_text=True)
    with database.session(write=False) as session:
        assert session.query(NotificationSubscription).count() == 0, "opening the page changes nothing"
    done = client.post(_path(link.group(0)))
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    with database.session(write=False) as session:
        assert session.query(NotificationSubscription).one().enabled is False


def test_a_forged_or_expired_unsubscribe_link_is_refused_and_changes_nothing(
    outbox, technician_user, smtp, client, database, monkeypatch
):
    recorder, url = smtp
    outbox.configure(smtp_url=url)
    outbox.queue(scorecard(technician_user), "weekly_scorecard:ana:w1")
    outbox.deliver()
    good = _path(recorder.messages[0].parsed()["List-Unsubscribe"].strip("<>"))
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    # Another user's id in a token the attacker signs with a key of their own.
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 91 * 86400)
        from kpi_core.notify.subscriptions import make_token

        token = make_token(outbox.settings, technician_user, "weekly_scorecard")
    expired = f"/api/v1/notifications/unsubscribe?token={token}"

    for path, words in ((forged, "not valid"), (expired, "has expired")):
        answer = client.post(path)
        assert answer.status_code == 422, answer.json
        assert words in answer.json["errors"]["query"]["token"][0]
    page = client.get(expired.replace("/api/v1/notifications", ""))
    assert page.status_code == 400 and "has expired" in page.get_data(as_text=True)
    with database.session(write=False) as session:
        assert session.query(NotificationSubscription).count() == 0


def test_a_report_asked_for_is_attached_as_a_pdf(outbox, technician_user, smtp, database):
    recorder, url = smtp
    outbox.configure(smtp_url=url)
    with database.session() as session:
        run = ReportRun(format="pdf", title="April", spec={}, status="finished", file_name="april.pdf",
                        media_type="application/pdf", size_bytes=9)  # fmt: skip
        session.add(run)
        session.flush()
        session.add(ReportFile(report_run_id=run.id, content=b"%PDF-1.7\n", sha256="x"))
        run_id = run.id
    outbox.queue(scorecard(technician_user, attachments=({"report_run_id": run_id},)), "weekly_scorecard:ana:pdf")

    outbox.deliver()

    mail = recorder.messages[0].parsed()
    assert mail.get_content_type() == "multipart/mixed"
    (attachment,) = list(mail.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", "april.pdf")
    assert attachment.get_content() == b"%PDF-1.7\n"
    assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None


def test_a_refused_recipient_fails_at_once_with_the_servers_words(outbox, technician_user, smtp):
    recorder, url = smtp
    recorder.refuse.add("ana@example.com")
    outbox.configure(smtp_url=url)
    message_id = outbox.queue(scorecard(technician_user), "k")

    report = outbox.deliver()

    message = outbox.get(message_id)
    assert report.failed == [message_id] and message.status == "failed" and message.attempts == 1
    assert "refused the recipient ana@example.com: 550 5.1.1" in message.last_error
    assert recorder.messages == []


def test_an_invalid_address_fails_with_a_clear_error(outbox, technician_user, smtp):
    _recorder, url = smtp
    outbox.configure(smtp_url=url)
    message_id = outbox.queue(scorecard(technician_user, to="ana@"), "k")

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "failed" and message.attempts == 1
    assert message.last_error.startswith("Not sent: 'ana@' is not a valid e-mail address")


def test_a_server_that_cannot_be_reached_is_retried_with_back_off_then_failed(outbox, technician_user):
    outbox.configure(smtp_url=f"smtp://127.0.0.1:{free_port()}")
    message_id = outbox.queue(scorecard(technician_user, max_attempts=3), "k")

    before = outbox.now
    outbox.deliver()

    first = outbox.get(message_id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert "cannot be reached" in first.last_error
    assert 30 <= (first.next_attempt_at - before).total_seconds() < 32, "the first retry waits 30 s"
    settled = outbox.deliver_until_settled(message_id)
    assert (settled.status, settled.attempts) == ("failed", 3)


@pytest.mark.parametrize(
    ("smtp_url", "words"),
    [
        ("mail.example.com:25", "must start with smtp://"),
        ("smtp://user:secret@127.0.0.1:25", "sends a password over plain SMTP"),
        ("smtp+starttls://127.0.0.1:99999", "cannot be read"),
    ],
)
def test_an_smtp_url_that_cannot_be_used_is_a_clear_error_in_the_log(outbox, technician_user, smtp_url, words):
    outbox.configure(smtp_url=smtp_url)
    message_id = outbox.queue(scorecard(technician_user), "k")

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "queued", "kept for when the setting is corrected"
    assert words in message.last_error and "secret" not in message.last_error


def test_without_a_mail_server_messages_are_written_as_eml_files(outbox, technician_user, settings):
    message_id = outbox.queue(scorecard(technician_user), "k")

    outbox.deliver()

    message = outbox.get(message_id)
    path = Path(message.receipt.removeprefix("written to "))
    assert message.status == "sent" and path.parent == settings.data_dir / "mail"
    import email
    import email.policy

    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail["To"] == "ana@example.com" and mail.get_body(("html",)) is not None


def test_a_message_rewritten_after_a_crash_is_still_one_file(outbox, technician_user, settings, database):
    message_id = outbox.queue(scorecard(technician_user), "k")
    outbox.deliver()
    with database.session() as session:  # as if the worker died after writing, before recording "sent"
        row = session.get(type(outbox.get(message_id)), message_id)
        row.status, row.claimed_by, row.claimed_at, row.claim_token = "sending", "gone:1:x", outbox.now, "t"
    outbox.later(3600)

    report = outbox.deliver()

    assert report.recovered == [message_id] and report.sent == [message_id]
    assert len(list((settings.data_dir / "mail").glob("*.eml"))) == 1


@pytest.fixture
def certificate(tmp_path, monkeypatch):
    cert, key = self_signed_certificate(tmp_path / "tls")
    # The client trusts it as a private certificate authority would be trusted (docs/notifications.md).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


@pytest.mark.parametrize(("mode", "scheme"), [("starttls", "smtp+starttls"), ("tls", "smtps")])
def test_starttls_and_tls_with_a_login(outbox, technician_user, certificate, mode, scheme):
    with smtp_server(mode=mode, certificate=certificate, login=("kpi", "p@ss:word")) as (recorder, port):
        outbox.configure(smtp_url=f"{scheme}://kpi:p%40ss%3Aword@127.0.0.1:{port}")
        message_id = outbox.queue(scorecard(technician_user), "k")

        outbox.deliver()

        message = outbox.get(message_id)
        assert message.status == "sent", message.last_error
        assert len(recorder.messages) == 1


def test_a_wrong_password_is_said_without_repeating_it(outbox, technician_user, certificate):
    with smtp_server(mode="tls", certificate=certificate, login=("kpi", "right")) as (recorder, port):
        outbox.configure(smtp_url=f"smtps://kpi:wrong-one@127.0.0.1:{port}")
        message_id = outbox.queue(scorecard(technician_user), "k")

        outbox.deliver()

        message = outbox.get(message_id)
        assert message.status == "queued" and "refused the login of kpi" in message.last_error
        assert "wrong-one" not in message.last_error and recorder.messages == []


def test_starttls_is_required_never_skipped(outbox, technician_user, smtp):
    recorder, url = smtp
    outbox.configure(smtp_url=url.replace("smtp://", "smtp+starttls://"))
    message_id = outbox.queue(scorecard(technician_user), "k")

    outbox.deliver()

    message = outbox.get(message_id)
    assert "does not offer STARTTLS" in message.last_error and recorder.messages == []


def test_an_untrusted_certificate_is_refused(outbox, technician_user, tmp_path):
    cert, key = self_signed_certificate(tmp_path / "untrusted")
    with smtp_server(mode="tls", certificate=(cert, key)) as (recorder, port):
        outbox.configure(smtp_url=f"smtps://127.0.0.1:{port}")
        message_id = outbox.queue(scorecard(technician_user), "k")

        outbox.deliver()

        assert "could not be verified" in outbox.get(message_id).last_error and recorder.messages == []


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
