"""What a report asks for, validated whole: the one check behind the API and report schedules.

A spec is plain JSON (it is stored in ``report_runs.spec`` and in a
schedule's ``report_spec``)::

    {"format": "pdf", "title": "March review", "kpis": [...], "group_by": "technician",
     "period": "month", "start": "2026-03-01", "end": "2026-04-01",
     "filters": {"team": [1], "technician": [], "category": ["plumbing"]}}

Instead of ``start``/``end``, ``last_periods: N`` asks for the N complete
periods before today (in the company time zone), which is what a schedule
wants: a monthly schedule with ``{"period": "month", "last_periods": 1}``
reports on the month just ended each time it fires. ``range`` (``last_30_days``,
``month_to_date``, ... as :mod:`kpi_core.kpis.ranges` lists them) is resolved
the same way, on the day the report is made. Every problem is an
:class:`~kpi_core.errors.Invalid` naming the field (with ``prefix``, e.g.
``report_spec.format`` for a schedule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi_core.errors import Invalid
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.periods import MAX_PERIODS, PERIODS, period_floor
from kpi_core.kpis.query import GROUP_BYS, Filters, KpiQuery, validate_grid
from kpi_core.kpis.ranges import RANGES, resolve_range
from kpi_core.plugins import PluginHost

FIELDS = ("format", "title", "kpis", "group_by", "period", "start", "end", "last_periods", "range", "filters")
FILTER_FIELDS = ("team", "technician", "category")
TITLE_LENGTH = 200
DEFAULT_TITLE = "KPI report"
MAX_FILTER_ITEMS = 500


@dataclass(frozen=True)
class ReportSpec:
    """A validated report request; ``start``/``end`` are local dates, end exclusive."""

    format: str
    title: str
    kpis: tuple[str, ...]
    group_by: str
    period: str
    start: date
    end: date
    filters: Filters = field(default_factory=Filters)

    @property
    def query(self) -> KpiQuery:
        """The KPI engine's query for the requested ``group_by`` level."""
        return KpiQuery(self.start, self.end, self.kpis, self.group_by, self.period, self.filters)

    def to_json(self) -> dict[str, Any]:
        """The spec as stored and answered: resolved dates, every KPI key named."""
        return {
            "format": self.format,
            "title": self.title,
            "kpis": list(self.kpis),
            "group_by": self.group_by,
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "filters": {
                "team": list(self.filters.teams),
                "technician": list(self.filters.technicians),
                "category": list(self.filters.categories),
            },
        }


def available_formats(plugins: PluginHost) -> str:
    return ", ".join(sorted(plugins.report_formats)) or "none (no report format plugin is loaded)"


def parse_spec(
    raw: Any, plugins: PluginHost, zone: ZoneInfo, *, today: date, prefix: str = "", week_start: int = 0
) -> ReportSpec:
    """Validate ``raw`` (JSON data, or the API's already typed body) into a :class:`ReportSpec`.

    ``today`` is the company's local date, which ``last_periods`` counts back from and ``range`` is
    resolved on (weeks starting on weekday ``week_start``, Monday 0).
    """
    name = _namer(prefix)
    if not isinstance(raw, Mapping):
        raise Invalid(prefix or "spec", "must be a JSON object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise Invalid(name(unknown[0]), f"unknown field; a report spec takes {', '.join(FIELDS)}")
    report_format = _text(raw.get("format"), name("format"), required=True)
    if report_format not in plugins.report_formats:
        raise Invalid(name("format"), f"unknown format {report_format!r}; available: {available_formats(plugins)}")
    title = " ".join(_text(raw.get("title", DEFAULT_TITLE), name("title"), required=True).split())
    if not title or len(title) > TITLE_LENGTH:
        raise Invalid(name("title"), f"must be 1 to {TITLE_LENGTH} characters")
    group_by = _choice(raw.get("group_by", "technician"), GROUP_BYS, name("group_by"))
    period = _choice(raw.get("period", "month"), PERIODS, name("period"))
    kpis = tuple(_items(raw.get("kpis"), str, name("kpis")))
    try:
        metrics = resolve_metrics(plugins, kpis)
    except Invalid as exc:
        raise Invalid(name("kpis"), exc.message) from None
    start, end = _range(raw, period, today, name, week_start)
    spec = ReportSpec(
        format=report_format,
        title=title,
        kpis=tuple(metric.key for metric in metrics),
        group_by=group_by,
        period=period,
        start=start,
        end=end,
        filters=_filters(raw.get("filters"), name),
    )
    try:
        validate_grid(spec.query, zone)
    except Invalid as exc:
        raise Invalid(name(exc.field), exc.message) from None
    return spec


def _namer(prefix: str) -> Any:
    return lambda field_name: f"{prefix}.{field_name}" if prefix else field_name


def _text(value: Any, field_name: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(field_name, "must be a non-empty string")
    return value


def _choice(value: Any, choices: tuple[str, ...], field_name: str) -> str:
    if value not in choices:
        raise Invalid(field_name, f"must be one of {', '.join(choices)}")
    return str(value)


def _items(value: Any, kind: type, field_name: str) -> list[Any]:
    """A JSON list of ``kind`` (absent or null: empty), at most MAX_FILTER_ITEMS long."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > MAX_FILTER_ITEMS:
        raise Invalid(field_name, f"must be a list of at most {MAX_FILTER_ITEMS} items")
    for item in value:
        # bool is an int in Python, never an id in JSON.
        if not isinstance(item, kind) or isinstance(item, bool):
            raise Invalid(field_name, f"every item must be {'an integer id' if kind is int else 'a string'}")
        if kind is int and item < 1:
            raise Invalid(field_name, "ids are positive integers")
        if kind is str and not 1 <= len(item.strip()) <= 64:
            raise Invalid(field_name, "items must be 1 to 64 characters")
    return list(dict.fromkeys(value))


def _date(value: Any, field_name: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(field_name, "must be a date like 2026-03-01")


def _range(raw: Mapping[str, Any], period: str, today: date, name: Any, week_start: int = 0) -> tuple[date, date]:
    """``start``/``end`` as given, the ``last_periods`` complete periods before ``today``, or ``range``."""
    relative = raw.get("range")
    if relative is not None:
        others = [key for key in ("start", "end", "last_periods") if raw.get(key) is not None]
        if others or relative not in RANGES:
            raise Invalid(
                name("range"),
                ("give either range, last_periods, or start and end; " if others else f"unknown range {relative!r}; ")
                + f"range is one of {', '.join(RANGES)}",
            )
        found = resolve_range(relative, today, week_start)
        return found.start, found.end
    last = raw.get("last_periods")
    if last is None:
        for required in ("start", "end"):
            if raw.get(required) is None:
                raise Invalid(name(required), "is required (or give last_periods instead of start and end)")
        return _date(raw["start"], name("start")), _date(raw["end"], name("end"))
    if raw.get("start") is not None or raw.get("end") is not None:
        raise Invalid(name("last_periods"), "give either last_periods or start and end, not both")
    if not isinstance(last, int) or isinstance(last, bool) or not 1 <= last <= MAX_PERIODS:
        raise Invalid(name("last_periods"), f"must be a whole number from 1 to {MAX_PERIODS}")
    end = period_floor(today, period)
    start = end
    for _ in range(last):
        start = period_floor(start - timedelta(days=1), period)
    return start, end


def _filters(value: Any, name: Any) -> Filters:
    if value is None:
        return Filters()
    if not isinstance(value, Mapping):
        raise Invalid(name("filters"), "must be an object with team, technician and category lists")
    unknown = sorted(set(value) - set(FILTER_FIELDS))
    if unknown:
        raise Invalid(name(f"filters.{unknown[0]}"), f"unknown filter; filters are {', '.join(FILTER_FIELDS)}")
    return Filters(
        teams=tuple(_items(value.get("team"), int, name("filters.team"))),
        technicians=tuple(_items(value.get("technician"), int, name("filters.technician"))),
        categories=tuple(c.strip().lower() for c in _items(value.get("category"), str, name("filters.category"))),
    )
