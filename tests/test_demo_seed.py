"""The demo seeder and the demo admin login, on SQLite and PostgreSQL.

Seeding takes seconds, so the read-only checks share one seeded database per
backend (``seeded``); tests that need an empty database use the shared
``database`` fixture.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import case, exists, func, select

from kpi_core.accounts.passwords import verify_password
from kpi_core.config import Settings
from kpi_core.demo.credentials import ADMIN_USERNAME, credentials_path, ensure_demo_admin
from kpi_core.demo.profiles import PROFILES
from kpi_core.demo.seed import SeedSummary, build_company, seed_if_empty
from kpi_core.evaluations.scoring import form_version
from kpi_core.kpis.sql import epoch
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Customer, Evaluation, Feedback, Job, JobAssignment, Team, Technician, User
from kpi_core.testing.fixtures import TEST_SECRET

NOW = datetime(2026, 6, 15, 19, 30, tzinfo=UTC)  # a Monday afternoon in Chicago
ZONE = "America/Chicago"
jobs = Job.__table__
technicians = Technician.__table__
assignments = JobAssignment.__table__
feedback = Feedback.__table__
SEEDED_MODELS = (Team, Technician, Customer, Job, Feedback, Evaluation)


@dataclass
class Seeded:
    database: Database
    plugins: PluginHost
    settings: Settings
    summary: SeedSummary
    progress: list[int]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One demo company per backend, seeded at ``NOW`` in Chicago, shared by the read-only tests."""
    tmp = tmp_path_factory.mktemp("seeded")
    databases = request.getfixturevalue("postgres_databases") if request.param == "postgresql" else None
    url = databases.create() if databases else f"sqlite:///{tmp / 'kpi.sqlite3'}"
    settings = Settings.from_env({}, data_dir=tmp / "data", database_url=url, secret_key=TEST_SECRET, timezone=ZONE)
    database = Database(url)
    upgrade(database.engine)
    plugins = load_plugins(settings)
    progress: list[int] = []
    summary = seed_if_empty(database, plugins, settings, progress=progress.append, now=NOW)
    yield Seeded(database, plugins, settings, summary, progress)
    database.dispose()
    if databases:
        databases.drop(url)


def _count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _counts(database: Database) -> dict[str, int]:
    return {model.__tablename__: _count(database, model) for model in SEEDED_MODELS}


def _refs(kind: str) -> list[str]:
    return [profile.ref for profile in PROFILES if profile.kind == kind]


def _per_technician(database: Database, numerator, denominator, *where) -> dict[str, float]:
    """numerator / denominator summed over each technician's jobs (optionally filtered)."""
    statement = (
        select(technicians.c.external_ref, func.sum(numerator), func.sum(denominator))
        .select_from(jobs.join(technicians, jobs.c.technician_id == technicians.c.id))
        .where(*where)
        .group_by(technicians.c.external_ref)
    )
    with database.engine.connect() as connection:
        return {ref: float(top) / float(bottom) for ref, top, bottom in connection.execute(statement) if bottom}


# -- what is seeded ------------------------------------------------------------


def test_seeds_three_teams_about_25_technicians_and_over_20000_jobs(seeded):
    counts = _counts(seeded.database)
    assert counts["teams"] == 3
    assert 20 <= counts["technicians"] <= 30
    assert counts["jobs"] >= 20_000
    assert 1_000 <= counts["customers"] <= 10_000
    assert seeded.summary.seeded
    assert seeded.summary.counts == counts
    assert seeded.summary.describe().startswith("Seeded demo company: 3 teams, 25 technicians")


def test_jobs_span_about_18_months_up_to_now_plus_booked_future_jobs(seeded):
    with seeded.database.session() as session:
        first = session.scalar(select(func.min(Job.scheduled_start)))
        last_done = session.scalar(select(func.max(Job.completed_at)))
        future = session.execute(
            select(Job.status, func.count()).where(Job.scheduled_start > NOW).group_by(Job.status)
        ).all()
        statuses = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    assert timedelta(days=500) <= NOW - first <= timedelta(days=580)
    assert NOW - timedelta(days=1) < last_done <= NOW
    assert dict(future).keys() <= {"scheduled", "cancelled"}
    assert dict(future)["scheduled"] >= 100
    assert 0.01 <= statuses["cancelled"] / sum(statuses.values()) <= 0.08


def test_visits_are_booked_in_local_working_hours_on_weekdays(seeded):
    zone = ZoneInfo(ZONE)
    with seeded.database.session() as session:
        starts = [start.astimezone(zone) for start in session.scalars(select(Job.scheduled_start))]
    assert all(8 <= start.hour < 17 for start in starts)
    assert not [start for start in starts if start.weekday() == 6]
    assert sum(start.weekday() < 5 for start in starts) / len(starts) > 0.95


def test_timestamps_come_back_time_zone_aware_and_in_order(seeded):
    with seeded.database.session() as session:
        sample = session.scalars(select(Job).where(Job.status == "completed").order_by(Job.id).limit(500)).all()
        fed_back = session.scalars(select(Feedback).limit(200)).all()
        evaluations = session.scalars(select(Evaluation).limit(50)).all()
    for job in sample:
        moments = (job.scheduled_start, job.scheduled_end, job.arrived_at, job.started_at, job.completed_at)
        assert all(moment.tzinfo is not None for moment in (*moments, job.created_at, job.updated_at))
        assert job.scheduled_start < job.scheduled_end
        assert job.arrived_at < job.started_at < job.completed_at <= NOW
        assert job.created_at <= job.scheduled_start
        assert job.estimated_minutes > 0
        assert isinstance(job.revenue, Decimal)
    assert all(item.received_at.tzinfo is not None for item in fed_back)
    assert all(item.submitted_at.tzinfo is not None for item in evaluations)


def test_unfinished_jobs_have_no_completion_and_cancelled_ones_no_visit(seeded):
    with seeded.database.session() as session:
        open_done = session.scalar(select(func.count()).where(Job.status != "completed", Job.completed_at.is_not(None)))
        cancelled_visited = session.scalar(
            select(func.count()).where(Job.status == "cancelled", Job.arrived_at.is_not(None))
        )
        future_visited = session.scalar(
            select(func.count()).where(Job.scheduled_start > NOW, Job.arrived_at.is_not(None))
        )
    assert (open_done, cancelled_visited, future_visited) == (0, 0, 0)


def test_callbacks_rework_an_earlier_completed_job_of_the_same_customer(seeded):
    original = jobs.alias("original")
    callback = jobs.alias("callback")
    pairs = callback.join(original, callback.c.callback_of_id == original.c.id)
    gap_days = (epoch(callback.c.scheduled_start) - epoch(original.c.completed_at)) / 86400
    with seeded.database.engine.connect() as connection:
        total = connection.scalar(
            select(func.count()).select_from(callback).where(callback.c.callback_of_id.is_not(None))
        )
        wrong = connection.scalar(
            select(func.count())
            .select_from(pairs)
            .where(
                (original.c.status != "completed")
                | (original.c.customer_id != callback.c.customer_id)
                | (callback.c.scheduled_start <= original.c.completed_at)
                | (callback.c.id <= original.c.id)
            )
        )
        longest = connection.scalar(select(func.max(gap_days)).select_from(pairs))
        within_two_weeks = connection.scalar(select(func.count()).select_from(pairs).where(gap_days <= 14))
        by_other = connection.scalar(
            select(func.count()).select_from(pairs).where(callback.c.technician_id != original.c.technician_id)
        )
    assert total >= 200
    assert wrong == 0
    assert float(longest) <= 50  # about six weeks at most
    assert within_two_weeks / total > 0.7
    assert 0.1 < by_other / total < 0.5  # usually the same technician returns


def test_every_job_has_a_crew_led_by_its_technician_and_about_one_in_seven_a_helper_of_its_team(seeded):
    helper = technicians.alias("helper")
    lead = technicians.alias("lead")
    with seeded.database.engine.connect() as connection:
        job_count = connection.scalar(select(func.count()).select_from(jobs))
        per_job = (
            select(
                assignments.c.job_id,
                func.count().label("members"),
                func.sum(assignments.c.share).label("shares"),
                func.sum(case((assignments.c.role == "lead", 1), else_=0)).label("leads"),
            )
            .group_by(assignments.c.job_id)
            .subquery()
        )
        crewed, sizes, bad_shares, bad_leads = connection.execute(
            select(
                func.count(),
                func.sum(case((per_job.c.members == 2, 1), else_=0)),
                func.sum(case((func.abs(per_job.c.shares - 1) > 1e-9, 1), else_=0)),
                func.sum(case((per_job.c.leads != 1, 1), else_=0)),
            )
        ).one()
        not_the_technician = connection.scalar(
            select(func.count())
            .select_from(assignments.join(jobs, jobs.c.id == assignments.c.job_id))
            .where(assignments.c.role == "lead", assignments.c.technician_id != jobs.c.technician_id)
        )
        helpers = connection.execute(
            select(helper.c.team_id == lead.c.team_id, assignments.c.share)
            .select_from(
                assignments.join(jobs, jobs.c.id == assignments.c.job_id)
                .join(helper, helper.c.id == assignments.c.technician_id)
                .join(lead, lead.c.id == jobs.c.technician_id)
            )
            .where(assignments.c.role == "helper")
        ).all()
    assert crewed == job_count
    assert (bad_shares, bad_leads, not_the_technician) == (0, 0, 0)
    assert 0.12 <= sizes / job_count <= 0.18
    assert all(same_team for same_team, _ in helpers)
    shares = {round(share, 6) for _, share in helpers}
    assert shares == {0.5, 0.4}
    assert 0.2 < sum(1 for _, share in helpers if round(share, 6) == 0.4) / len(helpers) < 0.4


def test_about_two_thirds_of_completed_jobs_get_feedback_a_day_or_two_later(seeded):
    delay_hours = (epoch(feedback.c.received_at) - epoch(jobs.c.completed_at)) / 3600
    with seeded.database.engine.connect() as connection:
        completed = connection.scalar(select(func.count()).select_from(jobs).where(jobs.c.status == "completed"))
        rated, not_completed, earliest, latest = connection.execute(
            select(
                func.count(),
                func.sum(case((jobs.c.status != "completed", 1), else_=0)),
                func.min(delay_hours),
                func.max(delay_hours),
            ).select_from(feedback.join(jobs, feedback.c.job_id == jobs.c.id))
        ).one()
        ratings = dict(connection.execute(select(feedback.c.rating, func.count()).group_by(feedback.c.rating)).all())
        nps_range = connection.execute(select(func.min(feedback.c.nps), func.max(feedback.c.nps))).one()
    assert 0.6 <= rated / completed <= 0.7
    assert not_completed == 0
    assert float(earliest) > 0 and float(latest) <= 72
    assert set(ratings) == {1, 2, 3, 4, 5}
    assert ratings[5] > ratings[2]
    assert nps_range == (0, 10)


def test_evaluations_answer_the_plugins_form_with_a_score_and_version(seeded):
    fields = list(seeded.plugins.form_fields.values())
    required = {field.key for field in fields if field.required}
    with seeded.database.session() as session:
        evaluations = session.scalars(select(Evaluation)).all()
    assert len(evaluations) >= 300
    assert {evaluation.status for evaluation in evaluations} == {"submitted", "acknowledged"}
    for evaluation in evaluations:
        assert 0 <= evaluation.score <= 100
        assert evaluation.form_version == form_version(fields)
        assert [item["key"] for item in evaluation.form_snapshot] == [field.key for field in fields]
        assert required <= set(evaluation.answers) <= {field.key for field in fields}
        assert evaluation.period_start < evaluation.period_end < evaluation.submitted_at.date()
        assert evaluation.submitted_at <= NOW
        if evaluation.status == "acknowledged":
            assert evaluation.submitted_at < evaluation.acknowledged_at <= NOW


def test_late_technicians_arrive_late_far_more_often_than_excellent_ones(seeded):
    delay = epoch(jobs.c.arrived_at) - epoch(jobs.c.scheduled_start)
    late_share = _per_technician(
        seeded.database, case((delay > 15 * 60, 1), else_=0), case((jobs.c.arrived_at.is_not(None), 1), else_=0)
    )
    late = [late_share[ref] for ref in _refs("late")]
    excellent = [late_share[ref] for ref in _refs("excellent")]
    assert min(late) > 0.2
    assert max(excellent) < 0.05
    assert min(late) > 4 * max(excellent)


def test_callback_prone_technicians_need_more_return_visits(seeded):
    callback = jobs.alias("callback")
    reworked = exists().where(callback.c.callback_of_id == jobs.c.id)
    rate = _per_technician(
        seeded.database,
        case((reworked, 1), else_=0),
        case((jobs.c.status == "completed", 1), else_=0),
        jobs.c.callback_of_id.is_(None),
    )
    assert min(rate[ref] for ref in _refs("callbacks")) > 0.1
    assert max(rate[ref] for ref in _refs("excellent")) < 0.04
    ordinary = sorted(rate[ref] for ref in _refs("ordinary"))
    assert 0.02 < ordinary[len(ordinary) // 2] < 0.08


def test_overrunning_technicians_take_longer_than_estimated(seeded):
    worked = (epoch(jobs.c.completed_at) - epoch(jobs.c.started_at)) / (60 * jobs.c.estimated_minutes)
    ratio = _per_technician(
        seeded.database, worked, case((jobs.c.status == "completed", 1), else_=0), jobs.c.status == "completed"
    )
    assert min(ratio[ref] for ref in _refs("overrun")) > 1.2
    assert max(ratio[ref] for ref in _refs("ordinary") + _refs("excellent")) < 1.1


def test_customers_rate_excellent_technicians_higher(seeded):
    statement = (
        select(technicians.c.external_ref, func.avg(feedback.c.rating))
        .select_from(feedback.join(jobs, feedback.c.job_id == jobs.c.id).join(technicians))
        .group_by(technicians.c.external_ref)
    )
    with seeded.database.engine.connect() as connection:
        rating = {ref: float(mean) for ref, mean in connection.execute(statement)}
    assert min(rating[ref] for ref in _refs("excellent")) > 4.5
    assert max(rating[ref] for ref in _refs("callbacks") + _refs("late")) < min(
        rating[ref] for ref in _refs("excellent")
    )


def test_managers_score_excellent_technicians_above_weak_ones(seeded):
    with seeded.database.session() as session:
        scores = dict(
            session.execute(
                select(Technician.external_ref, func.avg(Evaluation.score))
                .join(Evaluation, Evaluation.technician_id == Technician.id)
                .group_by(Technician.external_ref)
            ).all()
        )
    weak = _refs("late") + _refs("callbacks") + _refs("overrun")
    assert min(scores[ref] for ref in _refs("excellent")) > max(scores[ref] for ref in weak)


def test_the_same_moment_generates_the_same_company():
    zone, fields = ZoneInfo(ZONE), list(load_plugins(Settings.from_env({})).form_fields.values())
    first = build_company(zone, NOW, fields)
    second = build_company(zone, NOW, fields)
    assert first == second
    assert len(first.jobs) >= 20_000


# -- running it again, failing, and afterwards ---------------------------------------


def test_progress_rises_to_100_without_going_back(seeded):
    assert seeded.progress[-1] == 100
    assert seeded.progress == sorted(set(seeded.progress))
    assert all(0 <= percent <= 100 for percent in seeded.progress)
    assert len(seeded.progress) >= 10


def test_a_second_run_reuses_the_data_and_adds_nothing(seeded):
    before = _counts(seeded.database)
    progress: list[int] = []
    summary = seed_if_empty(seeded.database, seeded.plugins, seeded.settings, progress=progress.append)
    assert not summary.seeded
    assert summary.counts == before == _counts(seeded.database)
    assert summary.describe() == (
        f"Demo data already present: 3 teams, 25 technicians, {before['customers']:,} customers, "
        f"{before['jobs']:,} jobs, {before['feedback']:,} feedback, {before['evaluations']:,} evaluations (reused)"
    )
    assert progress == [100]


def test_ordinary_inserts_after_seeding_get_fresh_ids(seeded):
    # Explicit ids do not advance PostgreSQL's sequences; the seeder must have.
    session = seeded.database.sessions()
    try:
        team = Team(name="Night Shift")
        customer = Customer(external_ref="CUST-NEW", name="New Customer")
        session.add_all([team, customer])
        session.flush()
        technician = Technician(external_ref="TECH-NEW", name="New Hire", team_id=team.id)
        session.add(technician)
        session.flush()
        job = Job(external_ref="JOB-NEW", technician_id=technician.id, customer_id=customer.id, category="general")
        session.add(job)
        session.flush()
        session.add(Feedback(job_id=job.id, rating=5, received_at=NOW))
        session.add(
            Evaluation(
                technician_id=technician.id,
                period_start=NOW.date(),
                period_end=NOW.date(),
                form_version="x",
                form_snapshot=[],
                answers={},
            )
        )
        session.flush()
        assert team.id > 3 and technician.id > 25 and job.id > 20_000
    finally:
        session.rollback()
        session.close()


def test_a_failure_midway_leaves_nothing_written(database, plugins, settings):
    def fail_during_insert(percent: int) -> None:
        if percent >= 50:  # generation is done and the first batches are inserted
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        seed_if_empty(database, plugins, settings, progress=fail_during_insert, now=NOW)
    assert set(_counts(database).values()) == {0}


def test_a_database_with_other_data_is_not_seeded(database, plugins, settings):
    with database.session() as session:
        session.add(Team(name="Our own team"))
    summary = seed_if_empty(database, plugins, settings, now=NOW)
    assert not summary.seeded
    assert _counts(database) == {
        "teams": 1,
        "technicians": 0,
        "customers": 0,
        "jobs": 0,
        "feedback": 0,
        "evaluations": 0,
    }
    assert summary.describe().startswith("Database is not empty, demo data not seeded: 1 teams")


# -- the demo admin ------------------------------------------------------------------


def _admin_hash(database: Database) -> str:
    with database.session() as session:
        return session.scalar(select(User.password_hash).where(User.username == ADMIN_USERNAME))


def test_demo_admin_is_created_with_a_random_password_kept_owner_only(database, settings):
    login = ensure_demo_admin(database, settings)
    path = credentials_path(settings)
    assert login.username == "admin"
    assert len(login.password) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"username": "admin", "password": login.password}
    with database.session() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin.role == "admin"
        assert verify_password(admin.password_hash, login.password)


def test_demo_admin_login_is_reused_on_later_runs(database, settings):
    first = ensure_demo_admin(database, settings)
    stored_hash = _admin_hash(database)
    assert ensure_demo_admin(database, settings) == first
    assert _admin_hash(database) == stored_hash


def test_demo_admin_password_is_reset_when_the_file_is_deleted(database, settings):
    first = ensure_demo_admin(database, settings)
    credentials_path(settings).unlink()
    second = ensure_demo_admin(database, settings)
    assert second.password != first.password
    assert not verify_password(_admin_hash(database), first.password)
    assert verify_password(_admin_hash(database), second.password)
    assert stat.S_IMODE(credentials_path(settings).stat().st_mode) == 0o600


def test_demo_admin_password_is_reset_when_the_stored_one_no_longer_works(database, settings):
    ensure_demo_admin(database, settings)
    credentials_path(settings).write_text(json.dumps({"username": "admin", "password": "not-the-password"}))
    repaired = ensure_demo_admin(database, settings)
    assert repaired.password != "not-the-password"
    assert verify_password(_admin_hash(database), repaired.password)
    assert json.loads(credentials_path(settings).read_text())["password"] == repaired.password
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_demo_admin_is_recreated_when_the_database_was_replaced(database, settings):
    # A login file left over from an earlier demo database names a user that is not here.
    credentials_path(settings).parent.mkdir(parents=True, exist_ok=True)
    credentials_path(settings).write_text(json.dumps({"username": "admin", "password": "from-an-old-database"}))
    login = ensure_demo_admin(database, settings)
    assert login.password != "from-an-old-database"
    assert verify_password(_admin_hash(database), login.password)


# -- the real command ------------------------------------------------------------------


def _kpi_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("KPI_")}
    env["KPI_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "kpi_core.cli", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_kpi_demo_seeds_a_sqlite_file_prints_a_login_and_reuses_both(tmp_path):
    data_dir = tmp_path / "demo"
    first = _kpi_demo(data_dir)
    assert first.returncode == 0, first.stderr
    assert "Seeded demo company: 3 teams, 25 technicians" in first.stdout
    login = re.search(r"Admin login: admin / (\S+)", first.stdout)
    assert login, first.stdout
    assert (data_dir / "kpi.sqlite3").is_file()
    assert json.loads((data_dir / "demo-admin.json").read_text())["password"] == login.group(1)

    second = _kpi_demo(data_dir)
    assert second.returncode == 0, second.stderr
    assert "Demo data already present" in second.stdout and "(reused)" in second.stdout
    assert f"Admin login: admin / {login.group(1)}" in second.stdout
