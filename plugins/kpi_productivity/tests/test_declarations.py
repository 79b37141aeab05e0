"""What the productivity plugin declares, and that the host finds it through its entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from kpi_productivity import kpi_form_fields, kpi_jobs, kpi_metrics, kpi_settings, kpi_widgets
from kpi_productivity.plugin import MIGRATIONS
from kpi_productivity.shifts import ShiftImportError, import_shifts_job
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from kpi_core.config import Settings
from kpi_core.jobs.context import JobContext
from kpi_core.kpis.context import metric_context
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import Technician
from kpi_core.testing.fixtures import TEST_SECRET

KPIS = {
    "productivity.revenue_per_completed_job": ("higher", "mean", "currency"),
    "productivity.average_ticket": ("higher", "mean", "currency"),
    "productivity.jobs_per_working_day": ("higher", "mean", "jobs per day"),
    "productivity.utilisation": ("higher", "mean", "ratio"),
}
METRICS = {metric.key: metric for metric in kpi_metrics()}


def test_declares_the_four_productivity_kpis_on_jobs():
    assert {key: (m.direction, m.kind, m.unit) for key, m in METRICS.items()} == KPIS
    assert {metric.source for metric in METRICS.values()} == {"jobs"}


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_compiles_on_every_supported_database(key, dialect):
    metric, ctx = METRICS[key], metric_context({"timezone": "Europe/Berlin"})
    query = select(func.sum(metric.numerator(ctx)), func.sum(metric.denominator(ctx)), metric.period_column(ctx))

    assert "sum(" in str(query.compile(dialect=dialect)).lower()


def test_widgets_show_only_the_plugins_own_kpis():
    for widget in kpi_widgets():
        assert widget.key.startswith("productivity.") and set(widget.metrics) <= set(KPIS), widget.key


def test_evaluation_questions_are_scored_and_explained():
    fields = kpi_form_fields()
    assert [field.key for field in fields] == [
        "productivity.time_management",
        "productivity.van_stocked",
        "productivity.recommends_work",
    ]
    assert all(field.weight > 0 and field.help_text for field in fields)


def test_the_timezone_setting_offers_every_iana_zone_and_defaults_to_utc():
    (setting,) = kpi_settings()
    assert (setting.key, setting.type, setting.default) == ("productivity.timezone", "choice", "UTC")
    assert "America/Chicago" in setting.choices


def test_the_host_finds_the_plugin_its_kpis_and_its_migration_branch(tmp_path: Path):
    host = load_plugins(Settings.from_env({}, data_dir=tmp_path, secret_key=TEST_SECRET))

    info = host.plugins["kpi_productivity"]
    assert info.contributes["kpi_metrics"] == list(KPIS)
    assert info.contributes["kpi_jobs"] == [job.key for job in kpi_jobs()]
    assert info.contributes["kpi_migrations"] == ["productivity_0001", "productivity_0002"]
    assert host.migrations["kpi_productivity"] == MIGRATIONS.resolve()
    assert info.requires  # declares the kpi-core versions it supports


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_import_job_reads_a_csv_file_in_the_company_zone(database, settings, tmp_path):
    with database.session() as session:
        session.add(Technician(external_ref="T-7", name="Cy"))
    path = tmp_path / "shifts.csv"
    path.write_text("\ufefftechnician,starts_at,ends_at\nT-7,2026-01-05T08:00,2026-01-05T16:00\n", encoding="utf-8")
    context = JobContext(engine=database.engine, settings=settings)

    assert import_shifts_job(context, path=str(path)) == {"imported": 1}
    with pytest.raises(ShiftImportError, match="either rows or path"):
        import_shifts_job(context)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00", "0001-01-01T00:30:00+01:00", "1969-06-01T08:00:00"])
def test_a_shift_outside_the_supported_years_is_a_row_error(stamp):
    from zoneinfo import ZoneInfo

    from kpi_productivity.shifts import parse_rows

    rows = [{"technician": "T1", "starts_at": stamp, "ends_at": stamp}]
    with pytest.raises(ShiftImportError, match=r"row 1: .*must be between 1970-01-01 and 2200-12-31"):
        parse_rows(rows, {"T1": 1}, ZoneInfo("America/New_York"))
