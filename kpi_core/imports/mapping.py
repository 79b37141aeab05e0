"""A column mapping compiled into a row transformer: any file's rows as the rows of a jobs import.

The transformer runs before the jobs importer's own cell parsing and
validation, so a mapped import is the same all-or-nothing import
(idempotent by ``external_ref``, data versions bumped) with the rows of
another file. It reads each job field as its :class:`FieldRule` says, reads
times in the mapping's formats and zone, and leaves every other check to the
importer. Errors name the source file's rows and columns: a cell the mapping
cannot read is reported against its own column, and the importer's messages
name each field as the file does (``names``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi_core.declarations import MAX_MAPPED_MINUTES, FieldRule, ImportMapping
from kpi_core.errors import Invalid
from kpi_core.imports import formats
from kpi_core.imports.columns import JOB_IMPORT
from kpi_core.imports.jobs import JOB_COLUMNS, TIMESTAMPS
from kpi_core.imports.readers import FileRejected, RawRow
from kpi_core.imports.sources import SourceTable

LABELS = {
    "external_ref": "Job reference",
    "technician_ref": "Technician",
    "technicians": "Crew (several technicians)",
    "customer_ref": "Customer reference",
    "customer_name": "Customer name",
    "category": "Kind of work",
    "status": "Status",
    "scheduled_start": "Booked start",
    "scheduled_end": "Booked end",
    "arrived_at": "Arrived",
    "started_at": "Work started",
    "completed_at": "Work finished",
    "estimated_minutes": "Estimated minutes",
    "revenue": "Revenue",
    "callback_of": "Return visit for job",
}
"""Each job field in words, as the mapping page and mapped imports' messages name it."""
ONE_OF = ("technician_ref", "technicians")
"""Fields of which every job needs one: its technician, or its crew (whose lead is the technician)."""
_CACHED = 4096
"""Distinct texts of a date or time column remembered while reading (a day's date repeats on many rows)."""


def field_label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").replace(".", " ").capitalize()


def column_key(name: str) -> str:
    """How column names are compared: ignoring case, surrounding spaces and repeated spaces."""
    return " ".join(str(name).split()).casefold()


class MissingColumns(FileRejected):
    """The file lacks columns the mapping reads: every one of them is named, with the fields that read it."""

    def __init__(self, missing: Mapping[str, list[str]], columns: Sequence[str]) -> None:
        self.columns = list(missing)
        listed = "; ".join(
            f"“{column}” (for {', '.join(field_label(name) for name in names)})" for column, names in missing.items()
        )
        noun = "column" if len(missing) == 1 else "columns"
        shown = ", ".join(f"“{name}”" for name in columns[:40])
        super().__init__(f"the file has no {noun} {listed}, which the mapping reads. Its columns are: {shown}")


class _Unreadable(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass
class CompiledMapping:
    """A mapping bound to one file's columns: ``rows(table)`` yields the rows the importer reads."""

    names: dict[str, str]
    """Each job field in the file's terms: its column, or how it is derived (for the importer's errors)."""
    direct: list[tuple[str, Callable[[Sequence[Any]], Any]]]
    derived: list[tuple[str, str, Callable[[Sequence[Any], Any], Any]]]
    reads: dict[str, list[str]]
    """Source column -> the fields read from it."""

    def rows(self, table: SourceTable) -> Iterator[RawRow]:
        direct, derived, reads = self.direct, self.derived, self.reads
        unreadable = table.cell_problems
        for number, cells, error in table.rows:
            if error is not None:
                yield RawRow(number, {}, error)
                continue
            values: dict[str, Any] = {}
            problems: list[tuple[str, str, str]] = []
            if unreadable and number in unreadable:
                for column, message in unreadable.pop(number):
                    problems.extend((name, column, message) for name in reads.get(column, ()))
            for name, get in direct:
                try:
                    values[name] = get(cells)
                except _Unreadable as exc:
                    values[name] = None
                    problems.append((name, exc.column, exc.message))
            for name, base, get in derived:
                try:
                    values[name] = get(cells, values[base])
                except _Unreadable as exc:
                    values[name] = None
                    problems.append((name, exc.column, exc.message))
            if problems:
                for name, _column, _message in problems:
                    values[name] = None  # a field whose cell cannot be read is left empty, and said why once
                unique = tuple(dict.fromkeys((column, message) for _name, column, message in problems))
                unread = frozenset(name for name, _column, _message in problems)
                yield RawRow(number, values, problems=unique, unread=unread)
            else:
                yield RawRow(number, values)


def required_fields() -> tuple[str, ...]:
    return tuple(column.name for column in JOB_IMPORT if column.required)


def compile_mapping(
    mapping: ImportMapping,
    columns: Sequence[str],
    zone: ZoneInfo,
    *,
    fields: Sequence[str] = JOB_COLUMNS,
    required: Sequence[str] | None = None,
) -> CompiledMapping:
    """Check ``mapping`` against the import's ``fields`` and the file's ``columns`` and compile it.

    A rule the fields cannot take is :class:`~kpi_core.errors.Invalid` naming
    ``mapping.fields.<field>``; columns the file lacks are one
    :class:`MissingColumns` naming them all.
    """
    _check_fields(mapping, fields, required_fields() if required is None else required)
    index = _column_index(mapping, columns)
    times = _Times(mapping, zone)
    compiled = CompiledMapping(names={}, direct=[], derived=[], reads={})
    for name, rule in mapping.fields.items():
        for column in rule.columns():
            compiled.reads.setdefault(columns[index[column_key(column)]], []).append(name)
        source = _source_name(name, rule, mapping, columns, index)
        compiled.names[name] = source
        if rule.kind == "minus_minutes":
            position = index[column_key(rule.column or "")]
            compiled.derived.append((name, rule.base or "", _minus(columns[position], position)))
        else:
            compiled.direct.append((name, _getter(name, rule, columns, index, times)))
    for name in fields:
        compiled.names.setdefault(name, f"{field_label(name)} (no column chosen)")
    return compiled


def check_mapping(mapping: ImportMapping, fields: Sequence[str] = JOB_COLUMNS) -> None:
    """Invalid, naming ``mapping.fields.<field>``, if the jobs import cannot take ``mapping`` from any file."""
    _check_fields(mapping, fields, required_fields())


def _check_fields(mapping: ImportMapping, fields: Sequence[str], required: Sequence[str]) -> None:
    known = set(fields)
    for name, rule in mapping.fields.items():
        path = f"mapping.fields.{name}"
        if name not in known:
            raise Invalid(path, f"is not a field of a jobs import; the fields are {', '.join(fields)}")
        timed = name in TIMESTAMPS
        if rule.kind in ("date_time", "minus_minutes") and not timed:
            raise Invalid(path, f"{field_label(name)} is not a time: a {rule.kind} rule fills only times")
        if rule.kind == "value_map" and timed:
            raise Invalid(path, f"{field_label(name)} is a time: read it from a column or a date and a time")
        if rule.kind == "minus_minutes" and rule.base not in TIMESTAMPS:
            raise Invalid(path, f"base {rule.base!r} must be a time of the job, such as completed_at")
    for name in required:
        if name not in mapping.fields:
            raise Invalid(f"mapping.fields.{name}", f"choose where {field_label(name)} comes from: every job needs it")
    if set(ONE_OF) <= known and not set(ONE_OF) & mapping.fields.keys():
        name = ONE_OF[0]  # the crew is offered beside it, for the jobs several technicians do
        raise Invalid(f"mapping.fields.{name}", f"choose where {field_label(name)} comes from: every job needs it")


def _column_index(mapping: ImportMapping, columns: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    twice: set[str] = set()
    for position, column in enumerate(columns):
        key = column_key(column)
        if key in index:
            twice.add(key)
        index.setdefault(key, position)
    missing: dict[str, list[str]] = {}
    for name, rule in mapping.fields.items():
        for column in rule.columns():
            key = column_key(column)
            if key not in index:
                missing.setdefault(column, []).append(name)
            elif key in twice:
                raise FileRejected(f"the file has two columns named “{column}”: rename one, so the mapping can tell")
    if missing:
        raise MissingColumns(missing, columns)
    return index


def _source_name(
    name: str, rule: FieldRule, mapping: ImportMapping, columns: Sequence[str], index: Mapping[str, int]
) -> str:
    def shown(column: str | None) -> str:
        return columns[index[column_key(column or "")]]

    if rule.kind == "fixed":
        return f"{field_label(name)} (fixed value)"
    if rule.kind == "date_time":
        return f"{shown(rule.column)} + {shown(rule.time_column)}"
    if rule.kind == "minus_minutes":
        base = mapping.fields[rule.base or ""]
        return f"{_source_name(rule.base or '', base, mapping, columns, index)} minus {shown(rule.column)}"
    return shown(rule.column)


def _getter(
    name: str, rule: FieldRule, columns: Sequence[str], index: Mapping[str, int], times: _Times
) -> Callable[[Sequence[Any]], Any]:
    if rule.kind == "fixed":
        value: Any = rule.value
        if name in TIMESTAMPS:
            try:
                value = times.moment(rule.value or "", "")
            except _Unreadable as exc:
                raise Invalid(f"mapping.fields.{name}.value", exc.message) from None
        return lambda cells: value
    position = index[column_key(rule.column or "")]
    column = columns[position]
    if rule.kind == "date_time":
        time_position = index[column_key(rule.time_column or "")]
        return lambda cells: times.joined(cells[position], column, cells[time_position], columns[time_position])
    if name in TIMESTAMPS:
        return lambda cells: times.moment(cells[position], column)
    if rule.kind == "value_map":
        table = {column_key(source): target for source, target in rule.values.items()}
        return lambda cells: _translated(cells[position], table)
    return lambda cells: cells[position]


def _translated(value: Any, table: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    return table.get(" ".join(value.split()).casefold(), value)


def _minus(column: str, position: int) -> Callable[[Sequence[Any], Any], Any]:
    def minus(cells: Sequence[Any], base: Any) -> Any:
        minutes = _minutes(cells[position], column)
        if base is None or minutes is None:
            return None
        try:
            return base - timedelta(minutes=minutes)
        except OverflowError:
            raise _Unreadable(column, "reaches back before the year 1") from None

    return minus


_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


def _minutes(value: Any, column: str) -> float | None:
    if isinstance(value, timedelta):  # a spreadsheet duration cell
        minutes = value.total_seconds() / 60
    elif value == "" or value is None:
        return None
    elif isinstance(value, str) and _NUMBER.match(value):
        minutes = float(value.replace(",", "."))
    else:
        raise _Unreadable(column, f"{str(value)[:40]!r} is not a number of minutes, like 95")
    if not 0 <= minutes <= MAX_MAPPED_MINUTES:
        raise _Unreadable(column, f"must be between 0 and {MAX_MAPPED_MINUTES:,} minutes")
    return minutes


class _Times:
    """Reads the mapping's dates and times: its formats, its zone, and spreadsheets' own date cells."""

    def __init__(self, mapping: ImportMapping, zone: ZoneInfo) -> None:
        self.zone = ZoneInfo(mapping.timezone) if mapping.timezone else zone
        # Dates and booked times repeat from row to row and are remembered; full times rarely do.
        full = mapping.datetime_format
        self.read_datetime = formats.reader(full) if full else formats.iso_datetime
        self.read_date = _cached(formats.reader(mapping.date_format) if mapping.date_format else formats.iso_date)
        self.read_time = _cached(formats.reader(mapping.time_format) if mapping.time_format else formats.iso_time)
        self.like = {
            kind: formats.example(getattr(mapping, f"{kind}_format"), kind) for kind in ("datetime", "date", "time")
        }

    def moment(self, value: Any, column: str) -> datetime | None:
        if isinstance(value, str):
            if not value:
                return None
            try:
                moment = self.read_datetime(value)
            except (ValueError, OverflowError):
                message = f"{value[:40]!r} is not a date and time like {self.like['datetime']}"
                raise _Unreadable(column, message) from None
        elif isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, time())
        else:
            raise _Unreadable(column, f"{str(value)[:40]!r} is not a date and time like {self.like['datetime']}")
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.zone)

    def joined(self, day: Any, day_column: str, clock: Any, clock_column: str) -> datetime | None:
        if day == "":
            return None
        if isinstance(day, datetime | date):
            on = day.date() if isinstance(day, datetime) else day
        else:
            try:
                on = self.read_date(str(day)).date()
            except (ValueError, OverflowError):
                raise _Unreadable(day_column, f"{str(day)[:40]!r} is not a date like {self.like['date']}") from None
        if clock == "":
            raise _Unreadable(clock_column, f"is empty, but “{day_column}” has a date: enter the time too")
        if isinstance(clock, time):
            at = clock
        elif isinstance(clock, datetime):
            at = clock.time()
        elif isinstance(clock, timedelta) and clock < timedelta(days=1):
            at = (datetime.min + clock).time()
        else:
            try:
                at = self.read_time(str(clock)).time()
            except (ValueError, OverflowError):
                message = f"{str(clock)[:40]!r} is not a time of day like {self.like['time']}"
                raise _Unreadable(clock_column, message) from None
        return datetime.combine(on, at, tzinfo=self.zone)


def _cached(read: Callable[[str], datetime]) -> Callable[[str], datetime]:
    """``read`` remembering recent answers: the same date or booked time repeats on many rows."""
    seen: dict[str, datetime] = {}

    def cached(text: str) -> datetime:
        found = seen.get(text)
        if found is None:
            found = read(text)
            if len(seen) >= _CACHED:
                seen.clear()
            seen[text] = found
        return found

    return cached
