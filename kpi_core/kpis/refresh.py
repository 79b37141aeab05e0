"""The built-in job that warms the KPI cache with what the dashboard asks first each morning.

It computes every KPI by technician, team and company per month over the last
twelve months (and the current one), and what the default dashboard asks when
opened (its cards, its per-technician widgets and its leaderboard over the last
six whole months, :func:`default_dashboard_asks`), for the whole company and
for each set of teams a manager manages, through the same cached path the API
uses, so the first dashboard of the day is answered from the cache. Entries whose data did
not change since the last run are already there and cost only a lookup.

Each month's sums go to the front cache and to the database
(:mod:`kpi_core.kpis.persisted`). It also runs a moment after an import or an
edit commits (:mod:`kpi_core.kpis.after_writes`), given the ``touched`` data
versions: it then does nothing unless they fall in the dashboard's months, and
recomputes those months only (the others' sums are read).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.config import Settings
from kpi_core.dashboards.layout import default_layout
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.periods import next_period_start
from kpi_core.kpis.persisted import sums_cache
from kpi_core.kpis.query import KpiQuery
from kpi_core.plugins import PluginHost
from kpi_core.storage import versions
from kpi_core.storage.models import User, team_managers

GROUPS = ("technician", "team", "company")
MONTHS_BACK = 12


def refresh_kpi_cache(
    context: JobContext, months: int = MONTHS_BACK, touched: list[str] | None = None
) -> dict[str, Any]:
    """Warm the cache; ``months`` full months back plus the current one. ``touched``: the data versions
    a write bumped (``YYYY-MM``, ``YYYY-MM-DD`` or ``*``); none of them in those months, nothing to do."""
    cache = shared_cache(context.settings)
    if cache is None or context.plugins is None:
        return {"warmed": 0, "skipped": "the KPI cache is off (KPI_CACHE_TTL=0)"}
    zone = context.settings.zone
    today = datetime.now(zone).date()
    start, end = dashboard_window(today, months)
    if touched is not None and not touches(touched, start, end):
        return {"warmed": 0, "skipped": "no change in the dashboard's months", "start": start.isoformat()}
    sums = sums_cache(context.settings, context.engine)
    plugins, settings = context.plugins, context.settings
    # As the API asks, so that the warmed answers are the ones it reads.
    honesty = Honesty(week_start=settings.week_start_day, min_sample=settings.status_min_sample)
    common = {"zone": zone, "cache": cache, "ttl": settings.cache_ttl, "sums": sums}
    asks: list[Ask] = [
        lambda session, scope, group_by=group_by: service.kpi_values(
            session, plugins, KpiQuery(start=start, end=end, group_by=group_by, period="month"), scope=scope,
            honesty=honesty, **common,
        )
        for group_by in GROUPS
    ]  # fmt: skip
    opened = default_dashboard_asks(plugins, settings, today, common)
    warmed = computed = months_computed = 0
    with Session(context.engine) as session:
        scopes = [UNSCOPED, *_manager_scopes(session)]
        total = len(scopes) * (len(asks) + len(opened))
        for scope in scopes:
            for ask in [*asks, *opened]:
                answer = ask(session, scope)
                warmed += 1
                computed += 0 if answer.cached else 1
                months_computed += answer.months_computed
                context.progress(100 * warmed // total, f"{warmed} of {total} dashboard queries")
    if sums is not None:
        sums.back.flush()  # finished means persisted: the next process reads them
    return {
        "warmed": warmed,
        "computed": computed,
        "months_computed": months_computed,
        "default_dashboard": len(opened) * len(scopes),
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


Ask = Callable[[Session, Scope], service.Answer]
OPENED_MONTHS = 6
"""The default dashboard's range: the last six whole months (frontend/src/filters.ts, defaultFilters)."""


def default_dashboard_asks(plugins: PluginHost, settings: Settings, today: date, common: dict[str, Any]) -> list[Ask]:
    """What the default dashboard asks when opened (frontend/src/widgets/data.ts), for its default layout:
    the cards' KPIs by company compared with the period before, the heatmap's and table's KPIs by
    technician, and the leaderboard's scorecards, each by month over the last six whole months."""
    widgets = [plugins.widgets[item["widget"]] for item in default_layout(plugins)]
    cards = tuple(dict.fromkeys(key for widget in widgets for key in widget.metrics))
    grid = tuple(dict.fromkeys(key for w in widgets if w.type in ("heatmap", "table") for key in w.metrics))
    end = today.replace(day=1)
    start = _months_before(end, OPENED_MONTHS)
    honesty = Honesty(week_start=settings.week_start_day, min_sample=settings.status_min_sample)
    asks: list[Ask] = []
    for kpis, group_by, compare in ((cards, "company", ("previous",)), (grid, "technician", ())):
        if kpis:
            query = KpiQuery(start=start, end=end, kpis=kpis, group_by=group_by, period="month")
            asked = replace(honesty, compare=compare)
            asks.append(
                lambda session, scope, query=query, asked=asked: service.kpi_values(
                    session, plugins, query, scope=scope, honesty=asked, **common
                )
            )
    if any(widget.type == "leaderboard" for widget in widgets):
        asks.append(
            lambda session, scope: service.scorecards_answer(
                session, plugins, start=start, end=end, period="month", scope=scope, min_sample=settings.min_sample,
                status_min_sample=settings.status_min_sample, **common,
            )
        )  # fmt: skip
    return asks


def touches(keys: Collection[str], start: date, end: date) -> bool:
    """Whether data versions ``keys`` (months, edge days, ``*``) meet the local months [start, end)."""
    # A UTC month or day may hold the last hours of the local month before it: one month of margin.
    low = _months_before(start, 1).isoformat()[:7]
    high = end.isoformat()[:7]
    return any(key == versions.EVERYTHING or low <= key[:7] <= high for key in keys)


def dashboard_window(today: date, months: int = MONTHS_BACK) -> tuple[date, date]:
    """The local months [start, end) the dashboard's questions cover: ``months`` back and the current one."""
    first = today.replace(day=1)
    return _months_before(first, months), next_period_start(first, "month")


def _months_before(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _manager_scopes(session: Session) -> list[Scope]:
    """One scope per distinct set of teams that an active manager manages."""
    teams_of: dict[int, set[int]] = {}
    rows = session.execute(
        select(User.id, team_managers.c.team_id)
        .join(team_managers, team_managers.c.user_id == User.id)
        .where(User.role == "manager", User.disabled.is_(False))
    )
    for user_id, team_id in rows:
        teams_of.setdefault(user_id, set()).add(team_id)
    distinct = {frozenset(teams) for teams in teams_of.values()}
    return [Scope(Principal(0, "cache", "manager", None, teams)) for teams in sorted(distinct, key=sorted)]
