"""The built-in job that warms the KPI cache with what the dashboard asks first each morning.

It computes every KPI by technician, team and company per month over the last
twelve months (and the current one) for the whole company and for each set of
teams a manager manages, through the same cached path the API uses, so the
first dashboard of the day is answered from the cache. Entries whose data did
not change since the last run are already there and cost only a lookup.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.periods import next_period_start
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import User, team_managers

GROUPS = ("technician", "team", "company")
MONTHS_BACK = 12


def refresh_kpi_cache(context: JobContext, months: int = MONTHS_BACK) -> dict[str, Any]:
    """Warm the cache; ``months`` full months back plus the current one."""
    cache = shared_cache(context.settings)
    if cache is None or context.plugins is None:
        return {"warmed": 0, "skipped": "the KPI cache is off (KPI_CACHE_TTL=0)"}
    zone = context.settings.zone
    today = datetime.now(zone).date()
    end = next_period_start(today.replace(day=1), "month")
    start = _months_before(today.replace(day=1), months)
    warmed = computed = 0
    with Session(context.engine) as session:
        scopes = [UNSCOPED, *_manager_scopes(session)]
        total = len(scopes) * len(GROUPS)
        for scope in scopes:
            for group_by in GROUPS:
                query = KpiQuery(start=start, end=end, group_by=group_by, period="month")
                answer = service.kpi_values(
                    session,
                    context.plugins,
                    query,
                    zone=zone,
                    scope=scope,
                    cache=cache,
                    ttl=context.settings.cache_ttl,
                    # As the API asks, so that the warmed answers are the ones it reads.
                    honesty=Honesty(
                        week_start=context.settings.week_start_day, min_sample=context.settings.status_min_sample
                    ),
                )
                warmed += 1
                computed += 0 if answer.cached else 1
                context.progress(100 * warmed // total, f"{warmed} of {total} dashboard queries")
    return {"warmed": warmed, "computed": computed, "start": start.isoformat(), "end": end.isoformat()}


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
