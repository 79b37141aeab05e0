"""Importing jobs: validate every row, then write all of them or none.

Idempotent by ``external_ref``: an unchanged row changes nothing, a changed
row (its crew included: kpi_core/imports/crews.py) updates its job. Rows are
processed in batches with bulk statements so a 100,000-row file streams
through in flat memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record
from kpi_core.declarations import JobField
from kpi_core.gc_tuning import fewer_collections
from kpi_core.imports import cells, lookups
from kpi_core.imports.crews import Crew, CrewWriter, given_crew, stored_form, with_lead
from kpi_core.imports.job_fields import CellReader, FieldWriter, cell_reader
from kpi_core.imports.locking import wait_for_other_imports
from kpi_core.imports.readers import RawRow
from kpi_core.imports.report import ImportReport
from kpi_core.records import changes
from kpi_core.records.crews import CrewMember
from kpi_core.records.job_rules import job_rule_violations
from kpi_core.storage import versions
from kpi_core.storage.bulk import BulkWriter, CoreWriter, DriverWriter, bulk_cache, python_values
from kpi_core.storage.models import JOB_STATUSES, Customer, Job, Technician
from kpi_core.storage.types import utcnow

JOB_COLUMNS = (
    "external_ref", "technician_ref", "technicians", "customer_ref", "customer_name", "category", "status",
    "scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at",
    "estimated_minutes", "revenue", "callback_of",
)  # fmt: skip
TIMESTAMPS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
COMPARED = ("technician_id", "customer_id", "category", "status", *TIMESTAMPS, "estimated_minutes", "revenue")
_INSTANTS = slice(COMPARED.index(TIMESTAMPS[0]), COMPARED.index(TIMESTAMPS[-1]) + 1)
"""Where TIMESTAMPS are in COMPARED."""
_instants = itemgetter(*TIMESTAMPS)
"""A row's TIMESTAMPS, as a tuple."""
BATCH_SIZE = 1000
KEPT_CUSTOMERS = 20_000
"""At most this many customers stay looked up from batch to batch (on SQLite: see JobImport._process)."""
JOBS = Job.__table__
CUSTOMERS = Customer.__table__
NEW_JOB = ("id", "external_ref", *COMPARED, "callback_of_id", "created_at", "updated_at")
CHANGED_JOB = (*COMPARED, "updated_at")
RELINKED_JOB = ("callback_of_id", "updated_at")
NEW_CUSTOMER = ("id", "external_ref", "name", "created_at", "updated_at")
RENAMED_CUSTOMER = ("name", "updated_at")


CREATE_HINT = "choose “Create technicians that are not on file yet” to add them"
"""What an admin's import says of an unknown technician: the import page's checkbox (the API's
``create_technicians``), in the page's words."""

Converters = tuple[tuple[str, bool, Callable[[Any], Any], dict[str, Any] | None], ...]
FieldReaders = tuple[tuple[str, bool, CellReader], ...]
"""(key, required, reader) per plugin job field: its column is named by its key."""
REMEMBERED = 4096
"""Cell texts remembered with their value, per column whose cells repeat (cleared when full)."""


def _converters(zone: ZoneInfo) -> Converters:
    """(column, required, converter, memory) per column, built once per import: rows are parsed in a tight
    loop (partials: one Python call a cell, not two). A column whose cells repeat (a technician, a status,
    an amount) remembers the value of each text it read in ``memory``."""
    ref = partial(cells.text, max_length=64)
    timestamp = partial(cells.timestamp, zone=zone)
    return (
        ("external_ref", True, ref, None),
        ("technician_ref", False, ref, {}),  # required unless technicians: see crews.py
        ("customer_ref", False, ref, {}),
        ("customer_name", False, partial(cells.text, max_length=200), {}),
        ("category", True, lambda v: cells.text(v, 64).lower(), {}),
        ("status", True, partial(cells.choice, choices=JOB_STATUSES), {}),
        *((column, False, timestamp, None) for column in TIMESTAMPS),
        ("estimated_minutes", False, partial(cells.integer, minimum=0, maximum=100_000), {}),
        ("revenue", False, cells.money, {}),
        ("callback_of", False, ref, None),
    )


def _parse(raw: RawRow, converters: Converters, report: ImportReport, readers: FieldReaders = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors_before = report.error_count
    for column, message in raw.problems:  # cells a column mapping could not read
        report.error(raw.number, column, message, in_source_terms=True)
    given = raw.values
    for column, required, convert, memory in converters:
        cell = given.get(column)
        text = cell.__class__ is str
        if memory is not None and text:  # a blank cell is never remembered
            value = memory.get(cell)
            if value is not None:
                values[column] = value
                continue
        # cells.blank, inline for the common case of text: called for every cell of the file.
        if (not cell or cell.isspace()) if text else cells.blank(cell):
            if required and column not in raw.unread:
                report.error(raw.number, column, "is required")
            values[column] = None
            continue
        try:
            value = values[column] = convert(cell)
        except ValueError as exc:  # never remembered: reported on every row that has it
            values[column] = None
            report.error(raw.number, column, str(exc))
            continue
        if memory is not None and text:
            if len(memory) >= REMEMBERED:
                memory.clear()
            memory[cell] = value
    given_crew(raw, values, report)
    values["fields"] = _job_fields(raw, readers, report) if readers else {}
    if report.error_count == errors_before:
        for column, message in job_rule_violations(values):
            report.error(raw.number, column, message)
    # Returned even when a cell was invalid, so its references are still checked and reported.
    return values


def _job_fields(raw: RawRow, readers: FieldReaders, report: ImportReport) -> dict[str, Any]:
    """The row's plugin job fields whose column the file has ({key: value, None for an empty cell})."""
    fields: dict[str, Any] = {}
    given = raw.values
    for key, required, read in readers:
        if key not in given:
            if required and key not in raw.unread:
                report.error(raw.number, key, "is required")
            continue
        cell = given[key]
        if cells.blank(cell):
            if required and key not in raw.unread:
                report.error(raw.number, key, "is required")
            fields[key] = None
            continue
        try:
            fields[key] = read(cell)
        except ValueError as exc:
            report.error(raw.number, key, str(exc))
    return fields


class JobImport:
    def __init__(
        self,
        session: Session,
        scope: Scope,
        zone: ZoneInfo,
        *,
        create_technicians: bool,
        dry_run: bool,
        column_names: Mapping[str, str] | None = None,
        job_fields: Mapping[str, JobField] | None = None,
        reference: bool = False,
    ) -> None:
        self.session = session
        self.scope = scope
        self.zone = zone
        self.converters = _converters(zone)
        declared = job_fields or {}
        self.field_readers: FieldReaders = tuple(
            (key, field.required, cell_reader(field)) for key, field in declared.items()
        )
        self.reference = reference
        self.writer: BulkWriter = CoreWriter(session) if reference else DriverWriter(session)
        self.field_writer = FieldWriter(session, declared, self.writer)
        self.crew_writer = CrewWriter(session, self.writer)
        self.create_technicians = create_technicians
        self.report = ImportReport(kind="jobs", dry_run=dry_run, names=dict(column_names or {}))
        self.technicians = lookups.technicians(session)
        self.customers = lookups.customers(session)
        self.keeps_customers = session.get_bind().dialect.name == "sqlite"
        # Columns in COMPARED order after (external_ref, id): see _changed.
        compared = [getattr(Job, name) for name in COMPARED]
        # Stored jobs are read as the driver gives them (see _changed).
        self.jobs = lookups.jobs(session, *compared[1:], Job.callback_of_id)
        self.python = python_values(session, compared)
        self.rows_of_ref: dict[str, int] = {}
        self.team_of: dict[int, int | None] = {}

    def run(self, rows: Iterable[RawRow], progress: Callable[[int], None] | None = None) -> ImportReport:
        batch: list[tuple[int, dict[str, Any]]] = []
        for raw in rows:
            self.report.rows += 1
            if raw.error:
                self.report.error(raw.number, None, raw.error)
                continue
            values = _parse(raw, self.converters, self.report, self.field_readers)
            self.report.saw_scheduled(values["scheduled_start"], self.zone)
            if values["external_ref"] and self._unique_in_file(raw.number, values["external_ref"]):
                batch.append((raw.number, values))
            if len(batch) >= BATCH_SIZE:
                self._process(batch)
                batch = []
                if progress:
                    progress(self.report.rows)
        if batch:
            self._process(batch)
        if progress:
            progress(self.report.rows)
        return self.report

    def _unique_in_file(self, number: int, ref: str) -> bool:
        first = self.rows_of_ref.get(ref)
        if first is not None:
            self.report.error(number, "external_ref", f"{ref!r} already appears on row {first}")
            return False
        self.rows_of_ref[ref] = number
        return True

    def _process(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        # Jobs and customers are looked up again per batch (earlier batches are in the transaction):
        # only rows_of_ref (a reference and a row number per row) grows with the file. On SQLite the
        # transaction holds the database's write lock, so no one else changes a customer while it runs:
        # those looked up are kept, up to a bound.
        wait_for_other_imports(self.session)
        self.jobs.clear()
        if not self.keeps_customers or len(self.customers.known) >= KEPT_CUSTOMERS:
            self.customers.clear()
        self.technicians.load(member.technician for _, values in batch for member in values["crew"] or ())
        self.customers.load(values["customer_ref"] for _, values in batch if values["customer_ref"])
        self.jobs.load([values["external_ref"] for _, values in batch] + [v["callback_of"] for _, v in batch])
        resolved = [(n, v) for n, v in batch if self._resolve(n, v)]
        if self.report.ok:  # also in a dry run, for exact counts: import_jobs rolls it back
            self._write(resolved)

    def _resolve(self, number: int, values: dict[str, Any]) -> bool:
        ok = self._resolve_crew(number, values)
        callback = values["callback_of"]
        if callback:
            # Another team's job is answered as if it did not exist (see accounts/scope.py).
            target = self.jobs.get(callback)
            stored = target is not None and self._in_scope(target.technician_id, None)
            if callback == values["external_ref"]:
                self.report.error(number, "callback_of", "a job cannot be a callback of itself")
                ok = False
            elif not stored and (self.rows_of_ref.get(callback) or number) >= number:
                self.report.error(number, "callback_of", f"no job {callback!r} stored or earlier in the file")
                ok = False
        existing = self.jobs.get(values["external_ref"])
        if existing is not None and not self._in_scope(existing.technician_id, None):
            # The one disclosure a unique reference forces: it is taken, never by whom (docs/permissions.md).
            self.report.error(number, "external_ref", changes.IN_USE)
            ok = False
        return ok

    def _resolve_crew(self, number: int, values: dict[str, Any]) -> bool:
        """Each member of the row's crew as a technician id (``crew_ids``, the lead first) and the lead's
        as ``technician_id``; False, with an error per unknown member, if any is not on file."""
        crew = values["crew"]
        if crew is None:
            return False  # already reported as missing or invalid
        if len(crew) == 1 and crew[0].role == "lead" and crew[0].share == 1.0:  # a technician alone, as most are
            technician = self._technician(number, values["crew_column"], crew[0].technician)
            if technician is None:
                return False
            values["technician_id"], values["crew_ids"] = technician.id, ((technician.id, "lead", 1.0),)
            return True
        ids = []
        for member in crew:
            technician = self._technician(number, values["crew_column"], member.technician)
            if technician is None:
                continue
            ids.append(CrewMember(technician.id, member.role, member.share))
        if len(ids) < len(crew):
            return False
        values["technician_id"], values["crew_ids"] = ids[0].technician, stored_form(ids)
        return True

    def _technician(self, number: int, column: str, ref: str) -> Any:
        technician = self.technicians.get(ref)
        if technician is not None and not self.scope.sees_all and not self._in_scope(technician.id, technician.team_id):
            technician = None  # another team's technician reads exactly as one that does not exist
        if technician is None:
            if not self.scope.sees_all:
                hint = "; only admins create them" if self.create_technicians else " among your teams' technicians"
                self.report.error(number, column, f"no technician {ref!r}{hint}")
                return None
            if not self.create_technicians:
                self.report.error(number, column, f"no technician {ref!r} on file; {CREATE_HINT}")
                return None
            technician = self._create_technician(ref)
        return technician

    def _in_scope(self, technician_id: int | None, team_id: int | None) -> bool:
        principal = self.scope.principal
        if self.scope.sees_all or principal is None:
            return True
        if principal.role == "manager":
            if team_id is None and technician_id is not None:
                if technician_id not in self.team_of:
                    team_query = select(Technician.team_id).where(Technician.id == technician_id)
                    self.team_of[technician_id] = self.session.scalar(team_query)
                team_id = self.team_of[technician_id]
            return team_id in principal.managed_team_ids
        return False

    def _create_technician(self, ref: str) -> Any:
        row_id = -len(self.technicians.known) - 1  # placeholder id: nothing is written after an error
        if self.report.ok:
            row_id = self.session.scalar(insert(Technician).values(external_ref=ref, name=ref).returning(Technician.id))
        row = _Row(id=row_id, team_id=None)
        self.technicians.add(ref, row)
        return row

    def _write(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Insert, update and link one batch with one bulk statement each, its values converted once to their
        stored form (kpi_core/storage/bulk.py: no per-value work in SQLAlchemy). Sets each row's ``job_id``."""
        before = {values["external_ref"]: self.jobs.get(values["external_ref"]) for _, values in batch}
        new, changed, same, kept = [], [], set(), []
        ids: dict[str, int] = {}  # the batch's jobs, for callbacks to a row above
        self._write_customers(batch)
        stored, now = self._stored, self.writer.form.instant(utcnow())
        new_ids = iter(self.writer.new_ids(JOBS, sum(found is None for found in before.values())))
        for _, values in batch:
            ref = values["external_ref"]
            known = self.customers.get(values["customer_ref"]) if values["customer_ref"] else None
            values["customer_id"] = known.id if known is not None else None
            existing, row = before[ref], stored(values)
            if existing is None:
                # Linked as it is inserted: a callback's target is stored, or a row above (inserted already).
                job_id = ids[ref] = values["job_id"] = next(new_ids)
                target = self._job_id(values["callback_of"], ids) if values["callback_of"] else None
                new.append((job_id, ref, *row, target, now, now))
                continue
            ids[ref] = values["job_id"] = existing.id
            kept.append(values)
            if self._changed(existing, values, row):
                changed.append((*row, now, existing.id))
            else:
                same.add(ref)
        self.writer.insert(JOBS, NEW_JOB, new)
        self.writer.update(JOBS, CHANGED_JOB, changed)
        # A stored job's callback is linked last: its target may be a row inserted just above.
        links, relinked_only = [], 0
        for values in kept:
            ref, existing = values["external_ref"], before[values["external_ref"]]
            wanted = self._job_id(values["callback_of"], ids) if values["callback_of"] else None
            if existing.callback_of_id != wanted:
                links.append((wanted, now, existing.id))
                if ref in same:  # only the link changed: still an update of that job
                    same.discard(ref)
                    relinked_only += 1
        self.writer.update(JOBS, RELINKED_JOB, links)
        inserted = {row[0] for row in new}
        fields_changed = self._write_fields(batch, inserted) if self.field_readers else set()
        crews_changed = self._write_crews(batch, before)
        for ref in [ref for ref in same if ids[ref] in fields_changed | crews_changed]:
            same.discard(ref)  # only its fields or its crew changed: still an update of that job
            relinked_only += 1
        self._touch(batch, before, same)
        self.report.created += len(new)
        self.report.updated += len(changed) + relinked_only
        self.report.unchanged += len(same)

    def _job_id(self, ref: str, batch_ids: dict[str, int]) -> int:
        """The id of job ``ref``: a row of the batch, or a stored job."""
        found = batch_ids.get(ref)
        return found if found is not None else self.jobs.get(ref).id

    def _changed(self, existing: Any, values: dict[str, Any], row: tuple[Any, ...]) -> bool:
        """Whether a row (its ``values``; ``row``, their stored form) differs from the stored job (a lookup
        row: external_ref, id, then COMPARED as the writer reads them)."""
        found = tuple(existing[2 : 2 + len(COMPARED)])
        if found == row:
            return False
        # Stored in another form than this writer's (a timestamp's text written by another program; the
        # reference writer's Python values): the values as SQLAlchemy returns them decide.
        return self.python(found) != tuple(values[name] for name in COMPARED)

    def _stored(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The row's COMPARED values in the writer's stored form."""
        form = self.writer.form
        return (
            values["technician_id"], values["customer_id"], values["category"], values["status"],
            *map(form.instant, _instants(values)), values["estimated_minutes"], form.money(values["revenue"]),
        )  # fmt: skip

    def _write_fields(self, batch: list[tuple[int, dict[str, Any]]], inserted: set[int]) -> set[int]:
        """Write the plugins' job fields of the batch (last: a new job's id is known only now); the ids of
        the jobs whose fields changed."""
        given = ((values["job_id"], values["fields"]) for _, values in batch)
        return self.field_writer.write(given, inserted)

    def _write_crews(self, batch: list[tuple[int, dict[str, Any]]], before: dict[str, Any]) -> set[int]:
        """Write the crews of the batch's new jobs and the changed crews of its stored ones (last, like the
        fields: a new job's id is known only now); the ids of the stored jobs whose crew changed."""
        existing = {found.id for found in before.values() if found is not None}
        stored = self.crew_writer.stored(existing) if existing else {}
        crews: dict[int, Crew] = {}
        replaced: set[int] = set()
        for _, values in batch:
            job_id = values["job_id"]
            if job_id not in existing:
                crews[job_id] = values["crew_ids"]
                continue
            old = stored.get(job_id, ())
            wanted = values["crew_ids"] if values["crew_given"] else with_lead(old, values["technician_id"])
            if wanted != old:
                crews[job_id] = wanted
                replaced.add(job_id)
        self.crew_writer.write(crews, replaced)
        return replaced

    def _touch(self, batch: list[tuple[int, dict[str, Any]]], before: dict[str, Any], same: set[str]) -> None:
        """Bump the data versions of the months the batch changed: old and new instants, and callbacks'
        originals (the ORM's flush listener does not see these bulk statements)."""
        old_months: set[str] = set()
        old_originals = []
        for ref, existing in before.items():
            if existing is not None and ref not in same:
                old_months |= versions.months_of(self.python(existing[2 : 2 + len(COMPARED)])[_INSTANTS])
                old_originals.append(existing.callback_of_id)
        rows = {values["external_ref"]: values for _, values in batch}
        written = [values for ref, values in rows.items() if ref not in same]
        if self.reference:  # read back: every written job's months and its original's
            new_months = versions.job_months(self.session, [values["job_id"] for values in written])
        else:
            new_months = self._new_months(rows, written)
        versions.bump(self.session, old_months | new_months | versions.job_months(self.session, old_originals))

    def _new_months(self, rows: dict[str, dict[str, Any]], written: list[dict[str, Any]]) -> set[str]:
        """The months of the written jobs and of their originals, without reading them back.

        Every job of the batch now holds its row's values (those that were the same compared equal) and
        its row's callback; an original is a row of the batch, or a stored job the batch did not change
        (as looked up).
        """
        instants = _instants
        # A row's instants are UTC (cells.timestamp): their dates are their UTC days.
        days = {moment.date() for values in written for moment in instants(values) if moment is not None}
        originals = []
        for target in {values["callback_of"] for values in written if values["callback_of"]}:
            if target in rows:
                originals += instants(rows[target])
            else:
                originals += self.python(self.jobs.get(target)[2 : 2 + len(COMPARED)])[_INSTANTS]
        return versions.day_keys(days | versions.instant_days(originals))

    def _write_customers(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Create unknown customers and rename changed ones, with one statement each per batch."""
        names: dict[str, str] = {}
        for _, values in batch:
            if values["customer_ref"]:
                names[values["customer_ref"]] = values["customer_name"] or names.get(values["customer_ref"], "")
        new = [(ref, name or ref) for ref, name in names.items() if self.customers.get(ref) is None]
        renamed = [
            (ref, known.id, name)
            for ref, name in names.items()
            if (known := self.customers.get(ref)) is not None and name and name != known.name
        ]
        now = self.writer.form.instant(utcnow())
        if new:
            ids = self.writer.new_ids(CUSTOMERS, len(new))
            rows = [(customer_id, ref, name, now, now) for customer_id, (ref, name) in zip(ids, new, strict=True)]
            self.writer.insert(CUSTOMERS, NEW_CUSTOMER, rows)
            for customer_id, ref, name, *_ in rows:
                self.customers.add(ref, _Row(id=customer_id, name=name))
        if renamed:
            rows = [(name, now, customer_id) for _, customer_id, name in renamed]
            self.writer.update(CUSTOMERS, RENAMED_CUSTOMER, rows)
            for ref, customer_id, name in renamed:
                self.customers.add(ref, _Row(id=customer_id, name=name))


class _Row:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def import_jobs(
    session: Session,
    rows: Iterable[RawRow],
    *,
    scope: Scope,
    actor: Actor,
    zone: ZoneInfo,
    create_technicians: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    column_names: Mapping[str, str] | None = None,
    job_fields: Mapping[str, JobField] | None = None,
    reference: bool = False,
) -> ImportReport:
    """Validate and (unless ``dry_run`` or any row is invalid) write the jobs; the caller commits.

    On any error the caller must roll back: rows before the first error may have been written
    to the transaction. A dry run writes inside a savepoint it rolls back, so its counts are exact
    (callbacks to rows earlier in the file, new customers and technicians included).
    ``column_names`` (a mapped import's, see kpi_core/imports/mapping.py) names the fields in the
    errors as the source file does. ``job_fields`` are the plugins' declared job fields, read from
    the columns named by their keys (kpi_core/imports/job_fields.py).

    Values are converted once to their stored form and written with the driver's executemany
    (kpi_core/storage/bulk.py). ``reference=True`` imports as before that (SQLAlchemy Core binding each
    value, the changed months read back from the stored jobs): what the fast path is tested against.
    """
    savepoint = session.begin_nested() if dry_run else None
    job_import = JobImport(
        session, scope, zone, create_technicians=create_technicians, dry_run=dry_run, column_names=column_names,
        job_fields=job_fields, reference=reference,
    )  # fmt: skip
    with bulk_cache(session), fewer_collections():
        report = job_import.run(rows, progress)
    if savepoint is not None:
        savepoint.rollback()
    if report.ok and not dry_run and (report.created or report.updated):
        record(
            session, actor, "import", "jobs", None,
            after={"rows": report.rows, "created": report.created, "updated": report.updated,
                   "unchanged": report.unchanged},
        )  # fmt: skip
    return report
