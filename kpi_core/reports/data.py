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
    """A KPI as a report shows it.

    ``source`` is what its sample counts (``jobs`` or ``evaluations``);
    ``min_sample`` the fewest of them a value needs for a green, amber or red
    status (None: not known); ``pending_reason`` why a fact may be left out as
    pending, in words (the metric's ``outcome_window_label``, e.g. "Callback
    window still open"), empty for a KPI whose facts are settled at once.
    """

    key: str
    label: str
    unit: str
    direction: str
    kind: str
    formula: str
    source: str = "jobs"
    min_sample: int | None = None
    pending_reason: str = ""
    version: int = 1
    fingerprint: str = ""
    """The definition fingerprint the report's values are computed with (a closed month's row names its own)."""

    @property
    def facts(self) -> str:
        """What the sample counts, in words ("jobs", "evaluations"): "too few jobs"."""
        return "evaluations" if self.source == "evaluations" else "jobs"


INSUFFICIENT = "insufficient"
"""The status of a value whose sample is below its KPI's minimum: shown as "too few jobs", never coloured."""


@dataclass(frozen=True)
class ValueRow:
    """One KPI value for one group and period, and how far it can be trusted: the values API's row.

    - ``status``: green, amber or red against the target; ``insufficient``
      where the sample is below the KPI's minimum ("too few jobs", no
      colour); None without a value or a target.
    - ``ci_low``/``ci_high``: the 95 % Wilson interval of a rate (None for
      means); ``certain``: whether it lies wholly inside the band of the
      status (False: borderline; None without an interval or a status).
    - ``period_end``: the period's end (exclusive local date; None where not
      known); ``complete``: whether it had ended when the report was made
      (else the value is "so far").
    - ``pending``: facts left out because their outcome was not known yet
      (a first-time fix whose callback window is open); ``provisional``:
      there are some, so the value can still change.
    - ``fingerprint``: the definition the value was computed with
      (:mod:`kpi_core.kpis.fingerprints`); ``closed``: the period is a closed
      month and the row is its snapshot, so a report made again later gives
      the same numbers (a restatement is not a report's: re-close to accept it).
    """

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
    period_end: date | None = None
    complete: bool = True
    provisional: bool = False
    pending: float = 0.0
    certain: bool | None = None
    fingerprint: str | None = None
    closed: bool = False


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
    amounts in it). ``complete`` says whether the range had ended when the
    report was made (``generated_at``): a range under way, such as
    ``month_to_date``, is reported "so far".
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
    complete: bool = True
    ranked_by_job_mix: bool = False
    """The scorecards' ranking is fair by job mix (the admins' setting ``core.rank_by_job_mix``)."""

    def rows(self, level: str | None = None) -> tuple[ValueRow, ...]:
        """Rows at ``level`` (the requested ``group_by`` by default)."""
        return tuple(self.values.get(level or self.group_by, ()))

    def metric(self, key: str) -> MetricInfo:
        for info in self.metrics:
            if info.key == key:
                return info
        raise KeyError(key)
