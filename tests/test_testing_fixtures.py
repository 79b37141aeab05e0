"""The fixtures kpi-core offers plugins' tests (kpi_core/testing/fixtures.py, issue #22): each through its use."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from kpi_core.jobs.context import JobContext
from kpi_core.storage.models import Feedback, Job, Team, Technician
from kpi_core.testing.fixtures import RecordedProgress

MARCH = {"kpi": "quality.avg_customer_rating", "group_by": "technician", "start": "2026-03-01", "end": "2026-04-01"}
URL = "/api/v1/kpis/values?" + urlencode(MARCH)


def march(day: int) -> datetime:
    return datetime(2026, 3, day, 15, tzinfo=UTC)


# --- job_context ------------------------------------------------------------------------------


def test_job_context_holds_the_plugins_settings_with_their_defaults(job_context):
    context = job_context("kpi_quality")

    assert isinstance(context, JobContext)
    assert context.plugin_settings == {"callback_window_days": 30}
    assert context.plugins is not None and "kpi_quality" in context.plugins.plugins


def test_job_context_takes_chosen_settings(job_context):
    assert job_context("kpi_quality", callback_window_days=7).plugin_settings["callback_window_days"] == 7


def test_job_context_refuses_a_setting_the_plugin_does_not_declare(job_context):
    with pytest.raises(KeyError, match="kpi_quality declares no setting callback_window"):
        job_context("kpi_quality", callback_window=7)


def test_job_context_records_the_progress_a_job_reports(job_context):
    context = job_context()

    context.progress(150, "done")

    assert isinstance(context.on_progress, RecordedProgress)
    assert context.on_progress == [(100, "done")]
    assert context.plugin_settings == {}


def test_job_context_reaches_the_test_database(job_context, seed):
    seed.technician("Ann")

    with job_context().engine.connect() as connection:
        assert connection.scalar(select(Technician.name)) == "Ann"


# --- set_plugin_setting -----------------------------------------------------------------------


def test_set_plugin_setting_is_what_a_job_context_then_reads(set_plugin_setting, job_context):
    stored = set_plugin_setting("quality.callback_window_days", 14)

    assert stored.value == 14 and stored.source == "stored"
    assert job_context("kpi_quality").plugin_settings["callback_window_days"] == 14


def test_set_plugin_setting_refuses_a_value_the_declaration_refuses(set_plugin_setting):
    with pytest.raises(Exception, match="value"):
        set_plugin_setting("quality.callback_window_days", "a fortnight")


# --- seed -------------------------------------------------------------------------------------


def test_seed_adds_technicians_jobs_and_feedback_in_a_few_lines(seed, database):
    ann = seed.technician("Ann", team="North")
    bob = seed.technician("Bob", team="North")
    done = seed.job(ann, completed_at=march(10), rating=5)
    planned = seed.job(bob)

    with database.session(write=False) as session:
        assert session.scalars(select(Team.name)).all() == ["North"]
        assert {t.team_id for t in session.scalars(select(Technician))} == {seed.teams["North"]}
        assert session.get(Job, done).status == "completed"
        assert session.get(Job, planned).status == "scheduled"
        [feedback] = session.scalars(select(Feedback)).all()
        assert (feedback.job_id, feedback.rating, feedback.received_at) == (done, 5, march(10))


# --- assert_kpi_recomputed --------------------------------------------------------------------


def test_assert_kpi_recomputed_passes_when_a_change_reaches_the_answer(assert_kpi_recomputed, seed, admin_headers):
    ann = seed.technician("Ann")
    seed.job(ann, completed_at=march(10), rating=5)

    def a_poor_rating() -> None:
        seed.job(ann, completed_at=march(11), rating=1)

    response = assert_kpi_recomputed(URL, a_poor_rating, headers=admin_headers)

    [row] = response.json
    assert row["value"] == 3


def test_assert_kpi_recomputed_fails_when_the_cached_answer_is_served(assert_kpi_recomputed, seed, admin_headers):
    seed.job(seed.technician("Ann"), completed_at=march(10), rating=5)

    with pytest.raises(AssertionError, match="cached answer was served after the change"):
        assert_kpi_recomputed(URL, lambda: None, headers=admin_headers)
