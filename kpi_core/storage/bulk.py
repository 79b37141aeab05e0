"""Bulk reads and writes for importers: rows in stored form, each statement compiled once, the driver's
``executemany``.

SQLAlchemy passes every bound value through its column's type (a UTCDateTime's zone check and conversion,
SQLite's text form of a timestamp, a Decimal made a float): at 17 values a row, that was most of a
100,000-row import's CPU (bench/README.md). :class:`DriverWriter` skips it: the importer converts each value
once with the writer's :class:`StoredForm` to exactly what the dialect's types would have handed the driver,
and a batch of rows goes to the DB-API's ``executemany`` in one call on the session's connection (so in its
transaction: all or nothing). Lookups read rows as the driver gives them (:func:`driver_sql`); a stored row
is compared with a new one in stored form, and :func:`python_values` gives its values as SQLAlchemy would
have returned them where that is needed.

:class:`CoreWriter` writes the same rows through SQLAlchemy Core with Python values and the types'
processing: the reference the driver writer is tested against (tests/test_import_fast_path.py).

Both take ids from :meth:`~DriverWriter.new_ids` rather than from ``RETURNING`` (SQLite's ``executemany``
returns nothing): the next ids of the table on SQLite, whose writer holds the database's write lock, and
the table's sequence on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

Row = Sequence[Any]
BULK_CACHE_KIB = 32 * 1024
"""SQLite's page cache for a bulk write's connection (its default is 2 MB): enough to keep the indexes of
a 100,000-job import in memory until the commit, instead of writing their pages out again and again."""
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
"""SQLite's DATETIME storage format in SQLAlchemy (microseconds always written)."""


def _same(value: Any) -> Any:
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; attach a time zone first")
    return value.astimezone(UTC)


def _sqlite_instant(value: datetime | None) -> str | None:
    # What UTCDateTime (naive UTC) and then SQLite's DATETIME store: the UTC time as text.
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        value = value.astimezone(UTC)
    return _SQLITE_DATETIME % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond
    )  # fmt: skip


def _sqlite_money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)  # SQLite has no decimal type: SQLAlchemy binds a float


def _sqlite_boolean(value: bool | None) -> int | None:
    return None if value is None else int(value)


class StoredForm:
    """Converts a Python value of a column type to what a writer binds (None stays None)."""

    def __init__(
        self,
        instant: Callable[[datetime | None], Any] = _same,
        money: Callable[[Decimal | None], Any] = _same,
        boolean: Callable[[bool | None], Any] = _same,
    ) -> None:
        self.instant = instant
        """A ``UTCDateTime`` value: an aware datetime."""
        self.money = money
        """A ``Numeric`` value: a Decimal."""
        self.boolean = boolean


PYTHON = StoredForm()
"""Python values, as SQLAlchemy takes them."""
STORED_FORMS = {
    "sqlite": StoredForm(_sqlite_instant, _sqlite_money, _sqlite_boolean),
    "postgresql": StoredForm(_utc),  # psycopg adapts aware datetimes, Decimals and bools itself
}


def positional(dialect: Dialect) -> Dialect:
    """``dialect``, or one like it that compiles positional parameters (psycopg takes ``%s`` as well as
    ``%(name)s``), so that rows can be tuples."""
    return dialect if dialect.positional else type(dialect)(paramstyle="format")


def driver_sql(statement: ClauseElement, dialect: Dialect, order: Sequence[str]) -> str:
    """``statement`` compiled for the driver with positional parameters in the order of ``order``."""
    compiled = statement.compile(dialect=positional(dialect))
    # A column with a default or onupdate left out would be added here, for SQLAlchemy to compute per row:
    # the rows must give it.
    if tuple(compiled.positiontup or ()) != tuple(order):
        raise ValueError(f"the statement takes the parameters {compiled.positiontup}, not {tuple(order)}")
    return compiled.string


def python_values(session: Session, columns: Sequence[ColumnElement[Any]]) -> Callable[[Row], tuple[Any, ...]]:
    """Converts the values of ``columns`` as the driver returns them to what their types return (a
    UTCDateTime's aware datetime, a Numeric's Decimal)."""
    dialect = session.get_bind().dialect
    processors = [column.type.result_processor(dialect, None) or _same for column in columns]
    return lambda row: tuple(process(value) for process, value in zip(processors, row, strict=True))


@contextmanager
def bulk_cache(session: Session, kib: int = BULK_CACHE_KIB) -> Iterator[None]:
    """On SQLite, let the session's connection cache up to ``kib`` of pages while a bulk write runs, and
    give it back its own size afterwards (the connection returns to the pool). A bound: memory stays flat."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    # The driver's connection itself: restored even if the bulk write failed the session's transaction.
    driver = connection.connection.dbapi_connection
    assert driver is not None
    before = driver.execute("PRAGMA cache_size").fetchone()[0]
    driver.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with suppress(sqlite3.ProgrammingError):  # closed already, its cache with it
            driver.execute(f"PRAGMA cache_size = {int(before)}")


class BulkWriter(Protocol):
    form: StoredForm

    def new_ids(self, table: Table, count: int) -> Sequence[int]: ...

    def insert(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None: ...

    def update(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None: ...


class _Ids:
    def __init__(self, session: Session) -> None:
        self.session = session

    def new_ids(self, table: Table, count: int) -> Sequence[int]:
        """``count`` ids for new rows of ``table`` (primary key ``id``), in ascending order."""
        if count <= 0:
            return []
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            query = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
            return sorted(row[0] for row in connection.exec_driver_sql(query, (table.name, count)))
        # SQLite gives a new row max(rowid) + 1: the same ids an INSERT without them would have taken.
        last = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        return range(last + 1, last + 1 + count)


class DriverWriter(_Ids):
    """Writes rows in the dialect's stored form through the DB-API's ``executemany``."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.dialect = session.get_bind().dialect
        self.form = STORED_FORMS[self.dialect.name]
        self._statements: dict[tuple[str, str, tuple[str, ...]], str] = {}

    def insert(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        """INSERT ``rows`` (tuples of ``columns``' stored values) into ``table``."""
        if rows:
            self.session.connection().exec_driver_sql(self._sql("insert", table, columns), rows)

    def update(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        """UPDATE ``columns`` of rows of ``table`` by id: each row is the stored values, then the id."""
        if rows:
            self.session.connection().exec_driver_sql(self._sql("update", table, columns), rows)

    def _sql(self, kind: str, table: Table, columns: tuple[str, ...]) -> str:
        key = (kind, table.name, columns)
        sql = self._statements.get(key)
        if sql is None:
            values = {name: bindparam(name) for name in columns}
            if kind == "insert":
                sql = driver_sql(insert(table).values(values), self.dialect, columns)
            else:
                statement = update(table).where(table.c.id == bindparam("b_id")).values(values)
                sql = driver_sql(statement, self.dialect, (*columns, "b_id"))
            self._statements[key] = sql
        return sql


class CoreWriter(_Ids):
    """Writes rows of Python values through SQLAlchemy Core, its types processing each value."""

    form = PYTHON

    def insert(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        if rows:
            self.session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])

    def update(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        if rows:
            statement = update(table).where(table.c.id == bindparam("b_id"))
            names = (*columns, "b_id")
            self.session.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])
