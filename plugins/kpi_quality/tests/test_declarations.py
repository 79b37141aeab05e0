"""What the quality plugin declares: its KPIs, evaluation questions and widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from kpi_quality import kpi_form_fields, kpi_metrics, kpi_widgets
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from kpi_core.config import Settings
from kpi_core.declarations import Metric
from kpi_core.kpis.context import metric_context
from kpi_core.plugins import load_plugins

KPIS = {
    # key: (direction, kind, unit, source)
    "quality.first_time_fix_rate": ("higher", "rate", "ratio", "jobs"),
    "quality.avg_customer_rating": ("higher", "mean", "stars", "jobs"),
    "quality.complaint_rate": ("lower", "rate", "ratio", "jobs"),
    "quality.evaluation_score": ("higher", "mean", "points", "evaluations"),
}
QUESTIONS = ("quality.workmanship", "quality.cleanliness", "quality.communication", "quality.safety")
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
METRICS = {metric.key: metric for metric in kpi_metrics()}


def test_declares_exactly_the_four_quality_kpis():
    assert [metric.key for metric in kpi_metrics()] == list(KPIS)


@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_has_its_direction_kind_unit_and_source(key: str):
    metric = METRICS[key]
    assert (metric.direction, metric.kind, metric.unit, metric.source) == KPIS[key]


@pytest.mark.parametrize("key", KPIS)
def test_each_kpi_has_a_scored_default_target(key: str):
    target = METRICS[key].default_target
    assert target is not None and target.weight > 0


def test_rates_have_thresholds_between_0_and_1_and_ratings_between_1_and_5():
    for metric in METRICS.values():
        target = metric.default_target
        assert target is not None
        low, high = {"ratio": (0, 1), "stars": (1, 5), "points": (0, 100)}[metric.unit]
        assert low <= target.amber <= high and low <= target.green <= high, metric.key


def test_declares_the_four_evaluation_questions_as_required_scored_ratings():
    fields = kpi_form_fields()
    assert [field.key for field in fields] == list(QUESTIONS)
    for field in fields:
        assert (field.type, field.required) == ("rating", True), field.key
        assert field.weight > 0 and field.help_text, field.key


def test_widgets_show_only_the_plugins_own_kpis():
    widgets = kpi_widgets()
    assert widgets
    for widget in widgets:
        assert widget.key.startswith("quality.")
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
def test_the_callback_window_is_measured_in_seconds_on_each_database(dialect: str, epoch: str):
    ctx = metric_context()
    numerator = METRICS["quality.first_time_fix_rate"].numerator(ctx)

    sql = str(select(func.sum(numerator)).compile(dialect=DIALECTS[dialect], compile_kwargs={"literal_binds": True}))

    assert epoch in sql
    assert str(30 * 86400) in sql


def test_the_callback_window_is_a_plugin_setting():
    ctx = metric_context({"callback_window_days": 7})
    numerator = METRICS["quality.first_time_fix_rate"].numerator(ctx)

    sql = str(select(func.sum(numerator)).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))

    assert str(7 * 86400) in sql


def test_the_plugin_is_found_through_its_entry_point(tmp_path: Path):
    host = load_plugins(Settings.from_env({}, data_dir=tmp_path, secret_key="quality-plugin-test-secret-key-0123"))
    assert host.plugins["kpi_quality"].contributes == {
        "kpi_metrics": list(KPIS),
        "kpi_form_fields": list(QUESTIONS),
        "kpi_widgets": [widget.key for widget in kpi_widgets()],
        "kpi_settings": ["quality.callback_window_days"],
        "kpi_alert_rules": ["quality.first_time_fix_clearly_red", "quality.callback_disputed"],
    }
