"""The KPI numbers of a technician's period, as an appraisal shows them beside its questions and keeps them.

Read through the KPI service's public answers only
(:func:`kpi_core.kpis.service.kpi_values` and
:func:`~kpi_core.kpis.service.scorecards_answer`), so an appraisal shows what
the dashboard shows: each KPI's value over the whole period (pooled), its
sample, its status against the target in force with the honest fields (the
period not over yet: ``complete`` false, "so far"; too few jobs:
``insufficient``; outcomes not known yet: ``provisional`` with ``pending``),
the target, the technician's scorecard score and the team's value.

The numbers are the ones the *technician* may see about themselves: the team's
value only where at least three of its technicians have one (so that it never
tells them a colleague's). The technician reads them on the evaluation later,
so the evaluator is shown the same. The caller checks that whoever asks may
see the technician.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import Scope
from kpi_core.errors import Invalid
from kpi_core.kpis import honest, service
from kpi_core.kpis import query as q
from kpi_core.kpis.cache import ResultCache
from kpi_core.kpis.ranges import local_today
from kpi_core.kpis.scorecards import DEFAULT_MIN_SAMPLE
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import Team, Technician
from kpi_core.storage.types import utcnow

SCORECARD_PERIOD = "month"
"""The calendar unit a scorecard over an appraisal's period compares with the window before (its ``period``)."""


@dataclass(frozen=True)
class NumbersSource:
    """Where the numbers come from: the KPI service as the API calls it (caches, clock, minimum samples)."""

    plugins: PluginHost
    zone: ZoneInfo
    now: datetime | None = None
    cache: ResultCache | None = None
    sums: ResultCache | None = None
    ttl: int = 86400
    min_sample: int = DEFAULT_MIN_SAMPLE
    status_min_sample: int = DEFAULT_STATUS_MIN_SAMPLE


def own_scope(technician_id: int) -> Scope:
    """What the technician may see about themselves: their own rows, and their team's values only where
    at least three of its technicians have one."""
    return Scope(Principal(user_id=0, username="", role="technician", technician_id=technician_id))


def period_numbers(
    session: Session, source: NumbersSource, technician_id: int, period_start: date, period_end: date
) -> dict[str, Any]:
    """The technician's KPI numbers over local dates ``period_start``..``period_end`` (both included), as
    JSON-ready data: the snapshot an evaluation or a self-appraisal keeps."""
    technician = session.get(Technician, technician_id)
    team = session.get(Team, technician.team_id) if technician is not None and technician.team_id else None
    now = source.now or utcnow()
    end = period_end + timedelta(days=1)
    scope = own_scope(technician_id)
    try:
        values = _values(session, source, technician_id, period_start, end, scope, now)
    except Invalid as exc:
        raise Invalid("period_end", f"The KPI numbers of this period cannot be read: {exc.message}") from None
    try:
        card = _scorecard(session, source, technician_id, period_start, end, scope, now)
    except Invalid:  # too long a period for a scorecard (its months): the numbers without a score
        card = None
    rows = {row["kpi"]: row for row in values.dicts() if row["group_id"] == str(technician_id)}
    listed = json.loads(card.body)["technicians"] if card is not None else []
    scorecard = next((row for row in listed if row["technician_id"] == technician_id), None)
    parts = {part["kpi"]: part for part in (scorecard or {}).get("contributions", [])}
    complete = end <= local_today(now, source.zone)
    return {
        "technician_id": technician_id,
        "technician": technician.name if technician is not None else None,
        "team_id": team.id if team is not None else None,
        "team": team.name if team is not None else None,
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "complete": complete,
        "taken_at": now.isoformat(),
        "score": scorecard["score"] if scorecard else None,
        "sample": scorecard["sample"] if scorecard else 0,
        "min_sample": source.min_sample,
        "unranked_reason": scorecard["unranked_reason"] if scorecard else None,
        "kpis": [
            _kpi(metric, rows.get(metric.key), parts.get(metric.key), complete)
            for metric in source.plugins.metrics.values()
        ],
    }


def _values(
    session: Session, source: NumbersSource, technician_id: int, start: date, end: date, scope: Scope, now: datetime
) -> service.ValuesAnswer:
    return service.kpi_values(
        session,
        source.plugins,
        q.KpiQuery(
            start=start,
            end=end,
            group_by="technician",
            period="range",
            filters=q.Filters(technicians=(technician_id,)),
        ),
        zone=source.zone,
        scope=scope,
        cache=source.cache,
        ttl=source.ttl,
        honesty=honest.Honesty(now=now, min_sample=source.status_min_sample),
        sums=source.sums,
    )


def _scorecard(
    session: Session, source: NumbersSource, technician_id: int, start: date, end: date, scope: Scope, now: datetime
) -> service.Answer:
    return service.scorecards_answer(
        session,
        source.plugins,
        start=start,
        end=end,
        period=SCORECARD_PERIOD,
        zone=source.zone,
        scope=scope,
        filters=q.Filters(technicians=(technician_id,)),
        min_sample=source.min_sample,
        cache=source.cache,
        ttl=source.ttl,
        status_min_sample=source.status_min_sample,
        now=now,
        sums=source.sums,
    )


def _kpi(metric: Any, row: dict[str, Any] | None, part: dict[str, Any] | None, complete: bool) -> dict[str, Any]:
    """One KPI of the snapshot: the values row's fields, with the scorecard's target, points and team value."""
    row = row or {}
    part = part or {}
    return {
        "kpi": metric.key,
        "label": metric.label,
        "unit": metric.unit,
        "direction": metric.direction,
        "source": metric.source,
        "value": row.get("value"),
        "numerator": row.get("numerator", 0.0),
        "denominator": row.get("denominator", 0.0),
        "ci_low": row.get("ci_low"),
        "ci_high": row.get("ci_high"),
        "status": row.get("status"),
        "certain": row.get("certain"),
        "complete": row.get("complete", complete),
        "provisional": row.get("provisional", False),
        "pending": row.get("pending", 0),
        "provisional_note": metric.outcome_window_label if row.get("provisional") else None,
        "target": part.get("target"),
        "weight": part.get("weight"),
        "points": part.get("points"),
        "team_value": part.get("team_value"),
    }
