"""The fast jobs importer stores exactly what the importer did before (issue #19, point 3).

The importer converts each value once to its stored form and binds it through the driver's executemany
(kpi_core/storage/bulk.py), and takes the months a batch changed from its rows. ``reference=True``
imports as before: SQLAlchemy Core binding Python values through the types, and the changed months read
back from the stored jobs. Random files (times in several forms around daylight-saving changes and month
ends, statuses, amounts, crews, callbacks, new and stored customers and jobs, a plugin's job fields,
some rows invalid; small batches) are imported both ways over the same stored jobs, each way in its own
transaction rolled back after: the reports, the stored jobs (their values as the driver returns them,
too), crews, customers, technicians, job field values, data versions and audit entries are equal. On
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

import kpi_core.imports.jobs as jobs_import
from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.declarations import JobField
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.readers import RawRow
from kpi_core.storage.models import (
    AuditEntry,
    Customer,
    Job,
    JobAssignment,
    JobFieldValue,
    KpiDataVersion,
    Team,
    Technician,
)

ZONE = ZoneInfo("America/New_York")
FIELDS = {
    "test.ppe_checked": JobField("test.ppe_checked", "PPE checked", "boolean"),
    "test.distance_km": JobField("test.distance_km", "Distance", "number", minimum=0),
}
COLUMNS = (*JOB_COLUMNS, *FIELDS)
EDGES = (
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # New York springs forward at 07:00 UTC
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 in New York, the first time (EDT)
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 again (EST)
    datetime(2026, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # a UTC month's last instant
    datetime(2026, 4, 1, tzinfo=UTC),
    datetime(2026, 1, 1, 4, 59, tzinfo=UTC),  # New Year in New York, still December 31 there
)
REFS = ("J0", "J1", "J2", "J3", "J4", "J5", "J6", "J7", "E0", "E1")
"""References a file may use: E0 and E1 are stored already (see seed)."""


def written(moment: datetime, style: str) -> str:
    """An instant as a file may give it: UTC with Z, an offset, or New York's wall-clock time."""
    if style == "z":
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if style == "offset":
        return moment.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    return moment.astimezone(ZONE).replace(tzinfo=None).isoformat(sep=" ")


@st.composite
def rows(draw: st.DrawFn, ref: str, earlier: list[str]) -> dict[str, str]:
    """Row ``ref`` of a file, after rows ``earlier``; mostly valid, and now and then one cell broken."""
    start = draw(
        st.sampled_from(EDGES) | st.datetimes(datetime(2025, 12, 20), datetime(2026, 12, 10), timezones=st.just(UTC))
    )
    steps = [timedelta(minutes=draw(st.integers(0, 600))) for _ in range(3)]
    status = draw(st.sampled_from(("completed", "completed", "Completed", "scheduled", "cancelled")))
    moments = {
        "scheduled_start": start,
        "scheduled_end": start + timedelta(hours=2),
        "arrived_at": start + steps[0],
        "started_at": start + steps[0] + steps[1],
        "completed_at": start + sum(steps, timedelta()),
    }
    if status.lower() != "completed":
        moments["completed_at"] = None
    crew = draw(st.sampled_from(("", "", "", "T1:lead;T2", "T2:lead:0.6;T3:helper:0.4", "T3")))
    callbacks = ("", "E0", "E1", *earlier)
    row = {
        "external_ref": ref,
        "technician_ref": "" if crew else draw(st.sampled_from(("T1", "T2", "T3", "T4"))),
        "technicians": crew,
        "customer_ref": draw(st.sampled_from(("", "C1", "C2", "C7", "C8"))),
        "customer_name": draw(st.sampled_from(("", "Ann Smith", "Zoë Brontë", "New Name"))),
        "category": draw(st.sampled_from(("plumbing", "Electrical "))),
        "status": status,
        **{
            column: "" if moment is None else written(moment, draw(st.sampled_from(("z", "offset", "local"))))
            for column, moment in moments.items()
        },
        "estimated_minutes": draw(st.sampled_from(("", "90", "0", "100000"))),
        "revenue": draw(st.sampled_from(("", "150.00", "0.1", "12.345", "99.995", "1e3", "0", "9999999999.99"))),
        "callback_of": draw(st.sampled_from(callbacks if ref not in callbacks else ("",))),
        "test.ppe_checked": draw(st.sampled_from(("", "yes", "No", "1"))),
        "test.distance_km": draw(st.sampled_from(("", "12.5", "0", "3"))),
    }
    if draw(st.integers(0, 14)) == 0:
        column, bad = draw(
            st.sampled_from(
                (
                    ("status", "done"),
                    ("revenue", "abc"),
                    ("revenue", "-1"),
                    ("estimated_minutes", "-5"),
                    ("scheduled_start", "2026-02-30T10:00:00"),
                    ("scheduled_start", "1969-12-31T23:00:00Z"),
                    ("technicians", "T1;T1"),
                    ("technician_ref", "T9"),  # unknown: created when the import may create technicians
                    ("callback_of", ref),
                    ("callback_of", "J9"),
                    ("external_ref", "E0" if earlier else "J9"),  # E0 twice if a row named it
                    ("test.ppe_checked", "maybe"),
                    ("test.distance_km", "-2"),
                    ("category", ""),
                )
            )
        )
        row[column] = bad
        if column == "technician_ref":
            row["technicians"] = ""
    return row


@st.composite
def files(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows with distinct references (a row may still repeat one: see rows); callbacks to stored jobs or
    earlier rows."""
    refs = draw(st.lists(st.sampled_from(REFS), min_size=1, max_size=8, unique=True))
    return [draw(rows(ref, refs[:index])) for index, ref in enumerate(refs)]


def seed(session: Session) -> None:
    """A team of T1-T3, technician T4 without one, customers C1 and C2, stored jobs E0 and E1 (E1 a callback of E0)."""
    north = Team(name="North")
    session.add(north)
    session.flush()
    people = [
        Technician(external_ref=f"T{n}", name=f"Tech {n}", team_id=north.id if n < 4 else None) for n in range(1, 5)
    ]
    customers = [Customer(external_ref="C1", name="Ann Smith"), Customer(external_ref="C2", name="Bob Jones")]
    session.add_all([*people, *customers])
    session.flush()
    done = datetime(2026, 3, 2, 15, tzinfo=UTC)
    first = Job(
        external_ref="E0", technician_id=people[0].id, customer_id=customers[0].id, category="plumbing",
        status="completed", scheduled_start=done - timedelta(hours=3), scheduled_end=done - timedelta(hours=1),
        arrived_at=done - timedelta(hours=3), started_at=done - timedelta(hours=2), completed_at=done,
        estimated_minutes=90, revenue=Decimal("150.00"),
        assignments=[JobAssignment(technician_id=people[0].id, role="lead", share=0.5),
                     JobAssignment(technician_id=people[1].id, role="helper", share=0.5)],
        field_values=[JobFieldValue(key="test.ppe_checked", boolean_value=True)],
    )  # fmt: skip
    session.add(first)
    session.flush()
    session.add(
        Job(
            external_ref="E1",
            technician_id=people[2].id,
            category="electrical",
            status="scheduled",
            scheduled_start=datetime(2026, 4, 30, 23, tzinfo=UTC),
            callback_of_id=first.id,
        )
    )
    session.flush()


def stored(session: Session) -> dict[str, Any]:
    """Everything an import may change, by reference (ids differ between runs on PostgreSQL)."""
    lead, customer, original = aliased(Technician), aliased(Customer), aliased(Job)
    instants = [Job.scheduled_start, Job.scheduled_end, Job.arrived_at, Job.started_at, Job.completed_at]
    jobs = session.execute(
        select(Job.external_ref, lead.external_ref, customer.external_ref, Job.category, Job.status, *instants,
               Job.estimated_minutes, Job.revenue, original.external_ref,
               Job.created_at.is_not(None), Job.updated_at >= Job.created_at)
        .join(lead, lead.id == Job.technician_id)
        .outerjoin(customer, customer.id == Job.customer_id)
        .outerjoin(original, original.id == Job.callback_of_id)
        .order_by(Job.external_ref)
    ).all()  # fmt: skip
    # As the driver returns them: the very text (or value) stored, and its type.
    raw = session.connection().exec_driver_sql(
        "SELECT external_ref, scheduled_start, scheduled_end, arrived_at, started_at, completed_at, revenue "
        "FROM jobs ORDER BY external_ref"
    )
    crews = session.execute(
        select(Job.external_ref, Technician.external_ref, JobAssignment.role, JobAssignment.share)
        .join(Job, Job.id == JobAssignment.job_id)
        .join(Technician, Technician.id == JobAssignment.technician_id)
        .order_by(Job.external_ref, Technician.external_ref)
    ).all()
    fields = session.execute(
        select(Job.external_ref, JobFieldValue.key, JobFieldValue.boolean_value, JobFieldValue.number_value)
        .join(Job, Job.id == JobFieldValue.job_id)
        .order_by(Job.external_ref, JobFieldValue.key)
    ).all()
    return {
        "jobs": jobs,
        "raw": [tuple((type(value).__name__, value) for value in row) for row in raw],
        "crews": crews,
        "fields": fields,
        "customers": session.execute(select(Customer.external_ref, Customer.name).order_by("external_ref")).all(),
        "technicians": session.execute(select(Technician.external_ref, Technician.name).order_by("external_ref")).all(),
        "versions": session.execute(select(KpiDataVersion.month, KpiDataVersion.version).order_by("month")).all(),
        "audit": session.execute(select(AuditEntry.action, AuditEntry.changes).order_by(AuditEntry.id)).all(),
    }


def run(database, imports: list[list[dict[str, str]]], reference: bool, batch: int, **options: Any) -> list[tuple]:
    """Seed, then import each file in turn, fast or as the reference (until one is refused), in one transaction rolled
    back after: each import's report and what is stored after it."""
    session = database.open_session(write=True)
    outcomes = []
    try:
        seed(session)
        for file in imports:
            raw_rows = [RawRow(number, dict(row)) for number, row in enumerate(file, start=2)]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(jobs_import, "BATCH_SIZE", batch)
                report = import_jobs(
                    session, raw_rows, scope=UNSCOPED, actor=Actor.system("test"), zone=ZONE, job_fields=FIELDS,
                    reference=reference, **options,
                )  # fmt: skip
            counts = (report.rows, report.created, report.updated, report.unchanged, report.error_count)
            if not report.ok:  # the caller rolls a refused file back: what it left is no outcome
                outcomes.append((counts, report.errors))
                break
            outcomes.append((counts, stored(session)))
        return outcomes
    finally:
        session.rollback()
        session.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file=files(),
    then=files(),
    batch=st.sampled_from((1, 2, 3, 1000)),
    create_technicians=st.booleans(),
    dry_run=st.sampled_from((False, False, False, True)),
)
def test_the_fast_importer_stores_what_the_core_importer_stores(
    database, file, then, batch, create_technicians, dry_run
) -> None:
    """A file, the same file again (every row unchanged), then another file (updates of both)."""
    imports = [file, file, then]
    options = {"create_technicians": create_technicians, "dry_run": dry_run}

    fast = run(database, imports, False, batch, **options)
    reference = run(database, imports, True, batch, **options)

    assert fast == reference


def test_a_file_imported_twice_is_unchanged_the_second_time_both_ways(database) -> None:
    """Stored values read back compare equal with a row's (the fast path compares them in stored form)."""
    file = [
        {"external_ref": "J0", "technician_ref": "T1", "technicians": "", "customer_ref": "C7",
         "customer_name": "Zoë", "category": "plumbing", "status": "completed",
         "scheduled_start": "2026-11-01T01:30:00", "scheduled_end": "2026-11-01T03:30:00",
         "arrived_at": "2026-11-01T05:40:00Z", "started_at": "2026-11-01T05:45:00.123456Z",
         "completed_at": "2026-11-01T12:00:00+05:30", "estimated_minutes": "90", "revenue": "0.10",
         "callback_of": "E0", "test.ppe_checked": "yes", "test.distance_km": "2.5"},
    ]  # fmt: skip
    for reference in (False, True):
        session = database.open_session(write=True)
        try:
            seed(session)
            reports = []
            for _ in range(2):
                raw_rows = [RawRow(2, dict(row)) for row in file]
                reports.append(
                    import_jobs(
                        session,
                        raw_rows,
                        scope=UNSCOPED,
                        actor=Actor.system("test"),
                        zone=ZONE,
                        job_fields=FIELDS,
                        reference=reference,
                    )
                )
        finally:
            session.rollback()
            session.close()

        assert [(r.created, r.updated, r.unchanged) for r in reports] == [(1, 0, 0), (0, 0, 1)], reference
