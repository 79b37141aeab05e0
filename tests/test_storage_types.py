"""UTCDateTime: instants are stored in UTC and come back aware, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from kpi_core.storage.models import AuditEntry, TokenRevocation

PLUS_TWO = timezone(timedelta(hours=2))


def add_entry(database, at: datetime | None, action: str = "test") -> int:
    with database.session() as session:
        entry = AuditEntry(at=at, action=action, entity="test", hash="0" * 64)
        session.add(entry)
        session.flush()
        return entry.id


def read_at(database, entry_id: int) -> datetime | None:
    with database.sessions() as session:
        return session.scalar(select(AuditEntry.at).where(AuditEntry.id == entry_id))


def test_an_aware_datetime_comes_back_as_the_same_instant_in_utc(database):
    given = datetime(2026, 3, 2, 11, 30, 15, 250000, tzinfo=PLUS_TWO)

    stored = read_at(database, add_entry(database, given))

    assert stored == given
    assert stored.utcoffset() == timedelta(0)
    assert stored.replace(tzinfo=None) == datetime(2026, 3, 2, 9, 30, 15, 250000)


def test_a_utc_datetime_round_trips_unchanged(database):
    given = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)

    assert read_at(database, add_entry(database, given)) == given


def test_instants_given_in_different_zones_compare_equal_in_the_database(database):
    entry_id = add_entry(database, datetime(2026, 3, 2, 11, 30, tzinfo=PLUS_TWO))

    with database.sessions() as session:
        found = session.scalars(select(AuditEntry.id).where(AuditEntry.at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
        assert list(found) == [entry_id]


def test_instants_given_in_different_zones_sort_by_instant(database):
    # 10:00 at +02:00 is 08:00 UTC, earlier than 09:00 UTC although its wall time is later.
    later = add_entry(database, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), action="later")
    earlier = add_entry(database, datetime(2026, 3, 2, 10, 0, tzinfo=PLUS_TWO), action="earlier")

    with database.sessions() as session:
        assert list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.at))) == [earlier, later]


def test_an_aggregate_of_a_utc_column_comes_back_aware(database):
    add_entry(database, datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    add_entry(database, datetime(2026, 3, 2, 11, 0, tzinfo=PLUS_TWO))

    with database.sessions() as session:
        latest = session.scalar(select(func.max(AuditEntry.at)))

    assert latest == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert latest.utcoffset() == timedelta(0)


def test_a_missing_timestamp_stays_null(database):
    with database.session() as session:
        session.add(TokenRevocation(jti="abc", reason="logout", expires_at=None))

    with database.sessions() as session:
        assert session.scalar(select(TokenRevocation.expires_at)) is None


def test_naive_datetime_is_refused(database):
    with database.sessions() as session:
        session.add(AuditEntry(at=datetime(2026, 3, 2, 9, 30), action="test", entity="test", hash="0" * 64))
        with pytest.raises(StatementError, match="naive datetime") as raised:
            session.flush()

    assert isinstance(raised.value.orig, ValueError)


def test_naive_datetime_is_refused_in_a_query_too(database):
    with database.sessions() as session, pytest.raises(StatementError, match="naive datetime"):
        session.scalars(select(AuditEntry).where(AuditEntry.at < datetime(2026, 3, 2, 9, 30))).all()
