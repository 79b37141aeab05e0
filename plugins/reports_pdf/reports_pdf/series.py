"""A report's rows indexed by level, group, KPI and period, as formatted KPI lines.

A line is one KPI for one group (the company, a team, a technician): its
value over the whole range, its latest periods with their target status,
and optionally its trend chart. Values over the whole range pool numerators
and denominators, as the KPI engine does: a range's rate is never a mean of
its periods' rates.

Each value says how far it can be trusted, from the host's row: a status
below the KPI's minimum sample is "too few jobs" and gets no colour, a
status whose 95 % interval crosses a threshold is "borderline", a rate
shows its margin ("± 3.3 pp"), and a provisional value (facts still
pending, e.g. inside the callback window) carries a note that a section
numbers as a footnote (:class:`Footnotes`). The whole range is provisional
when any of its periods is, with their pending facts added up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from reports_pdf import formatting as fmt
from reports_pdf.charts import ChartPoint, embed, line_chart

if TYPE_CHECKING:
    from kpi_core.reports.data import MetricInfo, ReportData, ValueRow

STATUSES = ("green", "amber", "red")
"""The statuses a badge is coloured by."""
SHOWN_STATUSES = (*STATUSES, fmt.INSUFFICIENT)
"""The statuses that reach the templates (as CSS classes): the colours, and "too few jobs" without one."""
RECENT_PERIODS = 3
"""How many of the latest periods a line keeps beside the whole range."""


@dataclass(frozen=True)
class Cell:
    """A formatted value and how far it can be trusted.

    ``status`` is one of STATUSES (a coloured badge), ``insufficient`` (too
    few jobs: no colour) or None; ``margin`` a rate's "± 3.3 pp";
    ``caption`` "too few jobs" or "borderline"; ``note`` the footnote of a
    provisional value, and ``mark`` its footnote mark once a section has
    numbered it.
    """

    text: str
    status: str | None = None
    margin: str = ""
    caption: str = ""
    note: str = ""
    mark: str = ""

    @property
    def missing(self) -> bool:
        """No value in this period: shown as a plain dash, never as a zero."""
        return self.text == fmt.MISSING

    @property
    def detail(self) -> str:
        """The small print under a badge: "± 3.3 pp · borderline"."""
        return " \u00b7 ".join(part for part in (self.margin, self.caption) if part)


@dataclass(frozen=True)
class MetricView:
    key: str
    label: str
    unit: str
    direction: str
    formula: str
    facts: str = "jobs"
    minimum: str = fmt.MISSING
    """The sample a status needs, in words ("10 jobs"), or a dash where not known."""
    definition: str = ""
    """Which definition computed the values: "version 1 · 9b5bb95325799291" (the definition fingerprint)."""


@dataclass(frozen=True)
class KpiLine:
    """One KPI for one group: whole-range value, latest periods, trend chart.

    ``whole_note`` is the footnote of a provisional whole range, ``whole_mark`` its mark.
    """

    metric: MetricView
    whole: str
    sample: str
    recent: tuple[Cell, ...]
    chart: Markup | None = None
    contribution: str = fmt.MISSING
    whole_note: str = ""
    whole_mark: str = ""

    @property
    def latest(self) -> Cell:
        """The last period's value, or a dash in a report without periods."""
        return self.recent[-1] if self.recent else Cell(fmt.MISSING)


@dataclass(frozen=True)
class Footnote:
    mark: str
    text: str


class Footnotes:
    """The footnotes of one section: each different note gets the next mark (¹, ², ...), in the order
    the values are marked; values with the same note share its mark."""

    def __init__(self) -> None:
        self._marks: dict[str, str] = {}

    def mark(self, note: str) -> str:
        """The mark of ``note`` ("" for no note)."""
        if not note:
            return ""
        return self._marks.setdefault(note, fmt.mark(len(self._marks) + 1))

    @property
    def lines(self) -> tuple[Footnote, ...]:
        return tuple(Footnote(mark, note) for note, mark in self._marks.items())

    def marked(self, line: KpiLine, periods: int = RECENT_PERIODS, *, whole_first: bool = True) -> KpiLine:
        """``line`` with its provisional values marked in the order a reader meets them: the whole range
        and the last ``periods`` periods (the whole range first, or last where it is printed under them)."""
        whole_mark = self.mark(line.whole_note) if whole_first else ""
        first = len(line.recent) - periods
        recent = tuple(
            replace(cell, mark=self.mark(cell.note)) if index >= first else cell
            for index, cell in enumerate(line.recent)
        )
        return replace(line, whole_mark=whole_mark or self.mark(line.whole_note), recent=recent)


@dataclass(frozen=True)
class GroupView:
    """A group (the company, a team) with a line per KPI."""

    id: str
    label: str
    kpis: tuple[KpiLine, ...]
    notes: tuple[Footnote, ...] = ()
    """The footnotes of its provisional values, where it has a section of its own (the summary)."""


def periods_of(report: ReportData) -> list[date]:
    """Every period start in the report, from the rows of all levels.

    ReportData does not list its periods, so a period with no row at any
    level cannot be shown.
    """
    return sorted({row.period_start for rows in report.values.values() for row in rows})


def metric_view(info: MetricInfo, currency: str = "USD") -> MetricView:
    unit = fmt.unit_name(info.unit, currency)
    direction = "↑ higher is better" if info.direction == "higher" else "↓ lower is better"
    facts = info.facts
    minimum = fmt.MISSING if info.min_sample is None else f"{fmt.format_count(info.min_sample)} {facts}"
    definition = f"version {info.version} \u00b7 {info.fingerprint}" if info.fingerprint else f"version {info.version}"
    return MetricView(info.key, info.label, unit, direction, info.formula, facts, minimum, definition)


class Series:
    """The report's rows indexed by level, group, KPI and period."""

    def __init__(self, report: ReportData) -> None:
        self.periods = periods_of(report)
        self.currency = report.currency
        self.metrics = tuple(metric_view(info, report.currency) for info in report.metrics)
        self.units = {info.key: info.unit for info in report.metrics}
        self.reasons = {info.key: info.pending_reason for info in report.metrics}
        self.period = report.period
        # A period is under way if any of its rows says so (they all do: it is the same period).
        self.complete = {p: True for p in self.periods}
        for rows in report.values.values():
            for row in rows:
                if not row.complete:
                    self.complete[row.period_start] = False
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

    def period_label(self, start: date) -> str:
        """The period's name, with "so far" while it is under way."""
        return fmt.period_label_so_far(start, self.period, self.complete.get(start, True))

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
        pending = sum(row.pending for row in rows)
        recent = tuple(self._cell(by_period.get(p), metric) for p in self.periods[-RECENT_PERIODS:])
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
            whole_note=self._pending_note(metric, pending, pooled is not None),
        )

    def _cell(self, row: ValueRow | None, metric: MetricView) -> Cell:
        if row is None:
            return Cell(fmt.MISSING)
        unit = self.units[metric.key]
        status = row.status if row.status in SHOWN_STATUSES else None
        return Cell(
            fmt.format_value(row.value, unit, self.currency),
            status,
            margin=fmt.format_margin(row.value, row.ci_low, row.ci_high, unit),
            caption=fmt.status_caption(status, row.certain, metric.facts),
            note=self._pending_note(metric, row.pending, row.value is not None),
        )

    def _pending_note(self, metric: MetricView, pending: float, has_value: bool) -> str:
        if pending <= 0:
            return ""
        return fmt.pending_note(pending, metric.facts, self.reasons.get(metric.key, ""), has_value)


def _value_status(row: ValueRow | None) -> tuple[float | None, str | None]:
    if row is None:
        return None, None
    # Only colours reach the charts: a value on too few jobs is drawn grey, like one without a target.
    return row.value, row.status if row.status in STATUSES else None
