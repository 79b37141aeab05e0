"""The ``notify.deliver`` job: send what the outbox holds through the channel plugins.

For each due message: **claim** it with one conditional UPDATE (``queued`` ->
``sending``, attempts + 1, a fresh claim token, committed before anything is
sent), so that any number of delivery runs, on any number of workers, never
send one message at the same time; **send** it through its channel's
``send(message, context)``; **record** the outcome, guarded by the claim
token (``sent`` with the channel's receipt; back to ``queued`` with the next
attempt's time after a failure that may pass, from
:func:`kpi_core.jobs.runner.backoff`; ``failed`` when the failure is
permanent or the attempts are spent).

A worker can die between its claim and its record: the message stays
``sending``. Once the worker is known dead (its process on this host is
gone) or its lease has run out (the channel's timeout plus
:data:`LEASE_GRACE`), the message went out or it did not, and nothing can
tell which. If the channel ``deduplicates`` (the receiver can recognise the
message by its delivery id: the e-mail's Message-ID, a webhook's
X-KPI-Delivery), it is sent again under the same id; otherwise it is marked
failed with that explanation, for an admin to check and send again, rather
than risk a second copy. See docs/notifications.md.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kpi_core.config import Settings
from kpi_core.declarations import (
    Attachment,
    ChannelContext,
    DeliveryFailed,
    NotificationChannel,
    OutgoingMessage,
)
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.runner import RETRY_BASE_SECONDS, backoff
from kpi_core.notify import subscriptions
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import values_by_plugin
from kpi_core.storage.db import engine_session
from kpi_core.storage.models import NotificationMessage, ReportFile, ReportRun, WebhookEndpoint
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

LEASE_GRACE = timedelta(seconds=60)
BATCH = 100
RUN_BUDGET_SECONDS = 600.0
"""A delivery run stops taking new messages after this long (the job's timeout is 900 s); the rest wait for the next."""
ERROR_MAX = 2000


@dataclass
class DeliveryReport:
    """What one delivery run did, by message id."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {
            "sent": len(self.sent),
            "retrying": len(self.retrying),
            "failed": len(self.failed),
            "recovered": len(self.recovered),
        }


class _Failure(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def worker_id(label: str = "notify") -> str:
    """``host:pid:label``: who claimed a message, so that a later run can tell whether that process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{label}"


def _process_gone(worker: str | None) -> bool:
    host, _, rest = (worker or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Deliverer:
    """Sends due messages of the outbox through the loaded channels, one claim at a time."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        plugins: PluginHost,
        *,
        worker: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        retry_base_seconds: int = RETRY_BASE_SECONDS,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.plugins = plugins
        self.worker = worker or worker_id()
        self.clock = clock
        self.retry_base_seconds = retry_base_seconds
        self._plugin_settings: dict[str, dict[str, Any]] | None = None

    def channel(self, key: str) -> NotificationChannel | None:
        return self.plugins.notification_channels.get(key)

    def run(self, message_ids: Sequence[int] | None = None, *, budget: float = RUN_BUDGET_SECONDS) -> DeliveryReport:
        """Recover messages left ``sending`` by dead workers, then send every due message (or those named)."""
        report = DeliveryReport()
        report.recovered = self.recover()
        started = time.monotonic()
        done: set[int] = set()
        while time.monotonic() - started < budget:
            batch = [message_id for message_id in self.due(message_ids) if message_id not in done]
            if not batch:
                break
            for message_id in batch:
                done.add(message_id)
                outcome = self.deliver(message_id)
                if outcome is not None:
                    getattr(report, outcome).append(message_id)
                if time.monotonic() - started >= budget:
                    break
        return report

    def due(self, message_ids: Sequence[int] | None = None) -> list[int]:
        statement = (
            select(NotificationMessage.id)
            .where(NotificationMessage.status == "queued", NotificationMessage.next_attempt_at <= self.clock())
            .order_by(NotificationMessage.next_attempt_at, NotificationMessage.id)
            .limit(BATCH)
        )
        if message_ids is not None:
            statement = statement.where(NotificationMessage.id.in_(list(message_ids)))
        with engine_session(self.engine) as session:
            return list(session.scalars(statement))

    def claim(self, message_id: int) -> str | None:
        """Take the message for this worker (committed at once); its claim token, or None if it is not ours."""
        token = str(uuid.uuid4())
        now = self.clock()
        with engine_session(self.engine, write=True) as session:
            claimed = session.execute(
                update(NotificationMessage)
                .where(
                    NotificationMessage.id == message_id,
                    NotificationMessage.status == "queued",
                    NotificationMessage.next_attempt_at <= now,
                )
                .values(
                    status="sending",
                    attempts=NotificationMessage.attempts + 1,
                    claimed_by=self.worker,
                    claimed_at=now,
                    claim_token=token,
                    updated_at=now,
                )
            )
        return token if claimed.rowcount == 1 else None

    def deliver(self, message_id: int) -> str | None:
        """Claim, send and record one message; what became of it (sent, retrying, failed) or None if not ours."""
        token = self.claim(message_id)
        if token is None:
            return None
        try:
            channel, outgoing = self._prepare(message_id)
            receipt = channel.send(outgoing, self._context(channel))
        except _Failure as failure:
            return self._failed(message_id, token, failure.reason, permanent=failure.permanent)
        except DeliveryFailed as exc:
            return self._failed(message_id, token, exc.reason, permanent=exc.permanent)
        except Exception as exc:
            log.warning("message %s: its channel raised", message_id, exc_info=True)
            return self._failed(message_id, token, _describe(exc), permanent=False)
        return self._sent(message_id, token, receipt)

    def _prepare(self, message_id: int) -> tuple[NotificationChannel, OutgoingMessage]:
        with engine_session(self.engine) as session:
            message = session.get(NotificationMessage, message_id)
            assert message is not None
            channel = self.channel(message.channel)
            if channel is None:
                raise _Failure(
                    f"No loaded plugin provides the channel {message.channel!r} (is its plugin installed and enabled?)",
                    permanent=False,
                )
            secret, options, to = None, {}, message.recipient
            if message.webhook_endpoint_id is not None or message.channel == "webhook":
                secret, options, to = self._endpoint(session, message)
            unsubscribe_url = unsubscribe_page = None
            if message.user_id is not None and message.kind:
                unsubscribe_url, unsubscribe_page = subscriptions.links(self.settings, message.user_id, message.kind)
            outgoing = OutgoingMessage(
                id=message.id,
                channel=message.channel,
                to=to,
                subject=message.subject,
                text=message.body_text,
                html=message.body_html,
                payload=message.payload or {},
                event=message.event,
                kind=message.kind,
                delivery_id=message.delivery_id,
                idempotency_key=message.idempotency_key,
                attempt=message.attempts,
                created_at=message.created_at,
                attachments=self._attachments(session, message.attachments or []),
                unsubscribe_url=unsubscribe_url,
                unsubscribe_page=unsubscribe_page,
                secret=secret,
                options=options,
            )
        return channel, outgoing

    def _endpoint(self, session: Session, message: NotificationMessage) -> tuple[str, dict[str, Any], str]:
        endpoint = session.get(WebhookEndpoint, message.webhook_endpoint_id) if message.webhook_endpoint_id else None
        if endpoint is None:
            raise _Failure("The webhook endpoint was removed, so this delivery has nowhere to go", permanent=True)
        if not endpoint.enabled:
            raise _Failure("The webhook endpoint is turned off; turn it on and replay this delivery", permanent=True)
        return endpoint.secret, {"format": endpoint.format, "endpoint_id": endpoint.id}, endpoint.url

    def _attachments(self, session: Session, references: list[dict[str, Any]]) -> tuple[Attachment, ...]:
        found = []
        for reference in references:
            run = session.get(ReportRun, reference.get("report_run_id"))
            if run is None:
                raise _Failure(
                    f"The report to attach (run {reference.get('report_run_id')}) was deleted", permanent=True
                )
            stored = session.get(ReportFile, run.id)
            if stored is None:
                if run.status == "failed":
                    raise _Failure(f"The report to attach (run {run.id}) failed: {run.error}", permanent=True)
                raise _Failure(f"The report to attach (run {run.id}) is not ready yet", permanent=False)
            found.append(Attachment(run.file_name or f"report-{run.id}", run.media_type or "", stored.content))
        return tuple(found)

    def _context(self, channel: NotificationChannel) -> ChannelContext:
        if self._plugin_settings is None:
            with engine_session(self.engine) as session:
                self._plugin_settings = values_by_plugin(session, self.plugins)
        owner = self.plugins.owner_of("kpi_notification_channels", channel.key)
        return ChannelContext(
            settings=self.settings,
            plugin_settings=self._plugin_settings.get(owner, {}),
            data_dir=self.settings.data_dir,
            timeout=channel.timeout,
        )

    def _sent(self, message_id: int, token: str, receipt: str | None) -> str | None:
        now = self.clock()
        values = {"status": "sent", "sent_at": now, "receipt": (receipt or "")[:1000] or None, "updated_at": now}
        return "sent" if self._record(message_id, token, values) else None

    def _failed(self, message_id: int, token: str, reason: str, *, permanent: bool) -> str | None:
        now = self.clock()
        with engine_session(self.engine) as session:
            message = session.get(NotificationMessage, message_id)
            assert message is not None
            attempts, max_attempts = message.attempts, message.max_attempts
        reason = reason[:ERROR_MAX]
        if permanent or attempts >= max_attempts:
            values: dict[str, Any] = {"status": "failed", "failed_at": now, "last_error": reason, "updated_at": now}
            log.warning("message %s failed for good after %s attempts: %s", message_id, attempts, reason)
            return "failed" if self._record(message_id, token, values) else None
        delay = backoff(max_attempts - 1, self.retry_base_seconds)[attempts - 1]
        values = {
            "status": "queued",
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": reason,
            "claimed_by": None,
            "claimed_at": None,
            "claim_token": None,
            "updated_at": now,
        }
        log.info("message %s: attempt %s failed (%s); retrying in %s s", message_id, attempts, reason, delay)
        return "retrying" if self._record(message_id, token, values) else None

    def _record(self, message_id: int, token: str, values: dict[str, Any]) -> bool:
        with engine_session(self.engine, write=True) as session:
            done = session.execute(
                update(NotificationMessage)
                .where(
                    NotificationMessage.id == message_id,
                    NotificationMessage.status == "sending",
                    NotificationMessage.claim_token == token,
                )
                .values(**values)
            )
        if done.rowcount != 1:
            log.warning("message %s: its claim was taken back while it was sent; outcome not recorded", message_id)
        return done.rowcount == 1

    def recover(self) -> list[int]:
        """Messages left ``sending`` by a worker that is gone: sent again where the channel deduplicates."""
        now = self.clock()
        with engine_session(self.engine) as session:
            stuck = session.execute(
                select(
                    NotificationMessage.id,
                    NotificationMessage.channel,
                    NotificationMessage.claimed_by,
                    NotificationMessage.claimed_at,
                    NotificationMessage.claim_token,
                    NotificationMessage.attempts,
                    NotificationMessage.max_attempts,
                ).where(NotificationMessage.status == "sending")
            ).all()
        recovered = []
        for row in stuck:
            channel = self.channel(row.channel)
            lease = timedelta(seconds=channel.timeout if channel else 60) + LEASE_GRACE
            expired = row.claimed_at is None or row.claimed_at < now - lease
            if not expired and not _process_gone(row.claimed_by):
                continue
            if self._recover_one(row, channel, now):
                recovered.append(row.id)
        return recovered

    def _recover_one(self, row: Any, channel: NotificationChannel | None, now: datetime) -> bool:
        stopped = f"The worker sending it ({row.claimed_by}) stopped before it recorded the outcome"
        if channel is not None and channel.deduplicates and row.attempts < row.max_attempts:
            values: dict[str, Any] = {
                "status": "queued",
                "next_attempt_at": now,
                "last_error": f"{stopped}; sent again with the same delivery id, which the receiver can recognise",
                "claimed_by": None,
                "claimed_at": None,
                "claim_token": None,
                "updated_at": now,
            }
        else:
            why = (
                "its attempts are spent"
                if channel is not None and channel.deduplicates
                else f"the {row.channel} channel cannot tell a repeat from a new message"
            )
            values = {
                "status": "failed",
                "failed_at": now,
                "last_error": f"{stopped}, so it may or may not have arrived. It is not sent again by itself, "
                f"because {why}: check with the recipient, and send it again from the admin page if it did not "
                "arrive.",
                "updated_at": now,
            }
        ok = self._record(row.id, row.claim_token, values)
        if ok:
            log.warning("message %s: %s (%s)", row.id, stopped, values["status"])
        return ok


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def deliver_notifications(context: JobContext, message_ids: list[int] | None = None) -> dict[str, Any]:
    """The ``notify.deliver`` job: send every due message of the outbox (or only ``message_ids``)."""
    from kpi_core.reports.job import job_plugins

    context.progress(0, "sending queued messages")
    report = Deliverer(context.engine, context.settings, job_plugins(context)).run(message_ids)
    context.progress(100, "done")
    return report.as_result()
