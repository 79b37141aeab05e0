"""What the timeliness plugin declares: its KPIs, evaluation questions and widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from kpi_timeliness import kpi_form_fields, kpi_metrics, kpi_widgets
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from kpi_core.config import Settings
from kpi_core.declarations import Metric
from kpi_core.kpis.context import metric_context
from kpi_core.plugins import load_plugins

KPIS = {
    # key: (direction, kind, unit, source)
    "timeliness.on_time_arrival_rate": ("higher", "rate", "ratio", "jobs"),
    "timeliness.avg_arrival_delay_min": ("lower", "mean", "minutes", "jobs"),
    "timeliness.on_budget_rate": ("higher", "rate", "ratio", "jobs"),
    "timeliness.within_window_rate": ("higher", "rate", "ratio", "jobs"),
}
QUESTIONS = {"timeliness.punctuality": "rating", "timeliness.paperwork_on_time": "yes_no"}
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
METRICS = {metric.key: metric for metric in kpi_metrics()}


def literal_sql(expression: object, dialect: str = "sqlite") -> str:
    query = select(func.sum(expression))
    return str(query.compile(dialect=DIALECTS[dialect], compile_kwargs={"literal_binds": True}))


def test_declares_exactly_the_four_timeliness_kpis():
    assert [metric.key for metric in kpi_metrics()] == list(KPIS)


@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_has_its_direction_kind_unit_and_source(key: str):
    metric = METRICS[key]
    assert (metric.direction, metric.kind, metric.unit, metric.source) == KPIS[key]


@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_has_a_scored_default_target(key: str):
    target = METRICS[key].default_target
    assert target is not None and target.weight > 0


def test_rate_thresholds_lie_between_0_and_1():
    for metric in METRICS.values():
        if metric.kind == "rate":
            assert 0 <= metric.default_target.amber <= metric.default_target.green <= 1, metric.key


def test_declares_punctuality_and_paperwork_as_required_scored_questions():
    fields = kpi_form_fields()
    assert {field.key: field.type for field in fields} == QUESTIONS
    assert [field.key for field in fields] == list(QUESTIONS)
    for field in fields:
        assert field.required and field.weight > 0 and field.help_text, field.key


def test_widgets_show_only_the_plugins_own_kpis():
    widgets = kpi_widgets()
    assert widgets
    for widget in widgets:
        assert widget.key.startswith("timeliness.")
        assert widget.metrics and set(widget.metrics) <= set(KPIS), widget.key


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_compiles_to_sql_on_every_supported_database(key: str, dialect: str):
    metric: Metric = METRICS[key]
    ctx = metric_context()
    query = select(func.sum(metric.numerator(ctx)), func.sum(metric.denominator(ctx)), metric.period_column(ctx))

    sql = str(query.compile(dialect=DIALECTS[dialect]))

    assert sql.lower().count("sum(") == 2


@pytest.mark.parametrize(("dialect", "epoch"), [("sqlite", "julianday("), ("postgresql", "EXTRACT(EPOCH FROM")])
def test_arrival_delays_are_measured_in_seconds_on_each_database(dialect: str, epoch: str):
    numerator = METRICS["timeliness.on_time_arrival_rate"].numerator(metric_context())
    sql = literal_sql(numerator, dialect)
    assert epoch in sql
    assert str(15 * 60) in sql


def test_the_arrival_grace_period_is_a_plugin_setting():
    ctx = metric_context({"arrival_grace_minutes": 5})
    assert str(5 * 60) in literal_sql(METRICS["timeliness.on_time_arrival_rate"].numerator(ctx))


def test_the_budget_tolerance_is_a_plugin_setting():
    ctx = metric_context({"budget_tolerance": 0.25})
    allowed_seconds_per_estimated_minute = (1 + 0.25) * 60
    assert f"<= {allowed_seconds_per_estimated_minute} * jobs.estimated_minutes" in literal_sql(
        METRICS["timeliness.on_budget_rate"].numerator(ctx)
    )


def test_the_plugin_is_found_through_its_entry_point(tmp_path: Path):
    host = load_plugins(Settings.from_env({}, data_dir=tmp_path, secret_key="timeliness-plugin-test-secret-0123"))
    assert host.plugins["kpi_timeliness"].contributes == {
        "kpi_metrics": list(KPIS),
        "kpi_form_fields": list(QUESTIONS),
        "kpi_widgets": [widget.key for widget in kpi_widgets()],
        "kpi_settings": ["timeliness.arrival_grace_minutes", "timeliness.budget_tolerance"],
    }
