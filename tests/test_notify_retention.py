"""notify.retention: sent and failed messages older than KPI_MESSAGE_RETENTION_DAYS go, with the .eml
files written for them; waiting and recent ones stay, and so does a replay of one that went. Ages are
faked through sent_at / failed_at."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kpi_core.config import ConfigError, Settings
from kpi_core.notify.retention import JOB_KEY, remove_old_messages
from kpi_core.notify.written import WRITTEN, mail_folder
from kpi_core.storage.models import AuditEntry, NotificationMessage
from kpi_core.storage.types import utcnow


@pytest.fixture
def add_message(database, settings):
    """``add_message(status, age_days, written=False, replay_of=None)`` -> (id, the .eml file or None)."""

    def add(status: str, age_days: float, *, written: bool = False, replay_of: int | None = None):
        at = utcnow() - timedelta(days=age_days)
        path = None
        if written:
            folder = mail_folder(settings.data_dir)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"message-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(b"Subject: hello\r\n\r\nbody\r\n")
        with database.session() as session:
            message = NotificationMessage(
                idempotency_key=uuid.uuid4().hex, delivery_id=str(uuid.uuid4()), channel="email",
                recipient="ana@example.com", subject="Your week", body_text="...", attachments=[], status=status,
                attempts=1, max_attempts=5, created_at=at, updated_at=at, next_attempt_at=at,
                sent_at=at if status == "sent" else None, failed_at=at if status == "failed" else None,
                receipt=f"{WRITTEN}{path}" if path else None, replay_of_id=replay_of,
            )  # fmt: skip
            session.add(message)
            session.flush()
            return message.id, path

    return add


def remaining(database) -> set[int]:
    with database.session(write=False) as session:
        return set(session.scalars(select(NotificationMessage.id)))


def test_old_sent_and_failed_messages_go_with_their_files_and_the_rest_stay(
    database, settings, add_message, job_context
):
    (old_sent, old_file), (old_failed, _) = add_message("sent", 181, written=True), add_message("failed", 400)
    recent, recent_file = add_message("sent", 179, written=True)
    old_queued, _ = add_message("queued", 500)
    old_sending, _ = add_message("sending", 500)
    replay, _ = add_message("sent", 3, replay_of=old_sent)
    outside = settings.data_dir / "elsewhere.eml"  # a receipt pointing outside the mail folder is never followed
    outside.write_bytes(b"x")
    stray, _ = add_message("sent", 300)
    with database.session() as session:
        session.get(NotificationMessage, stray).receipt = f"{WRITTEN}{outside}"

    result = remove_old_messages(job_context())

    assert (result["removed"], result["files_removed"], result["retention_days"]) == (3, 1, 180)
    assert remaining(database) == {recent, old_queued, old_sending, replay}
    assert not old_file.exists() and recent_file.exists() and outside.exists()
    with database.session(write=False) as session:
        assert session.get(NotificationMessage, replay).replay_of_id is None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "notification_message")).one()
        assert (entry.action, entry.username) == ("delete", "message_retention")
        assert sorted(entry.changes["ids"][0]) == sorted([old_sent, old_failed, stray])


def test_the_retention_follows_the_setting_and_nothing_to_delete_changes_nothing(
    database, settings, add_message, job_context
):
    kept, _ = add_message("sent", 5)
    gone, _ = add_message("failed", 8)
    short = dataclasses.replace(settings, message_retention_days=7)
    context = dataclasses.replace(job_context(), settings=short)

    assert remove_old_messages(context)["removed"] == 1
    assert remaining(database) == {kept} and gone not in remaining(database)
    assert remove_old_messages(context)["removed"] == 0
    with database.session(write=False) as session:
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.entity == "notification_message")).all()) == 1


def test_a_file_already_gone_is_no_failure(database, add_message, job_context):
    old, path = add_message("sent", 200, written=True)
    assert isinstance(path, Path)
    path.unlink()

    result = remove_old_messages(job_context())

    assert (result["removed"], result["files_removed"]) == (1, 0)
    assert old not in remaining(database)


def test_the_setting_defaults_to_180_days_and_reads_its_variable():
    assert Settings.from_env({}).message_retention_days == 180
    assert Settings.from_env({"KPI_MESSAGE_RETENTION_DAYS": "30"}).message_retention_days == 30
    with pytest.raises(ConfigError, match="KPI_MESSAGE_RETENTION_DAYS"):
        Settings.from_env({"KPI_MESSAGE_RETENTION_DAYS": "0"})


def test_the_job_is_declared_daily(plugins):
    spec = plugins.jobs[JOB_KEY]

    assert spec.schedule == "55 3 * * *" and spec.retries == 1
    assert "KPI_" not in spec.label, "admins read it on the jobs page"
