"""Why this number: every reason code the three KPI plugins declare, and the counts behind a value.

Each case puts one job (ref X, with helpers where it needs them) in January 2026 and asks the
drill-down of the company's January for the KPI: X must be left out with the reason declared.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_core.declarations import NOT_IN_SAMPLE, WINDOW_OPEN
from kpi_core.kpis import drilldown, service
from kpi_core.kpis.context import metric_context
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import JOB_STATUSES, Evaluation, Feedback, Job, Technician

UTCZ = ZoneInfo("UTC")
JANUARY = date(2026, 1, 1)
DAY = datetime(2026, 1, 10, 9, tzinfo=UTC)
LATER = datetime(2026, 6, 1, tzinfo=UTC)  # every outcome window has closed
DONE = {"status": "completed", "scheduled_start": DAY, "started_at": DAY, "completed_at": DAY + timedelta(hours=1)}
BOOKED = {"status": "scheduled", "scheduled_start": DAY}
CANCELLED = {"status": "cancelled", "scheduled_start": DAY}
FULL = {**DONE, "arrived_at": DAY, "scheduled_end": DAY + timedelta(hours=3), "estimated_minutes": 90, "revenue": 100}

FTF, RATING, COMPLAINTS, EVALUATION = (
    "quality.first_time_fix_rate",
    "quality.avg_customer_rating",
    "quality.complaint_rate",
    "quality.evaluation_score",
)
ARRIVAL, DELAY, BUDGET, WINDOW = (
    "timeliness.on_time_arrival_rate",
    "timeliness.avg_arrival_delay_min",
    "timeliness.on_budget_rate",
    "timeliness.within_window_rate",
)
REVENUE, TICKET, PER_DAY, UTILISATION = (
    "productivity.revenue_per_completed_job",
    "productivity.average_ticket",
    "productivity.jobs_per_working_day",
    "productivity.utilisation",
)

# (KPI, the job X, reason code); "original" makes X a return visit of another job, "same day" adds an
# earlier job that day, "rating" adds feedback.
CASES = [
    (FTF, CANCELLED, "cancelled"),
    (FTF, BOOKED, "not_completed"),
    (FTF, {**DONE, "original": True}, "return_visit"),
    *[(kpi, CANCELLED, "cancelled") for kpi in (RATING, COMPLAINTS)],
    *[(kpi, BOOKED, "not_completed") for kpi in (RATING, COMPLAINTS)],
    *[(kpi, DONE, "no_feedback") for kpi in (RATING, COMPLAINTS)],
    *[(kpi, {**CANCELLED, "arrived_at": DAY}, "cancelled") for kpi in (ARRIVAL, DELAY)],
    *[(kpi, DONE, "no_arrival") for kpi in (ARRIVAL, DELAY)],
    *[(kpi, {**DONE, "arrived_at": DAY, "scheduled_start": None}, "no_scheduled_start") for kpi in (ARRIVAL, DELAY)],
    (BUDGET, CANCELLED, "cancelled"),
    (BUDGET, {**BOOKED, "estimated_minutes": 60}, "not_completed"),
    (BUDGET, {**FULL, "started_at": None}, "no_start_time"),
    (BUDGET, {**FULL, "estimated_minutes": None}, "no_estimate"),
    (WINDOW, CANCELLED, "cancelled"),
    (WINDOW, BOOKED, "not_completed"),
    (WINDOW, DONE, "no_scheduled_end"),
    *[(kpi, CANCELLED, "cancelled") for kpi in (REVENUE, TICKET, PER_DAY, UTILISATION)],
    *[(kpi, BOOKED, "not_completed") for kpi in (REVENUE, TICKET, PER_DAY, UTILISATION)],
    (REVENUE, {**DONE, "revenue": None}, "no_revenue"),
    (TICKET, {**FULL, "original": True}, "return_visit"),
    (TICKET, {**DONE, "revenue": None}, "no_revenue"),
    (TICKET, {**FULL, "revenue": 0}, "not_billed"),
    (PER_DAY, {**DONE, "same_day": True}, "same_day"),
    (UTILISATION, {**DONE, "started_at": None}, "no_start_time"),
    (UTILISATION, FULL, "no_shift_or_same_shift"),  # no shifts recorded
]


def add_job(session, technician: int, ref: str, spec: dict) -> int:
    fields = {key: value for key, value in spec.items() if key not in ("original", "same_day", "rating")}
    if spec.get("original"):
        fields["callback_of_id"] = add_job(session, technician, f"{ref}-original", DONE)
    if spec.get("same_day"):
        add_job(session, technician, f"{ref}-earlier", {**DONE, "completed_at": DAY})
    job = Job(external_ref=ref, technician_id=technician, category="plumbing", **fields)
    session.add(job)
    session.flush()
    if spec.get("rating") is not None:
        session.add(Feedback(job_id=job.id, rating=spec["rating"], received_at=DAY))
    return job.id


def technician(session, name: str = "Ada") -> int:
    row = Technician(external_ref=name, name=name)
    session.add(row)
    session.flush()
    return row.id


def cell(kpi: str, as_of: datetime = LATER, **changes) -> drilldown.DrilldownQuery:
    return drilldown.DrilldownQuery(kpi=kpi, period_start=JANUARY, group_by="company", as_of=as_of, **changes)


def listed(session, plugins, query) -> list:
    return list(session.execute(drilldown.drilldown_statement(session, plugins, query, zone=UTCZ)).mappings())


def test_the_cases_cover_every_declared_reason(plugins):
    declared = {
        (metric.key, exclusion.code)
        for metric in plugins.metrics.values()
        if metric.key.split(".")[0] in ("quality", "timeliness", "productivity") and metric.source == "jobs"
        for exclusion in metric.exclusions
    }
    assert declared == {(kpi, code) for kpi, _, code in CASES}


@pytest.mark.parametrize(("kpi", "spec", "code"), CASES, ids=[f"{kpi}-{code}" for kpi, _, code in CASES])
def test_each_reason_code(database, plugins, kpi, spec, code):
    with database.session() as session:
        add_job(session, technician(session), "X", spec)
    with database.session(write=False) as session:
        rows = {row["external_ref"]: row for row in listed(session, plugins, cell(kpi))}
        summary = drilldown.summary(session, plugins, cell(kpi), zone=UTCZ)

    labels = {exclusion.code: exclusion.label for exclusion in plugins.metrics[kpi].exclusions}
    assert (rows["X"]["outcome"], rows["X"]["reason"], rows["X"]["reason_label"]) == ("excluded", code, labels[code])
    assert (rows["X"]["numerator"], rows["X"]["denominator"]) == (0, 0)
    assert {"code": code, "label": labels[code], "facts": 1} in summary["reasons"]


def test_a_first_time_fix_whose_callback_window_is_open_is_left_out_for_that_reason(database, plugins):
    with database.session() as session:
        ada = technician(session)
        add_job(session, ada, "X", DONE)
        add_job(session, ada, "called back", {**DONE, "completed_at": DAY})
        session.add(
            Job(
                external_ref="callback", technician_id=ada, category="plumbing", status="scheduled",
                scheduled_start=DAY + timedelta(days=2), callback_of_id=session.query(Job.id)
                .filter_by(external_ref="called back").scalar(),
            )
        )  # fmt: skip
    with database.session(write=False) as session:
        rows = {row["external_ref"]: row for row in listed(session, plugins, cell(FTF, as_of=DAY + timedelta(days=5)))}

    assert (rows["X"]["outcome"], rows["X"]["reason"], rows["X"]["reason_label"]) == (
        "excluded",
        WINDOW_OPEN,
        "Callback window still open",
    )
    # Already called back, so final, but left out with the rest of the open window (counting the known
    # failures without the successes still to come would bias the value down).
    assert (rows["called back"]["outcome"], rows["called back"]["reason"]) == ("excluded", WINDOW_OPEN)


def test_evaluation_reasons(database, plugins):
    with database.session() as session:
        ada = technician(session)
        common = {"technician_id": ada, "period_start": date(2026, 1, 1), "period_end": date(2026, 1, 20)}
        common |= {"form_version": "1", "form_snapshot": [], "answers": {}}
        session.add(Evaluation(**common, status="draft", score=70.0))
        session.add(Evaluation(**common, status="submitted", score=None))
        first = Evaluation(**common, status="submitted", score=60.0)
        session.add(first)
        session.flush()
        session.add(Evaluation(**common, status="submitted", score=80.0, revision=2, supersedes_id=first.id))
    with database.session(write=False) as session:
        rows = listed(session, plugins, cell(EVALUATION))

    outcomes = sorted((row["outcome"], row["reason"]) for row in rows)
    assert outcomes == [
        ("excluded", "no_score"),
        ("excluded", "not_submitted"),
        ("excluded", "superseded"),
        ("numerator", None),
    ]


def test_the_summary_counts_per_outcome_and_reason_in_the_declared_order(database, plugins):
    with database.session() as session:
        ada = technician(session)
        for index, spec in enumerate(
            [{**DONE, "arrived_at": DAY}] * 3 + [{**DONE, "arrived_at": DAY + timedelta(hours=1)}]
        ):
            add_job(session, ada, f"J{index}", spec)
        add_job(session, ada, "no arrival", DONE)
        add_job(session, ada, "cancelled", CANCELLED)
    with database.session(write=False) as session:
        summary = drilldown.summary(session, plugins, cell(ARRIVAL), zone=UTCZ)

    assert summary == {
        "kpi": ARRIVAL,
        "facts": 6,
        "numerator": 3,
        "denominator_only": 1,
        "excluded": 2,
        "reasons": [
            {"code": "cancelled", "label": "Cancelled", "facts": 1},
            {"code": "no_arrival", "label": "No arrival time recorded", "facts": 1},
        ],
    }


def test_the_summary_endpoint_answers_the_same_counts(client, admin_headers, database):
    with database.session() as session:
        ada = technician(session)
        add_job(session, ada, "on time", {**DONE, "arrived_at": DAY})
        add_job(session, ada, "no arrival", DONE)

    response = client.get(
        f"/api/v1/kpis/{ARRIVAL}/drilldown/summary",
        query_string={"period_start": "2026-01-01", "start": "2026-01-01", "end": "2026-02-01"},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    assert (response.json["facts"], response.json["numerator"], response.json["excluded"]) == (2, 1, 1)
    assert response.json["reasons"] == [{"code": "no_arrival", "label": "No arrival time recorded", "facts": 1}]


# --- the property: every job in scope is counted once -------------------------------------------

STATUSES = JOB_STATUSES
TIMES = st.one_of(st.none(), st.integers(min_value=-20, max_value=50).map(lambda days: DAY + timedelta(days=days)))
JOB_SPECS = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "scheduled_start": TIMES,
        "arrived_at": TIMES,
        "started_at": TIMES,
        "completed_at": TIMES,
        "scheduled_end": TIMES,
        "estimated_minutes": st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
        "revenue": st.one_of(st.none(), st.integers(min_value=0, max_value=500)),
        "rating": st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
        "original": st.booleans(),
    }
)


def in_january(moment: datetime | None) -> bool:
    return moment is not None and datetime(2026, 1, 1, tzinfo=UTC) <= moment < datetime(2026, 2, 1, tzinfo=UTC)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(JOB_SPECS, min_size=1, max_size=8), kpi=st.sampled_from([FTF, RATING, ARRIVAL, BUDGET, REVENUE]))
def test_numerator_plus_denominator_only_plus_excluded_is_every_job_in_scope(database, plugins, specs, kpi):
    with database.session() as session:
        session.query(Feedback).delete()
        session.query(Job).update({Job.callback_of_id: None})
        session.query(Job).delete()
        ada = session.query(Technician.id).filter_by(name="Ada").scalar() or technician(session)
        for index, spec in enumerate(specs):
            add_job(session, ada, f"P{index}", {**spec, "original": False} if index == 0 else spec)
    metric = plugins.metrics[kpi]
    with database.session(write=False) as session:
        jobs = session.query(Job).all()
        rows = listed(session, plugins, cell(kpi, start=JANUARY, end=date(2026, 2, 1)))
        summary = drilldown.summary(session, plugins, cell(kpi), zone=UTCZ)
        query = KpiQuery(start=JANUARY, end=date(2026, 2, 1), kpis=(kpi,), period="month")
        answer = service.kpi_values(session, plugins, query, zone=UTCZ, honesty=Honesty(now=LATER)).dicts()

    period = metric.period_column(metric_context()).name
    # In scope: placed in January by the period column, else the scheduled start, else the completion.
    expected = sorted(
        job.external_ref
        for job in jobs
        if in_january(next((t for t in (getattr(job, period), job.scheduled_start, job.completed_at) if t), None))
    )
    assert sorted(row["external_ref"] for row in rows) == expected
    assert summary["numerator"] + summary["denominator_only"] + summary["excluded"] == summary["facts"] == len(expected)
    assert sum(item["facts"] for item in summary["reasons"]) == summary["excluded"]
    assert all(row["reason"] != NOT_IN_SAMPLE for row in rows), "every job left out has a declared reason"
    value = answer[0] if answer else {"numerator": 0.0, "denominator": 0.0}
    assert sum(row["numerator"] for row in rows) == pytest.approx(value["numerator"])
    assert sum(row["denominator"] for row in rows) == pytest.approx(value["denominator"])
