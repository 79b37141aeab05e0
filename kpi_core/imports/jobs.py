"""Importing jobs: validate every row, then write all of them or none.

Idempotent by ``external_ref``: an unchanged row changes nothing, a changed
row updates its job. Rows are processed in batches with bulk statements so a
100,000-row file streams through in flat memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record
from kpi_core.declarations import JobField
from kpi_core.imports import cells, lookups
from kpi_core.imports.job_fields import CellReader, FieldWriter, cell_reader
from kpi_core.imports.locking import wait_for_other_imports
from kpi_core.imports.readers import RawRow
from kpi_core.imports.report import ImportReport
from kpi_core.records import changes
from kpi_core.records.job_rules import job_rule_violations
from kpi_core.storage import versions
from kpi_core.storage.models import JOB_STATUSES, Customer, Job, Technician
from kpi_core.storage.types import utcnow

JOB_COLUMNS = (
    "external_ref", "technician_ref", "customer_ref", "customer_name", "category", "status",
    "scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at",
    "estimated_minutes", "revenue", "callback_of",
)  # fmt: skip
TIMESTAMPS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
COMPARED = ("technician_id", "customer_id", "category", "status", *TIMESTAMPS, "estimated_minutes", "revenue")
BATCH_SIZE = 1000
JOBS = Job.__table__
CUSTOMERS = Customer.__table__
UPDATE_JOB = JOBS.update().where(JOBS.c.id == bindparam("b_id"))  # SET: the keys of each row given
UPDATE_CUSTOMER = CUSTOMERS.update().where(CUSTOMERS.c.id == bindparam("b_id"))


CREATE_HINT = "choose “Create technicians that are not on file yet” to add them"
"""What an admin's import says of an unknown technician: the import page's checkbox (the API's
``create_technicians``), in the page's words."""

Converters = tuple[tuple[str, bool, Callable[[Any], Any]], ...]
FieldReaders = tuple[tuple[str, bool, CellReader], ...]
"""(key, required, reader) per plugin job field: its column is named by its key."""


def _converters(zone: ZoneInfo) -> Converters:
    """(column, required, converter) per column, built once per import: rows are parsed in a tight loop."""

    def timestamp(value: Any) -> Any:
        return cells.timestamp(value, zone)

    return (
        ("external_ref", True, lambda v: cells.text(v, 64)),
        ("technician_ref", True, lambda v: cells.text(v, 64)),
        ("customer_ref", False, lambda v: cells.text(v, 64)),
        ("customer_name", False, lambda v: cells.text(v, 200)),
        ("category", True, lambda v: cells.text(v, 64).lower()),
        ("status", True, lambda v: cells.choice(v, JOB_STATUSES)),
        *((column, False, timestamp) for column in TIMESTAMPS),
        ("estimated_minutes", False, lambda v: cells.integer(v, 0, 100_000)),
        ("revenue", False, cells.money),
        ("callback_of", False, lambda v: cells.text(v, 64)),
    )


def _parse(raw: RawRow, converters: Converters, report: ImportReport, readers: FieldReaders = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors_before = report.error_count
    for column, message in raw.problems:  # cells a column mapping could not read
        report.error(raw.number, column, message, in_source_terms=True)
    given = raw.values
    for column, required, convert in converters:
        cell = given.get(column)
        if cells.blank(cell):
            if required and column not in raw.unread:
                report.error(raw.number, column, "is required")
            values[column] = None
            continue
        try:
            values[column] = convert(cell)
        except ValueError as exc:
            values[column] = None
            report.error(raw.number, column, str(exc))
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
    ) -> None:
        self.session = session
        self.scope = scope
        self.zone = zone
        self.converters = _converters(zone)
        declared = job_fields or {}
        self.field_readers: FieldReaders = tuple(
            (key, field.required, cell_reader(field)) for key, field in declared.items()
        )
        self.field_writer = FieldWriter(session, declared)
        self.create_technicians = create_technicians
        self.report = ImportReport(kind="jobs", dry_run=dry_run, names=dict(column_names or {}))
        self.technicians = lookups.technicians(session)
        self.customers = lookups.customers(session)
        # Columns in COMPARED order after (external_ref, id): see _changed.
        self.jobs = lookups.jobs(session, *(getattr(Job, name) for name in COMPARED[1:]), Job.callback_of_id)
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
        # only rows_of_ref (a reference and a row number per row) grows with the file.
        wait_for_other_imports(self.session)
        self.jobs.clear()
        self.customers.clear()
        self.technicians.load(values["technician_ref"] for _, values in batch if values["technician_ref"])
        self.customers.load(values["customer_ref"] for _, values in batch if values["customer_ref"])
        self.jobs.load([values["external_ref"] for _, values in batch] + [v["callback_of"] for _, v in batch])
        resolved = [(n, v) for n, v in batch if self._resolve(n, v)]
        if self.report.ok:  # also in a dry run, for exact counts: import_jobs rolls it back
            self._write(resolved)

    def _resolve(self, number: int, values: dict[str, Any]) -> bool:
        ok = self._resolve_technician(number, values)
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

    def _resolve_technician(self, number: int, values: dict[str, Any]) -> bool:
        ref = values["technician_ref"]
        if ref is None:
            return False  # already reported as missing or invalid
        technician = self.technicians.get(ref)
        if technician is not None and not self._in_scope(technician.id, technician.team_id):
            technician = None  # another team's technician reads exactly as one that does not exist
        if technician is None:
            if not self.scope.sees_all:
                hint = "; only admins create them" if self.create_technicians else " among your teams' technicians"
                self.report.error(number, "technician_ref", f"no technician {ref!r}{hint}")
                return False
            if not self.create_technicians:
                self.report.error(number, "technician_ref", f"no technician {ref!r} on file; {CREATE_HINT}")
                return False
            technician = self._create_technician(ref)
        values["technician_id"] = technician.id
        return True

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
        """Insert, update and link one batch with one bulk statement each (Core: no ORM bookkeeping)."""
        before = {values["external_ref"]: self.jobs.get(values["external_ref"]) for _, values in batch}
        new, changed, same = [], [], set()
        self._write_customers(batch)
        now = utcnow()
        for _, values in batch:
            known = self.customers.get(values["customer_ref"]) if values["customer_ref"] else None
            values["customer_id"] = known.id if known is not None else None
            existing = before[values["external_ref"]]
            row = {name: values[name] for name in COMPARED}
            if existing is None:
                new.append({"external_ref": values["external_ref"], **row, "created_at": now, "updated_at": now})
            elif _changed(existing, row):
                changed.append({"b_id": existing.id, **row, "updated_at": now})
            else:
                same.add(values["external_ref"])
        if new:
            inserted = self.session.execute(JOBS.insert().returning(JOBS.c.external_ref, JOBS.c.id), new)
            for ref, job_id in inserted:
                self.jobs.add(ref, _Row(id=job_id))
        if changed:
            self.session.execute(UPDATE_JOB, changed)
        # Callbacks are linked last: their target may be a row inserted just above.
        links, relinked_only = [], 0
        for _, values in batch:
            ref, target_ref = values["external_ref"], values["callback_of"]
            wanted = self.jobs.get(target_ref).id if target_ref else None
            existing = before[ref]
            if (existing.callback_of_id if existing is not None else None) != wanted:
                links.append({"b_id": self.jobs.get(ref).id, "callback_of_id": wanted, "updated_at": now})
                if ref in same:  # only the link changed: still an update of that job
                    same.discard(ref)
                    relinked_only += 1
        if links:
            self.session.execute(UPDATE_JOB, links)
        inserted = {self.jobs.get(row["external_ref"]).id for row in new}
        fields_changed = self._write_fields(batch, inserted) if self.field_readers else set()
        if fields_changed:
            for ref in [ref for ref in same if self.jobs.get(ref).id in fields_changed]:  # only its fields changed
                same.discard(ref)
                relinked_only += 1
        self._touch(before, same, [*(row["b_id"] for row in changed + links), *inserted, *fields_changed])
        self.report.created += len(new)
        self.report.updated += len(changed) + relinked_only
        self.report.unchanged += len(same)

    def _write_fields(self, batch: list[tuple[int, dict[str, Any]]], inserted: set[int]) -> set[int]:
        """Write the plugins' job fields of the batch (last: a new job's id is known only now); the ids of
        the jobs whose fields changed."""
        given = ((self.jobs.get(values["external_ref"]).id, values["fields"]) for _, values in batch)
        return self.field_writer.write(given, inserted)

    def _touch(self, before: dict[str, Any], same: set[str], written: list[int]) -> None:
        """Bump the data versions of the months the batch changed: old and new instants, and callbacks'
        originals (the ORM's flush listener does not see these Core statements)."""
        old_months: set[str] = set()
        old_originals = []
        for ref, existing in before.items():
            if existing is not None and ref not in same:
                old_months |= versions.months_of(getattr(existing, name, None) for name in versions.JOB_INSTANTS)
                old_originals.append(getattr(existing, "callback_of_id", None))
        versions.bump(self.session, old_months | versions.job_months(self.session, [*written, *old_originals]))

    def _write_customers(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Create unknown customers and rename changed ones, with one statement each per batch."""
        names: dict[str, str] = {}
        for _, values in batch:
            if values["customer_ref"]:
                names[values["customer_ref"]] = values["customer_name"] or names.get(values["customer_ref"], "")
        new = [
            {"external_ref": ref, "name": name or ref} for ref, name in names.items() if self.customers.get(ref) is None
        ]
        renamed = [
            (ref, known.id, name)
            for ref, name in names.items()
            if (known := self.customers.get(ref)) is not None and name and name != known.name
        ]
        now = utcnow()
        if new:
            rows = [{**row, "created_at": now, "updated_at": now} for row in new]
            for ref, customer_id, name in self.session.execute(
                CUSTOMERS.insert().returning(CUSTOMERS.c.external_ref, CUSTOMERS.c.id, CUSTOMERS.c.name), rows
            ):
                self.customers.add(ref, _Row(id=customer_id, name=name))
        if renamed:
            self.session.execute(
                UPDATE_CUSTOMER,
                [{"b_id": customer_id, "name": name, "updated_at": now} for _, customer_id, name in renamed],
            )
            for ref, customer_id, name in renamed:
                self.customers.add(ref, _Row(id=customer_id, name=name))


class _Row:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _changed(existing: Any, row: dict[str, Any]) -> bool:
    """Whether ``row`` differs from the stored job (a lookup row: external_ref, id, then COMPARED)."""
    return tuple(existing[2 : 2 + len(COMPARED)]) != tuple(row[name] for name in COMPARED)


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
) -> ImportReport:
    """Validate and (unless ``dry_run`` or any row is invalid) write the jobs; the caller commits.

    On any error the caller must roll back: rows before the first error may have been written
    to the transaction. A dry run writes inside a savepoint it rolls back, so its counts are exact
    (callbacks to rows earlier in the file, new customers and technicians included).
    ``column_names`` (a mapped import's, see kpi_core/imports/mapping.py) names the fields in the
    errors as the source file does. ``job_fields`` are the plugins' declared job fields, read from
    the columns named by their keys (kpi_core/imports/job_fields.py).
    """
    savepoint = session.begin_nested() if dry_run else None
    job_import = JobImport(
        session, scope, zone, create_technicians=create_technicians, dry_run=dry_run, column_names=column_names,
        job_fields=job_fields,
    )  # fmt: skip
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
