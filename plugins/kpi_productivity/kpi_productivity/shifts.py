"""Importing shifts into ``productivity_shifts``: all or nothing, idempotent by (technician, start).

Rows name the technician by external reference and give ``starts_at`` and
``ends_at`` as ISO 8601 timestamps; one without a zone is read in the
company's time zone. A row whose (technician, starts_at) is already stored
replaces that shift. Every row is checked before anything is written; a
technician's shifts may not overlap (each completed job must belong to at
most one shift) and a shift lasts more than 0 and at most 24 hours.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, insert, select, tuple_
from sqlalchemy.engine import Connection, Engine

from kpi_core.storage.limits import year_problem
from kpi_productivity.tables import shifts, technicians

MAX_SHIFT = timedelta(hours=24)
COLUMNS = ("technician", "starts_at", "ends_at")


class ShiftImportError(ValueError):
    """The rows cannot be imported; the message lists every problem by row number (1 = first row)."""


@dataclass(frozen=True)
class Shift:
    technician_id: int
    starts_at: datetime
    ends_at: datetime


def _timestamp(value: Any, zone: ZoneInfo) -> datetime:
    parsed = datetime.fromisoformat(str(value).strip())
    # The host's supported years: beyond them storing in UTC could overflow (year 1 or 9999).
    problem = year_problem(parsed)
    if problem:
        raise ValueError(f"{value!r}: {problem}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def parse_rows(rows: Iterable[Mapping[str, Any]], technician_ids: Mapping[str, int], zone: ZoneInfo) -> list[Shift]:
    """Shifts from rows; ShiftImportError lists every row at fault."""
    found, problems = [], []
    for number, row in enumerate(rows, start=1):
        missing = [name for name in COLUMNS if not str(row.get(name) or "").strip()]
        if missing:
            problems.append(f"row {number}: missing {', '.join(missing)}")
            continue
        ref = str(row["technician"]).strip()
        if ref not in technician_ids:
            problems.append(f"row {number}: no technician with reference {ref!r}")
            continue
        try:
            starts_at, ends_at = _timestamp(row["starts_at"], zone), _timestamp(row["ends_at"], zone)
        except ValueError as exc:
            problems.append(f"row {number}: {exc}")
            continue
        if not timedelta(0) < ends_at - starts_at <= MAX_SHIFT:
            problems.append(f"row {number}: ends_at must be after starts_at and at most 24 hours later")
            continue
        found.append(Shift(technician_ids[ref], starts_at, ends_at))
    if problems:
        raise ShiftImportError("; ".join(problems))
    return found


def _overlaps(batch: list[Shift], stored: list[Shift]) -> list[str]:
    """Overlaps within the batch and with stored shifts that the batch does not replace."""
    problems = []
    by_technician: dict[int, list[tuple[Shift, str]]] = {}
    replaced = {(shift.technician_id, shift.starts_at) for shift in batch}
    for number, shift in enumerate(batch, start=1):
        by_technician.setdefault(shift.technician_id, []).append((shift, f"row {number}"))
    for shift in stored:
        if (shift.technician_id, shift.starts_at) not in replaced:
            by_technician.setdefault(shift.technician_id, []).append((shift, "a stored shift"))
    for listed in by_technician.values():
        listed.sort(key=lambda item: item[0].starts_at)
        for (before, name), (after, other) in pairwise(listed):
            if after.starts_at < before.ends_at:
                problems.append(f"{other} overlaps {name} of the same technician")
    return problems


def import_shifts(
    connection: Connection,
    rows: Iterable[Mapping[str, Any]],
    zone: ZoneInfo,
    *,
    changed: Callable[[Iterable[datetime]], None] | None = None,
) -> int:
    """Validate ``rows`` and write them in the caller's transaction; returns the number of shifts written.

    ``changed`` is called with the start and end of every shift written or replaced (the months whose
    utilisation may change) before returning.
    """
    ids = {ref: id_ for ref, id_ in connection.execute(select(technicians.c.external_ref, technicians.c.id))}
    batch = parse_rows(rows, ids, zone)
    if not batch:
        return 0
    low = min(shift.starts_at for shift in batch) - MAX_SHIFT
    high = max(shift.ends_at for shift in batch) + MAX_SHIFT
    stored = [
        Shift(*row)
        for row in connection.execute(
            select(shifts.c.technician_id, shifts.c.starts_at, shifts.c.ends_at).where(
                shifts.c.technician_id.in_({shift.technician_id for shift in batch}),
                and_(shifts.c.starts_at < high, shifts.c.ends_at > low),
            )
        )
    ]
    problems = _overlaps(batch, stored)
    if problems:
        raise ShiftImportError("; ".join(problems))
    keys = [(shift.technician_id, shift.starts_at) for shift in batch]
    if changed is not None:
        written_keys = set(keys)
        replaced = [shift for shift in stored if (shift.technician_id, shift.starts_at) in written_keys]
        changed([moment for shift in [*batch, *replaced] for moment in (shift.starts_at, shift.ends_at)])
    connection.execute(delete(shifts).where(tuple_(shifts.c.technician_id, shifts.c.starts_at).in_(keys)))
    connection.execute(
        insert(shifts),
        [{"technician_id": s.technician_id, "starts_at": s.starts_at, "ends_at": s.ends_at} for s in batch],
    )
    return len(batch)


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with the header technician,starts_at,ends_at (UTF-8, BOM allowed)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def import_shifts_job(context: Any, rows: list[dict[str, Any]] | None = None, path: str | None = None) -> dict:
    """The ``productivity.import_shifts`` job: ``rows`` (a list of objects) or ``path`` (a CSV file on the worker)."""
    if (rows is None) == (path is None):
        raise ShiftImportError("give either rows or path")
    found = rows if rows is not None else read_csv(Path(path))  # type: ignore[arg-type]
    engine: Engine = context.engine
    with engine.begin() as connection:
        # Utilisation reads the shifts: cached KPI results of their months must be computed again.
        changed = functools.partial(context.facts_changed, connection)
        written = import_shifts(connection, found, ZoneInfo(context.settings.timezone), changed=changed)
    context.progress(100, f"{written} shifts imported")
    return {"imported": written}
