"""The quality KPIs computed by the engine on hand-made facts, on SQLite and PostgreSQL.

Each test builds a few jobs whose answer can be counted by hand and checks
the numerator, the denominator and the value the engine gives.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import CallbackDispute, Evaluation, Feedback, Job, Technician

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
COMPLAINTS = "quality.complaint_rate"
EVALUATION = "quality.evaluation_score"
JANUARY = date(2026, 1, 1)


def at(day: int, hour: int = 10, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


class Facts:
    """Adds technicians, jobs (with feedback) and evaluations, each committed at once."""

    def __init__(self, database) -> None:
        self.database = database
        self.refs = 0

    def add(self, row) -> int:
        with self.database.session() as session:
            session.add(row)
            session.flush()
            return row.id

    def technician(self, name: str = "Ada") -> int:
        self.refs += 1
        return self.add(Technician(external_ref=f"T-{self.refs}", name=name))

    def job(self, technician: int, *, status: str = "completed", rating: int | None = None, **times) -> int:
        self.refs += 1
        job_id = self.add(
            Job(external_ref=f"J-{self.refs}", technician_id=technician, category="plumbing", status=status, **times)
        )
        if rating is not None:
            self.add(Feedback(job_id=job_id, rating=rating, received_at=times.get("completed_at") or at(1)))
        return job_id

    def evaluation(self, technician: int, period_end: date, score: float | None, **extra) -> int:
        extra.setdefault("status", "submitted")
        return self.add(
            Evaluation(
                technician_id=technician,
                period_start=period_end.replace(day=1),
                period_end=period_end,
                form_version="v1",
                form_snapshot=[],
                answers={},
                score=score,
                **extra,
            )
        )


@pytest.fixture
def facts(database) -> Facts:
    return Facts(database)


def cell(database, plugins, kpi: str, month: date = JANUARY, group_by: str = "technician"):
    """(numerator, denominator, value) of ``kpi`` for the only group in ``month``, or None without a row."""
    query = KpiQuery(start=date(2025, 12, 1), end=date(2026, 7, 1), kpis=(kpi,), group_by=group_by)
    with database.session(write=False) as session:
        rows = compute_values(session, plugins, query, zone=ZoneInfo("UTC"), target_for=lambda key, team, start: None)
    found = [row for row in rows if row.period_start == month]
    assert len(found) <= 1, found
    return (found[0].numerator, found[0].denominator, found[0].value) if found else None


# --- first-time fix rate ---------------------------------------------------------------------


def test_first_time_fix_rate_counts_completed_original_jobs_without_a_callback(database, plugins, facts):
    ada = facts.technician()
    facts.job(ada, completed_at=at(5))  # fixed
    spoiled = facts.job(ada, completed_at=at(6))
    facts.job(ada, status="scheduled", scheduled_start=at(20), callback_of_id=spoiled)
    facts.job(ada, completed_at=at(7))  # fixed
    facts.job(ada, status="cancelled")  # counts nowhere

    assert cell(database, plugins, FTF) == (2, 3, pytest.approx(2 / 3))


def test_a_callback_30_days_after_completion_still_spoils_the_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5, hour=9))
    facts.job(ada, status="scheduled", scheduled_start=at(5, hour=9) + timedelta(days=30), callback_of_id=original)

    assert cell(database, plugins, FTF) == (0, 1, 0.0)


def test_a_callback_on_the_30th_day_earlier_in_the_day_spoils_the_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5, hour=15))
    facts.job(ada, status="scheduled", scheduled_start=at(4, hour=8, month=2), callback_of_id=original)  # day 30

    assert cell(database, plugins, FTF) == (0, 1, 0.0)


def test_a_callback_31_days_after_completion_does_not_spoil_the_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5, hour=9))
    facts.job(ada, status="scheduled", scheduled_start=at(5, hour=9) + timedelta(days=31), callback_of_id=original)

    assert cell(database, plugins, FTF) == (1, 1, 1.0)


def test_a_cancelled_callback_does_not_spoil_the_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5))
    facts.job(ada, status="cancelled", scheduled_start=at(8), callback_of_id=original)

    assert cell(database, plugins, FTF) == (1, 1, 1.0)


def test_callback_jobs_are_not_in_the_first_time_fix_sample(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5))
    facts.job(ada, scheduled_start=at(8), completed_at=at(8), callback_of_id=original)

    assert cell(database, plugins, FTF) == (0, 1, 0.0)


def dispute(facts, callback: int, original: int, status: str) -> int:
    decided = None if status == "open" else at(25)
    return facts.add(
        CallbackDispute(
            callback_job_id=callback, original_job_id=original, reason="customer_damage", status=status,
            decided_at=decided,
        )
    )  # fmt: skip


def test_a_callback_whose_dispute_was_accepted_no_longer_spoils_the_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5))
    callback = facts.job(ada, status="scheduled", scheduled_start=at(8), callback_of_id=original)
    dispute(facts, callback, original, "accepted")

    assert cell(database, plugins, FTF) == (1, 1, 1.0)


@pytest.mark.parametrize("status", ["open", "rejected"])
def test_a_callback_whose_dispute_is_open_or_rejected_still_spoils_the_first_time_fix(database, plugins, facts, status):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5))
    callback = facts.job(ada, status="scheduled", scheduled_start=at(8), callback_of_id=original)
    dispute(facts, callback, original, status)

    assert cell(database, plugins, FTF) == (0, 1, 0.0)


def test_an_accepted_dispute_clears_only_its_own_callback(database, plugins, facts):
    ada = facts.technician()
    original = facts.job(ada, completed_at=at(5))
    cleared = facts.job(ada, status="scheduled", scheduled_start=at(8), callback_of_id=original)
    facts.job(ada, status="scheduled", scheduled_start=at(9), callback_of_id=original)
    dispute(facts, cleared, original, "accepted")

    assert cell(database, plugins, FTF) == (0, 1, 0.0)


def test_a_dispute_accepted_against_another_job_does_not_clear_a_callback_moved_since(database, plugins, facts):
    ada = facts.technician()
    first, second = facts.job(ada, completed_at=at(5)), facts.job(ada, completed_at=at(6))
    callback = facts.job(ada, status="scheduled", scheduled_start=at(8), callback_of_id=second)
    dispute(facts, callback, first, "accepted")  # accepted while it was first's callback

    assert cell(database, plugins, FTF) == (1, 2, 0.5)


def test_cancelled_jobs_count_nowhere_in_first_time_fix(database, plugins, facts):
    ada = facts.technician()
    facts.job(ada, status="cancelled", completed_at=at(5))  # a cancelled job keeps the times it reached

    assert cell(database, plugins, FTF) == (0, 0, None)


# --- customer rating and complaints ----------------------------------------------------------


@pytest.fixture
def rated(facts) -> int:
    """Ratings 5, 4, 3 and 2 on completed jobs; one job without feedback; a cancelled job rated 1."""
    ada = facts.technician()
    for day, rating in ((3, 5), (4, 4), (5, 3), (6, 2)):
        facts.job(ada, completed_at=at(day), rating=rating)
    facts.job(ada, completed_at=at(7))
    facts.job(ada, status="cancelled", completed_at=at(8), rating=1)
    return ada


def test_average_rating_is_the_mean_over_completed_jobs_with_feedback(database, plugins, rated):
    assert cell(database, plugins, RATING) == (14, 4, 3.5)


def test_complaint_rate_counts_ratings_of_2_or_less_among_rated_jobs(database, plugins, rated):
    assert cell(database, plugins, COMPLAINTS) == (1, 4, 0.25)


def test_jobs_without_feedback_have_no_rating_sample(database, plugins, facts):
    ada = facts.technician()
    facts.job(ada, completed_at=at(3))

    assert cell(database, plugins, RATING) == (0, 0, None)
    assert cell(database, plugins, COMPLAINTS) == (0, 0, None)


def test_a_rating_is_placed_in_the_month_the_job_was_completed(database, plugins, facts):
    ada = facts.technician()
    facts.job(ada, completed_at=at(31, hour=23), rating=1)
    facts.job(ada, completed_at=at(1, hour=0, month=2), rating=5)

    assert cell(database, plugins, RATING) == (1, 1, 1.0)
    assert cell(database, plugins, RATING, date(2026, 2, 1)) == (5, 1, 5.0)


# --- evaluation score ------------------------------------------------------------------------


def test_evaluation_score_averages_submitted_and_acknowledged_latest_revisions(database, plugins, facts):
    ada = facts.technician()
    facts.evaluation(ada, date(2026, 1, 31), 80)
    facts.evaluation(ada, date(2026, 1, 15), 90, status="acknowledged")
    facts.evaluation(ada, date(2026, 1, 20), 10, status="draft")
    first = facts.evaluation(ada, date(2026, 1, 10), 50)
    facts.evaluation(ada, date(2026, 1, 10), 70, revision=2, supersedes_id=first)
    facts.evaluation(ada, date(2026, 2, 1), 0)  # February's

    assert cell(database, plugins, EVALUATION) == (240, 3, 80.0)
    assert cell(database, plugins, EVALUATION, date(2026, 2, 1)) == (0, 1, 0.0)


def test_a_draft_revision_does_not_replace_the_submitted_evaluation_yet(database, plugins, facts):
    ada = facts.technician()
    first = facts.evaluation(ada, date(2026, 1, 10), 60)
    facts.evaluation(ada, date(2026, 1, 10), 95, status="draft", revision=2, supersedes_id=first)

    assert cell(database, plugins, EVALUATION) == (60, 1, 60.0)


def test_evaluation_without_score_is_not_in_the_sample(database, plugins, facts):
    ada = facts.technician()
    facts.evaluation(ada, date(2026, 1, 31), None)

    assert cell(database, plugins, EVALUATION) == (0, 0, None)


def test_evaluation_score_has_no_rows_by_category(database, plugins, facts):
    facts.evaluation(facts.technician(), date(2026, 1, 31), 80)

    assert cell(database, plugins, EVALUATION, group_by="category") is None
    assert cell(database, plugins, EVALUATION, group_by="company") == (80, 1, 80.0)
