"""Test helpers around the outbox: queue a message, run delivery (with a clock tests move), read a message."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from kpi_core.config import Settings
from kpi_core.notify.delivery import Deliverer, DeliveryReport
from kpi_core.notify.outbox import MessageDraft, queue_message
from kpi_core.plugins import PluginHost
from kpi_core.storage.db import Database
from kpi_core.storage.models import NotificationMessage
from kpi_core.storage.types import utcnow


class Outbox:
    """The outbox of one test's database, delivered by the test itself (no job runner)."""

    def __init__(self, database: Database, settings: Settings, plugins: PluginHost) -> None:
        self.database = database
        self.settings = settings
        self.plugins = plugins
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        """The delivery clock: the real time, moved on by :meth:`later`."""
        return utcnow() + self.offset

    def configure(self, **changes: Any) -> None:
        """Change settings (``smtp_url=...``) for the deliveries from now on."""
        self.settings = dataclasses.replace(self.settings, **changes)

    def queue(self, draft: MessageDraft, key: str) -> int | None:
        with self.database.session() as session:
            message = queue_message(session, draft, idempotency_key=key)
            session.flush()
            return None if message is None else message.id

    def deliver(self, message_ids: Sequence[int] | None = None, **options: Any) -> DeliveryReport:
        deliverer = Deliverer(self.database.engine, self.settings, self.plugins, clock=lambda: self.now, **options)
        return deliverer.run(message_ids)

    def later(self, seconds: float) -> None:
        """Move the delivery clock on (a retry becomes due)."""
        self.offset += timedelta(seconds=seconds)

    def get(self, message_id: int) -> NotificationMessage:
        with self.database.session(write=False) as session:
            message = session.get(NotificationMessage, message_id)
            assert message is not None
            session.expunge(message)
            return message

    def deliver_until_settled(self, message_id: int, *, rounds: int = 25) -> NotificationMessage:
        """Deliver, moving the clock to each retry, until the message is sent or failed."""
        for _ in range(rounds):
            self.deliver([message_id])
            message = self.get(message_id)
            if message.status in ("sent", "failed"):
                return message
            due: datetime = message.next_attempt_at
            if due > self.now:
                self.offset += due - self.now
        raise AssertionError(f"message {message_id} still {self.get(message_id).status} after {rounds} rounds")
