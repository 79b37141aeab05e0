"""Mapped jobs imports end to end: open the file, apply the mapping, and import, preview or describe it.

An import through a mapping is the jobs importer's own import of the
transformed rows (all or nothing, idempotent, data versions bumped); a
preview is that import's dry run on the first rows, with each row as it
would be imported; a description lists the file's columns with sample values
and proposes a mapping.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor
from kpi_core.declarations import FieldRule, ImportMapping, ImportPreset, JobField
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.mapping import ONE_OF, CompiledMapping, column_key, compile_mapping, required_fields
from kpi_core.imports.mapping_io import propose
from kpi_core.imports.readers import RawRow
from kpi_core.imports.report import ImportReport, RowError
from kpi_core.imports.sources import SheetNeeded, SourceTable, open_source

PREVIEW_ROWS = 20
MAX_PREVIEW_ROWS = 100
SAMPLE_ROWS = 20
"""Rows read to propose a mapping (value maps, date formats); the page shows the first three per column."""


def own_columns_mapping(columns: Sequence[str], job_fields: Sequence[str] = ()) -> ImportMapping:
    """The mapping of a file in the import's own columns (a workbook saved from the template), with the
    plugins' ``job_fields`` whose keys name columns of the file."""
    present = {column_key(column) for column in columns}
    needed = (*required_fields(), *(() if present & set(ONE_OF) else ONE_OF[:1]))  # missing columns are named
    names = [name for name in (*JOB_COLUMNS, *job_fields) if name in present or name in needed]
    return ImportMapping(fields={name: FieldRule("column", column=name) for name in names})


def _compiled(
    mapping: ImportMapping | None, table: SourceTable, zone: ZoneInfo, job_fields: Mapping[str, JobField]
) -> CompiledMapping:
    """``mapping`` (None: the import's own columns) compiled for the file; it may fill the plugins' job fields."""
    own = own_columns_mapping(table.columns, list(job_fields))
    return compile_mapping(mapping or own, table.columns, zone, fields=(*JOB_COLUMNS, *job_fields))


def import_mapped_jobs(
    session: Session,
    stream: IO[bytes],
    fmt: str,
    mapping: ImportMapping | None,
    *,
    sheet: str | None = None,
    scope: Scope,
    actor: Actor,
    zone: ZoneInfo,
    create_technicians: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    job_fields: Mapping[str, JobField] | None = None,
) -> ImportReport:
    """Import the jobs of a CSV file or XLSX workbook through ``mapping`` (None: the import's own columns);
    the mapping may fill the plugins' ``job_fields`` too."""
    table = open_source(stream, fmt, sheet=sheet)
    try:
        compiled = _compiled(mapping, table, zone, job_fields or {})
        return import_jobs(
            session, compiled.rows(table), scope=scope, actor=actor, zone=zone, create_technicians=create_technicians,
            dry_run=dry_run, progress=progress, column_names=compiled.names, job_fields=job_fields,
        )  # fmt: skip
    finally:
        table.finish()


@dataclass
class Preview:
    """The first rows of a mapped file as they would be imported, and every error they have."""

    rows: list[dict[str, Any]]
    errors: list[RowError]
    error_count: int
    columns: Mapping[str, str]
    """Each job field in the file's terms (its column, or how it is derived)."""
    sheet: str | None = None


def preview_mapped_jobs(
    session: Session,
    stream: IO[bytes],
    fmt: str,
    mapping: ImportMapping | None,
    *,
    sheet: str | None = None,
    scope: Scope,
    actor: Actor,
    zone: ZoneInfo,
    create_technicians: bool = False,
    limit: int = PREVIEW_ROWS,
    job_fields: Mapping[str, JobField] | None = None,
) -> Preview:
    """The import's dry run on the first ``limit`` rows (nothing is written; the caller rolls back)."""
    table = open_source(stream, fmt, sheet=sheet)
    try:
        compiled = _compiled(mapping, table, zone, job_fields or {})
        read: list[RawRow] = []
        rows = _kept(itertools.islice(compiled.rows(table), limit), read)
        report = import_jobs(
            session, rows, scope=scope, actor=actor, zone=zone, create_technicians=create_technicians,
            dry_run=True, column_names=compiled.names, job_fields=job_fields,
        )  # fmt: skip
    finally:
        table.finish()
    filled = {name for name, _ in compiled.direct} | {name for name, _, _ in compiled.derived}
    names = [*JOB_COLUMNS, *(key for key in job_fields or {} if key in filled)]  # the job fields it fills
    shown = [{"row": raw.number, "values": {name: shown_value(raw.values.get(name)) for name in names}}
             for raw in read if raw.error is None]  # fmt: skip
    return Preview(shown, report.errors, report.error_count, compiled.names, table.sheet)


def _kept(rows: Iterator[RawRow], kept: list[RawRow]) -> Iterator[RawRow]:
    for raw in rows:
        kept.append(raw)
        yield raw


@dataclass
class Description:
    """A file's columns with sample values, the mapping proposed for it, and the presets it fits."""

    columns: list[dict[str, Any]]
    proposal: dict[str, Any]
    presets: list[dict[str, Any]] = field(default_factory=list)
    sheets: tuple[str, ...] = ()
    sheet: str | None = None


def describe_file(
    stream: IO[bytes],
    fmt: str,
    presets: Mapping[str, ImportPreset],
    *,
    sheet: str | None = None,
    job_fields: Mapping[str, JobField] | None = None,
) -> Description:
    try:
        table = open_source(stream, fmt, sheet=sheet)
    except SheetNeeded as needed:
        return Description(columns=[], proposal={}, sheets=needed.sheets)
    try:
        samples = table.samples(SAMPLE_ROWS)
    finally:
        table.finish()
    columns = [
        {"name": name, "samples": [shown_value(row[i]) for row in samples if row[i] != ""][:3]}
        for i, name in enumerate(table.columns)
    ]
    present = {column_key(column) for column in table.columns}
    fitting = [
        {"key": key, "missing": [column for column in preset.mapping.columns() if column_key(column) not in present]}
        for key, preset in sorted(presets.items())
    ]
    declared = job_fields or {}
    labels = {key: field.label for key, field in declared.items()}
    proposal = propose(table.columns, samples, (*JOB_COLUMNS, *declared), labels)
    return Description(columns, proposal, fitting, table.sheets, table.sheet)


def shown_value(value: Any) -> Any:
    """A value as JSON shows it: times in ISO 8601 (a job's in UTC), durations in minutes."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds() / 60:g}"
    return value if value is None or isinstance(value, str) else str(value)
