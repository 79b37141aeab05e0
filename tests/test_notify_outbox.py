"""The outbox (issue #20, point 6): messages are queued in the caller's transaction, once per idempotency key,
claimed atomically, retried with back-off, marked failed for admins, and never sent twice after a worker dies.

The crash tests kill a real delivery process (SIGKILL) while its message is at a real receiver on loopback
(an SMTP server, a webhook endpoint) and before it recorded the outcome; the next delivery run finds the
message left ``sending`` by a process that is gone. Channels that let the receiver recognise a repeat
(the delivery id as Message-ID or X-KPI-Delivery) send it again under the same id: the receiver keeps
exactly one delivery. A channel that cannot marks it failed instead: never a second copy.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from kpi_core import hookimpl
from kpi_core.audit.trail import Actor
from kpi_core.declarations import DeliveryFailed, NotificationChannel
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.jobs.scheduler import Scheduler
from kpi_core.notify import webhooks
from kpi_core.notify.delivery import Deliverer
from kpi_core.notify.outbox import DELIVER_JOB_KEY, MessageDraft, delivery_id_for, queue_message
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import JobRun, NotificationMessage, NotificationSubscription
from kpi_core.storage.types import utcnow
from kpi_core.testing.mail import smtp_server
from kpi_core.testing.outbox import Outbox
from kpi_core.testing.webhooks import webhook_receiver

SECRET = "whsec_crash-test-secret-1234"


class Pager:
    """A channel of the test's own: records what it was asked to send; fails as told."""

    def __init__(self, *, deduplicates: bool = False) -> None:
        self.sent: list[str] = []
        self.failures: list[DeliveryFailed] = []
        self.lock = threading.Lock()
        self.deduplicates = deduplicates

    def send(self, message, context) -> str:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(message.delivery_id)
        return f"paged {message.to}"

    @hookimpl
    def kpi_notification_channels(self):
        return [NotificationChannel(key="pager", label="Pager", send=self.send, deduplicates=self.deduplicates)]


@pytest.fixture
def pager() -> Pager:
    return Pager()


@pytest.fixture
def outbox(settings, database, pager) -> Outbox:
    plugins = load_plugins(settings, extra=[("fixture_pager", pager)])
    box = Outbox(database, settings, plugins)
    box.configure(webhook_allow_private=True)
    return box


def page(to: str = "+1 555 0100", **changes) -> MessageDraft:
    return MessageDraft(**{"channel": "pager", "to": to, "subject": "Callbacks doubled", "text": "Look.", **changes})


def test_a_message_is_written_in_the_callers_transaction_and_undone_with_it(database):
    with database.session() as session:
        queue_message(session, page(), idempotency_key="alert:1")
        session.rollback()

    with database.session(write=False) as session:
        assert session.scalar(select(NotificationMessage.id)) is None


def test_the_same_idempotency_key_queues_one_message(database):
    with database.session() as session:
        first = queue_message(session, page(), idempotency_key="alert:1")
        again = queue_message(session, page(text="Different words"), idempotency_key="alert:1")
        assert again is first
    with database.session() as session:
        later = queue_message(session, page(), idempotency_key="alert:1")
        assert later is not None and later.id == first.id
        assert later.delivery_id == delivery_id_for("alert:1")
        assert session.query(NotificationMessage).count() == 1


def test_a_user_who_turned_a_kind_off_gets_no_message(database, make_user):
    user_id = make_user("manager")
    with database.session() as session:
        session.add(NotificationSubscription(user_id=user_id, kind="alerts", channel="pager", enabled=False))

    with database.session() as session:
        assert queue_message(session, page(user_id=user_id, kind="alerts"), idempotency_key="a") is None
        assert queue_message(session, page(user_id=user_id, kind="weekly_scorecard"), idempotency_key="b")


def test_a_message_is_claimed_by_one_deliverer_only(outbox):
    message_id = outbox.queue(page(), "k")
    one = Deliverer(outbox.database.engine, outbox.settings, outbox.plugins, worker="a")
    two = Deliverer(outbox.database.engine, outbox.settings, outbox.plugins, worker="b")

    assert one.claim(message_id) is not None
    assert two.claim(message_id) is None
    claimed = outbox.get(message_id)
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == ("sending", "a", 1)


def test_two_deliverers_at_once_send_each_message_once(outbox, pager):
    ids = [outbox.queue(page(), f"k{number}") for number in range(20)]
    runs = [threading.Thread(target=outbox.deliver) for _ in range(2)]

    for run in runs:
        run.start()
    for run in runs:
        run.join()

    assert sorted(pager.sent) == sorted(outbox.get(message_id).delivery_id for message_id in ids)
    assert {outbox.get(message_id).status for message_id in ids} == {"sent"}


def test_a_failure_is_retried_with_back_off_then_marked_failed(outbox, pager):
    pager.failures = [DeliveryFailed("the pager network is down") for _ in range(3)]
    message_id = outbox.queue(page(max_attempts=3), "k")
    waits = []

    for _ in range(2):
        before = outbox.now
        outbox.deliver()
        waiting = outbox.get(message_id)
        assert waiting.status == "queued" and waiting.last_error == "the pager network is down"
        waits.append(round((waiting.next_attempt_at - before).total_seconds()))
        outbox.deliver()  # not due yet: nothing happens
        assert outbox.get(message_id).attempts == len(waits)
        outbox.later(waits[-1] + 1)
    outbox.deliver()

    failed = outbox.get(message_id)
    assert waits == [30, 60]
    assert (failed.status, failed.attempts, failed.failed_at is not None) == ("failed", 3, True)
    assert pager.sent == []


def test_a_permanent_failure_is_not_retried(outbox, pager):
    pager.failures = [DeliveryFailed("no such number", permanent=True)]
    message_id = outbox.queue(page(), "k")

    report = outbox.deliver()

    assert report.failed == [message_id]
    assert (outbox.get(message_id).attempts, outbox.get(message_id).last_error) == (1, "no such number")


def test_a_channel_no_plugin_provides_waits_with_a_reason(outbox):
    message_id = outbox.queue(page(channel="carrier_pigeon"), "k")

    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "queued" and "No loaded plugin provides the channel 'carrier_pigeon'" in message.last_error


def test_a_failed_message_sent_again_keeps_its_delivery_id(outbox, pager, database):
    pager.failures = [DeliveryFailed("down", permanent=True)]
    message_id = outbox.queue(page(), "k")
    outbox.deliver()
    from kpi_core.notify.outbox import send_again

    with database.session() as session:
        send_again(session, session.get(NotificationMessage, message_id))
    outbox.deliver()

    message = outbox.get(message_id)
    assert message.status == "sent" and pager.sent == [message.delivery_id]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_crash_between_send_and_record_is_not_sent_again_by_a_channel_that_cannot_deduplicate(
    outbox, pager, database
):
    message_id = outbox.queue(page(), "k")
    deliverer = Deliverer(database.engine, outbox.settings, outbox.plugins, worker=f"{socket.gethostname()}:1:x")
    token = deliverer.claim(message_id)
    pager.sent.append(outbox.get(message_id).delivery_id)  # it went out; then the process died
    with database.session() as session:
        session.get(NotificationMessage, message_id).claimed_by = f"{socket.gethostname()}:{_dead_pid()}:notify"
    assert token is not None

    report = outbox.deliver()

    message = outbox.get(message_id)
    assert report.recovered == [message_id] and message.status == "failed"
    assert "may or may not have arrived" in message.last_error and "cannot tell a repeat" in message.last_error
    assert len(pager.sent) == 1, "never a second copy"


def test_a_claim_whose_lease_ran_out_is_recovered_even_from_another_machine(outbox, pager, database):
    pager.deduplicates = True
    outbox.plugins = load_plugins(outbox.settings, extra=[("fixture_pager", pager)])
    message_id = outbox.queue(page(), "k")
    Deliverer(database.engine, outbox.settings, outbox.plugins, worker="elsewhere:123:notify").claim(message_id)

    assert outbox.deliver().recovered == [], "its lease (the channel's timeout + 60 s) has not run out"
    outbox.later(60 + 61)
    report = outbox.deliver()

    assert report.recovered == [message_id] and report.sent == [message_id]
    assert "sent again with the same delivery id" in outbox.get(message_id).last_error


DELIVER_ONCE = """
from kpi_core.config import Settings
from kpi_core.notify.delivery import Deliverer
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database

settings = Settings.from_env()
database = Database(settings.effective_database_url)
Deliverer(database.engine, settings, load_plugins(settings)).run()
"""


def _deliver_in_a_process(settings, **variables: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "KPI_DATABASE_URL": settings.effective_database_url,
        "KPI_DATA_DIR": str(settings.data_dir),
        "KPI_SECRET_KEY": settings.secret_key,
        "KPI_WEBHOOK_ALLOW_PRIVATE": "1",
        **variables,
    }
    return subprocess.Popen([sys.executable, "-c", DELIVER_ONCE], env=env)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # reaped: its pid is gone, as after a crash


def _wait_for(event: threading.Event, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not event.wait(0.05):
        assert process.poll() is None, "the delivery process ended before its message arrived"
        assert time.monotonic() < deadline, "the message never arrived"


@pytest.mark.slow
def test_a_webhook_worker_killed_mid_send_leaves_exactly_one_delivery(settings, database, outbox):
    with webhook_receiver(SECRET) as receiver:
        with database.session() as session:
            data = {"name": "Ops", "url": receiver.url, "events": ["report.finished"], "secret": SECRET}
            webhooks.create_endpoint(session, Actor.system("test"), data, allow_private=True)
            webhooks.emit_event(session, "report.finished", {"report_run_id": 1}, event_id="r:1", summary="Ready")
        receiver.answers.append("hang")  # the endpoint has the request; the sender waits for its answer
        process = _deliver_in_a_process(settings)
        _wait_for(receiver.arrived, process)

        _kill(process)
        receiver.release.set()
        report = outbox.deliver()

        (message,) = [outbox.get(message_id) for message_id in report.sent]
        assert report.recovered == [message.id] and message.status == "sent"
        unique = receiver.unique()
        assert list(unique) == [message.delivery_id], "one delivery, as the receiver counts them"
        assert len(unique[message.delivery_id]) == 2 and all(copy.signature_ok for copy in unique[message.delivery_id])


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["before the server has it", "after the server has it"])
def test_an_email_worker_killed_mid_send_leaves_exactly_one_message(settings, database, outbox, make_user, stage):
    user_id = make_user("manager")
    with smtp_server() as (recorder, port):
        draft = MessageDraft(
            channel="email", to="ana@example.com", subject="Week 16", text="Numbers.", user_id=user_id, kind="alerts"
        )
        message_id = outbox.queue(draft, "alerts:ana:16")
        held = threading.Event()
        if stage == "before the server has it":
            recorder.hold_rcpt, reached = held, recorder.at_rcpt
        else:
            recorder.hold, reached = held, recorder.arrived
        process = _deliver_in_a_process(settings, KPI_SMTP_URL=f"smtp://127.0.0.1:{port}")
        _wait_for(reached, process)

        _kill(process)
        held.set()
        recorder.hold = recorder.hold_rcpt = None
        outbox.configure(smtp_url=f"smtp://127.0.0.1:{port}")
        report = outbox.deliver()

        message = outbox.get(message_id)
        assert report.recovered == [message_id] and message.status == "sent"
        by_id = recorder.by_message_id()
        assert list(by_id) == [f"<{message.delivery_id}@localhost>"], "one message, as a mail store counts them"
        copies = 1 if stage == "before the server has it" else 2
        assert len(by_id[f"<{message.delivery_id}@localhost>"]) == copies


def test_the_scheduler_starts_delivery_through_the_job_runner_when_messages_are_due(settings, database, pager):
    plugins = load_plugins(settings, extra=[("fixture_pager", pager)])
    runner = InProcessRunner(JobEnvironment(settings, database, plugins), workers=1)
    try:
        Outbox(database, settings, plugins).queue(page(), "k")
        scheduler = Scheduler(runner)

        scheduler.tick()
        scheduler.tick()  # a run is pending: no second one

        deadline = time.monotonic() + 30
        while not pager.sent:
            assert time.monotonic() < deadline, "the delivery run never sent the message"
            time.sleep(0.05)
        with database.session(write=False) as session:
            runs = session.scalars(select(JobRun).where(JobRun.job_key == DELIVER_JOB_KEY)).all()
        assert len(runs) == 1
    finally:
        runner.shutdown()


def test_nothing_due_starts_no_delivery_run(settings, database, pager):
    plugins = load_plugins(settings, extra=[("fixture_pager", pager)])
    runner = InProcessRunner(JobEnvironment(settings, database, plugins), workers=1)
    try:
        Outbox(database, settings, plugins).queue(page(), "k")
        with database.session() as session:
            session.query(NotificationMessage).update({"next_attempt_at": utcnow() + timedelta(hours=1)})

        Scheduler(runner).tick()

        with database.session(write=False) as session:
            assert session.scalar(select(JobRun.id).where(JobRun.job_key == DELIVER_JOB_KEY)) is None
    finally:
        runner.shutdown()
