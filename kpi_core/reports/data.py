"""The report-data object every report format renders.

Built by the report engine from the KPI engine's answers (the same numbers
the API gives) and handed to a format's ``render(report, stream)``. Plain
frozen dataclasses, so a format needs nothing else from the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

GROUP_LEVELS = ("company", "team", "technician", "category")


@dataclass(frozen=True)
class MetricInfo:
    """A KPI as a report shows it."""

    key: str
    label: str
    unit: str
    direction: str
    kind: str
    formula: str


@dataclass(frozen=True)
class ValueRow:
    """One KPI value for one group and period (``status``: green, amber, red or None)."""

    kpi: str
    group_id: str
    group_label: str
    period_start: date
    value: float | None
    numerator: float
    denominator: float
    ci_low: float | None = None
    ci_high: float | None = None
    status: str | None = None


@dataclass(frozen=True)
class ScorecardRow:
    """A technician's composite score (0-100) over the report's range, with rank."""

    technician_id: str
    technician_label: str
    team_label: str | None
    score: float | None
    rank: int | None
    sample: int
    unranked_reason: str | None = None
    contributions: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationSummary:
    """Managers' evaluations of one technician within the report's range."""

    technician_id: str
    count: int
    mean_score: float | None
    latest_comment: str | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows.

    ``values`` holds rows for each group level the report covers (always the
    requested ``group_by``; PDF reports also ask for ``company``, ``team``
    and ``technician``). Periods run from ``start`` (inclusive) to ``end``
    (exclusive) in ``timezone``.

    ``scope`` names, in words, what the report covers: ``"Company"``, or the
    teams or technicians it is limited to (``"North team"``, ``"North and
    South teams"``), by its filters or by what its requester may see; the
    ``company`` level's rows carry it as their ``group_label``. ``filters``
    maps ``team``, ``technician`` and ``category`` to the names they keep
    (a manager's report names the manager's teams even when none was
    chosen). ``currency`` is the company's ISO 4217 code, for values whose
    metric unit is ``"currency"`` (``kpi_core.currencies`` rounds and writes
    amounts in it).
    """

    title: str
    generated_at: datetime
    timezone: str
    group_by: str
    period: str
    start: date
    end: date
    metrics: tuple[MetricInfo, ...]
    values: Mapping[str, tuple[ValueRow, ...]]
    filters: Mapping[str, Any] = field(default_factory=dict)
    scorecards: tuple[ScorecardRow, ...] = ()
    evaluations: tuple[EvaluationSummary, ...] = ()
    scope: str = "Company"
    currency: str = "USD"

    def rows(self, level: str | None = None) -> tuple[ValueRow, ...]:
        """Rows at ``level`` (the requested ``group_by`` by default)."""
        return tuple(self.values.get(level or self.group_by, ()))

    def metric(self, key: str) -> MetricInfo:
        for info in self.metrics:
            if info.key == key:
                return info
        raise KeyError(key)
