"""A report's rows indexed by level, group, KPI and period, as formatted KPI lines.

A line is one KPI for one group (the company, a team, a technician): its
value over the whole range, its latest periods with their target status,
and optionally its trend chart. Values over the whole range pool numerators
and denominators, as the KPI engine does: a range's rate is never a mean of
its periods' rates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from reports_pdf import formatting as fmt
from reports_pdf.charts import ChartPoint, embed, line_chart

if TYPE_CHECKING:
    from kpi_core.reports.data import MetricInfo, ReportData, ValueRow

STATUSES = ("green", "amber", "red")
RECENT_PERIODS = 3
"""How many of the latest periods a line keeps beside the whole range."""


@dataclass(frozen=True)
class Cell:
    """A formatted value and its target status (one of STATUSES, or None)."""

    text: str
    status: str | None = None

    @property
    def missing(self) -> bool:
        """No value in this period: shown as a plain dash, never as a zero."""
        return self.text == fmt.MISSING


@dataclass(frozen=True)
class MetricView:
    key: str
    label: str
    unit: str
    direction: str
    formula: str


@dataclass(frozen=True)
class KpiLine:
    """One KPI for one group: whole-range value, latest periods, trend chart."""

    metric: MetricView
    whole: str
    sample: str
    recent: tuple[Cell, ...]
    chart: Markup | None = None
    contribution: str = fmt.MISSING

    @property
    def latest(self) -> Cell:
        """The last period's value, or a dash in a report without periods."""
        return self.recent[-1] if self.recent else Cell(fmt.MISSING)


@dataclass(frozen=True)
class GroupView:
    """A group (the company, a team) with a line per KPI."""

    id: str
    label: str
    kpis: tuple[KpiLine, ...]


def periods_of(report: ReportData) -> list[date]:
    """Every period start in the report, from the rows of all levels.

    ReportData does not list its periods, so a period with no row at any
    level cannot be shown.
    """
    return sorted({row.period_start for rows in report.values.values() for row in rows})


def metric_view(info: MetricInfo, currency: str = "USD") -> MetricView:
    unit = fmt.unit_name(info.unit, currency)
    direction = "↑ higher is better" if info.direction == "higher" else "↓ lower is better"
    return MetricView(info.key, info.label, unit, direction, info.formula)


class Series:
    """The report's rows indexed by level, group, KPI and period."""

    def __init__(self, report: ReportData) -> None:
        self.periods = periods_of(report)
        self.currency = report.currency
        self.metrics = tuple(metric_view(info, report.currency) for info in report.metrics)
        self.units = {info.key: info.unit for info in report.metrics}
        self.ticks = [fmt.period_tick(p, report.period, i == 0) for i, p in enumerate(self.periods)]
        self.index: dict[str, dict[str, dict[str, dict[date, ValueRow]]]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        for level, rows in report.values.items():
            groups: dict[str, dict[str, dict[date, ValueRow]]] = defaultdict(lambda: defaultdict(dict))
            labels: dict[str, str] = {}
            for row in rows:
                groups[row.group_id][row.kpi][row.period_start] = row
                labels.setdefault(row.group_id, row.group_label)
            self.index[level], self.labels[level] = groups, labels

    def group_ids(self, level: str) -> list[str]:
        return list(self.labels.get(level, {}))

    def label(self, level: str, group_id: str) -> str | None:
        return self.labels.get(level, {}).get(group_id)

    def groups(self, level: str, *, chart: Mapping[str, Any] | None) -> list[GroupView]:
        views = [
            GroupView(group_id, label, self.kpis(level, group_id, chart=chart))
            for group_id, label in self.labels.get(level, {}).items()
        ]
        return sorted(views, key=lambda view: view.label.casefold())

    def kpis(
        self,
        level: str,
        group_id: str,
        *,
        chart: Mapping[str, Any] | None,
        contributions: Mapping[str, float | None] | None = None,
    ) -> tuple[KpiLine, ...]:
        by_kpi = self.index.get(level, {}).get(group_id, {})
        return tuple(self._line(metric, by_kpi.get(metric.key, {}), chart, contributions) for metric in self.metrics)

    def _line(
        self,
        metric: MetricView,
        by_period: Mapping[date, ValueRow],
        chart_options: Mapping[str, Any] | None,
        contributions: Mapping[str, float | None] | None,
    ) -> KpiLine:
        unit = self.units[metric.key]
        rows = list(by_period.values())
        numerator = sum(row.numerator for row in rows if row.denominator)
        denominator = sum(row.denominator for row in rows if row.denominator)
        pooled = numerator / denominator if denominator else None
        recent = tuple(self._cell(by_period.get(p), unit) for p in self.periods[-RECENT_PERIODS:])
        chart = None
        if chart_options is not None:
            points = [
                ChartPoint(tick, *_value_status(by_period.get(p)))
                for tick, p in zip(self.ticks, self.periods, strict=True)
            ]
            chart = embed(line_chart(points, unit=unit, **chart_options), f"Trend of {metric.label}")
        contribution = fmt.format_number((contributions or {}).get(metric.key))
        return KpiLine(
            metric,
            fmt.format_value(pooled, unit, self.currency),
            fmt.format_number(denominator, 0),
            recent,
            chart,
            contribution,
        )

    def _cell(self, row: ValueRow | None, unit: str) -> Cell:
        value, status = _value_status(row)
        return Cell(fmt.format_value(value, unit, self.currency), status)


def _value_status(row: ValueRow | None) -> tuple[float | None, str | None]:
    if row is None:
        return None, None
    # Only known statuses reach the templates, where they become CSS classes.
    return row.value, row.status if row.status in STATUSES else None
