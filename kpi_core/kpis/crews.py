"""How job KPIs credit a crew: the ``core.crew_credit`` setting and the credit it gives each group.

A job's crew is in ``job_assignments`` (:mod:`kpi_core.records.crews`). The rule decides who a
job's facts count for:

- ``each``: every technician on the crew counts the job fully;
- ``share``: each technician counts their share of the job (numerator and denominator weighted);
- ``lead``: only the lead counts it (``jobs.technician_id``, as before crews existed).

Grouping never counts a job twice: a team or the company credits a job once under ``each``, and
the sum of its members' shares under ``share`` (1 for the company). So the company's value is the
same under every rule, and a team's value is still pooled sums, weighted by shares.

The credit is a subquery of (job, group, weight) rows joined to each job's facts (evaluated once per
job, then weighted), so the engine still answers in one statement; where every job's weight is 1 for
the one group (the whole company, by category, no scope narrower than the company) no crew rows are
read at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Float, func, literal, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import setting_values
from kpi_core.storage.models import Base

CREW_CREDIT = "core.crew_credit"
"""The key of the host's setting that chooses the rule."""
CREDIT_RULES = ("each", "share", "lead")
DEFAULT_RULE = "each"


def credit_rule(settings: Mapping[str, Any]) -> str:
    """The rule in force, from :func:`kpi_core.records.plugin_settings.setting_values`' result."""
    item = settings.get(CREW_CREDIT)
    value = getattr(item, "value", item)
    return value if value in CREDIT_RULES else DEFAULT_RULE


def stored_rule(session: Session, plugins: PluginHost) -> str:
    """The rule in force in the database."""
    return credit_rule(setting_values(session, plugins))


def needs_crews(rule: str, group_by: str, technician_filter: bool, team_filter: bool, scope: Scope) -> bool:
    """Whether the rule makes a job count differently from "once, for its lead" in this question."""
    if rule == "lead":
        return False
    return group_by in ("technician", "team") or technician_filter or team_filter or not scope.sees_all


def credit_subquery(
    rule: str, group_by: str, technicians: tuple[int, ...], teams: tuple[int, ...], scope: Scope
) -> Any:
    """(job_id, technician_id, team_id, weight) rows: what each job counts for each group in scope.

    ``technician_id`` is set when grouping by technician, ``team_id`` when by team; a row per (job,
    group) in every case, so a job never counts twice for one group. Members outside the scope or the
    filters give no credit: a manager's company row holds their teams' shares.
    """
    tables = Base.metadata.tables
    crew, people = tables["job_assignments"], tables["technicians"]
    # Technicians are joined only for a team: grouping by technician reads job_assignments alone, so
    # the database walks its primary key (job_id, technician_id) beside the jobs.
    by_team = group_by == "team" or bool(teams)
    source = crew.join(people, people.c.id == crew.c.technician_id) if by_team else crew
    where = [scope.technicians(crew.c.technician_id, people.c.team_id if by_team else None)]
    if technicians:
        where.append(crew.c.technician_id.in_(technicians))
    if teams:
        where.append(people.c.team_id.in_(teams))
    one = literal(1.0, Float())
    if group_by == "technician":
        # (job, technician) is the primary key: one row each already.
        weight = crew.c.share if rule == "share" else one
        columns = [crew.c.job_id, crew.c.technician_id.label("technician_id"), literal(None).label("team_id")]
        return select(*columns, weight.label("weight")).select_from(source).where(*where).subquery("credit")
    keys = [crew.c.job_id] + ([people.c.team_id] if group_by == "team" else [])
    weight = func.sum(crew.c.share) if rule == "share" else func.max(one)
    team = people.c.team_id if group_by == "team" else literal(None)
    return (
        select(crew.c.job_id, literal(None).label("technician_id"), team.label("team_id"), weight.label("weight"))
        .select_from(source)
        .where(*where)
        .group_by(*keys)
        .subquery("credit")
    )
