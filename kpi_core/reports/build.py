"""Builds the one ReportData every format renders, from the KPI engine and the evaluations.

Values come from :func:`kpi_core.kpis.service.kpi_values`, the function
behind ``GET /api/v1/kpis/values``, so a report shows exactly the numbers
the API answers for the same query and the same user, with the same word on
how far each can be trusted (``complete``, ``provisional``/``pending``,
``status`` ``insufficient``, ``certain``: :mod:`kpi_core.kpis.honest`),
judged at the moment the report is made. Every report carries the requested
``group_by`` level and the company, team and technician levels (each one
SQL statement), so any format can draw summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, not_, select
from sqlalchemy.orm import Session, aliased

from kpi_core.accounts.scope import Scope
from kpi_core.kpis import honest, service
from kpi_core.kpis.context import stored_contexts
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.fingerprints import fingerprints_of
from kpi_core.kpis.query import COMPANY
from kpi_core.kpis.scorecards import DEFAULT_MIN_SAMPLE, compute_scorecards
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import setting_values
from kpi_core.reports.coverage import describe_coverage
from kpi_core.reports.data import EvaluationSummary, MetricInfo, ReportData, ScorecardRow, ValueRow
from kpi_core.reports.spec import ReportSpec
from kpi_core.storage.models import Evaluation, Technician

SUMMARY_LEVELS = ("company", "team", "technician")
COMMENT_FIELD = "core.overall_comment"
"""The evaluation form's free-text question (declared by kpi_core.builtin) quoted as the latest comment."""
COUNTED = ("submitted", "acknowledged")

Progress = Callable[[int, str], None]


def build_report_data(
    session: Session,
    plugins: PluginHost,
    spec: ReportSpec,
    *,
    zone: ZoneInfo,
    scope: Scope,
    generated_at: datetime,
    min_sample: int | None = None,
    status_min_sample: int = DEFAULT_STATUS_MIN_SAMPLE,
    progress: Progress | None = None,
    currency: str = "USD",
) -> ReportData:
    """Everything the report shows, as ``scope`` may see it, money in ``currency`` (ISO 4217).

    Values are judged at ``generated_at``: a period not over then is not
    ``complete``, facts whose outcome window is open then are ``pending``.
    ``min_sample`` is the fewest jobs for a technician to be ranked;
    ``status_min_sample`` the fewest facts for a value to get a status (a
    KPI may declare its own), as ``KPI_MIN_SAMPLE`` and
    ``KPI_STATUS_MIN_SAMPLE`` set them.
    """
    coverage = describe_coverage(session, spec.filters, scope)
    honesty = honest.Honesty(now=generated_at, min_sample=status_min_sample)
    # Ranked as the scorecards page ranks them: fairly by job mix where the admins' setting says so.
    adjust = service.scorecard_adjustment(setting_values(session, plugins), None)
    levels = list(dict.fromkeys((spec.group_by, *SUMMARY_LEVELS)))
    values: dict[str, tuple[ValueRow, ...]] = {}
    for number, level in enumerate(levels):
        query = replace(spec.query, group_by=level)
        answer = service.kpi_values(session, plugins, query, zone=zone, scope=scope, honesty=honesty)
        # The "company" level is whatever the report covers: a manager's is their teams, named so.
        relabel = {"group_label": coverage.label} if level == COMPANY else {}
        values[level] = tuple(_value_row({**row, **relabel}) for row in answer.dicts())
        if progress is not None:
            progress(1 + 6 * (number + 1) // len(levels), f"computed the {level} values")
    return ReportData(
        title=spec.title,
        generated_at=generated_at,
        timezone=zone.key,
        group_by=spec.group_by,
        period=spec.period,
        start=spec.start,
        end=spec.end,
        metrics=_metric_infos(session, plugins, spec, status_min_sample),
        values=values,
        filters=coverage.filters,
        scorecards=_scorecards(
            session,
            plugins,
            spec,
            zone=zone,
            scope=scope,
            min_sample=min_sample,
            status_min_sample=status_min_sample,
            as_of=honest.judged_at(generated_at),
            adjust=adjust,
        ),
        evaluations=evaluation_summaries(session, spec, scope),
        scope=coverage.label,
        currency=currency,
        complete=honest.is_complete(spec.end, zone, generated_at),
        ranked_by_job_mix=adjust is not None,
    )


_ROW_FIELDS = tuple(item.name for item in fields(ValueRow))


def _value_row(row: dict[str, Any]) -> ValueRow:
    """A row of the values API's answer as a report's row (dates parsed, comparisons left out)."""
    found = {name: row[name] for name in _ROW_FIELDS if name in row}
    found["period_start"] = date.fromisoformat(row["period_start"])
    if row.get("period_end") is not None:
        found["period_end"] = date.fromisoformat(row["period_end"])
    return ValueRow(**found)


def _metric_infos(
    session: Session, plugins: PluginHost, spec: ReportSpec, status_min_sample: int
) -> tuple[MetricInfo, ...]:
    """The report's KPIs with what a reader needs to judge their values: what the sample counts, its
    minimum for a status, and why a fact may be pending (with the plugin settings in force)."""
    context_for = stored_contexts(session, plugins)
    prints = fingerprints_of(plugins, setting_values(session, plugins))
    return tuple(
        MetricInfo(
            metric.key,
            metric.label,
            metric.unit,
            metric.direction,
            metric.kind,
            metric.formula,
            source=metric.source,
            min_sample=metric.min_sample_of(context_for(metric), status_min_sample),
            pending_reason=metric.outcome_window_label if metric.outcome_window_of(context_for(metric)) else "",
            version=metric.version,
            fingerprint=prints[metric.key],
        )
        for metric in resolve_metrics(plugins, spec.kpis)
    )


def evaluation_summaries(session: Session, spec: ReportSpec, scope: Scope) -> tuple[EvaluationSummary, ...]:
    """Per technician: the evaluations the quality KPI counts, whose period ends in the range.

    The same rule as the evaluation score KPI: submitted or acknowledged, the
    latest submitted revision only, placed by ``period_end``. Evaluations
    have no category, so a category filter leaves none (as in the engine).
    """
    if spec.filters.categories:
        return ()
    newer = aliased(Evaluation)
    counted = and_(
        Evaluation.status.in_(COUNTED),
        Evaluation.period_end >= spec.start,
        Evaluation.period_end < spec.end,
        not_(exists().where(newer.supersedes_id == Evaluation.id, newer.status.in_(COUNTED))),
        scope.technicians(Evaluation.technician_id, Technician.team_id),
    )
    if spec.filters.technicians:
        counted = and_(counted, Evaluation.technician_id.in_(spec.filters.technicians))
    if spec.filters.teams:
        counted = and_(counted, Technician.team_id.in_(spec.filters.teams))
    joined = select(Evaluation.technician_id).join(Technician, Technician.id == Evaluation.technician_id)
    totals = session.execute(
        joined.add_columns(func.count(Evaluation.id), func.avg(Evaluation.score))
        .where(counted)
        .group_by(Evaluation.technician_id)
    ).all()
    comments = _latest_comments(session, joined.add_columns(Evaluation.answers).where(counted))
    return tuple(
        EvaluationSummary(
            technician_id=str(technician_id),
            count=int(count),
            mean_score=float(mean) if mean is not None else None,
            latest_comment=comments.get(technician_id),
        )
        for technician_id, count, mean in totals
    )


def _latest_comments(session: Session, statement: Any) -> dict[int, str]:
    """Each technician's most recent non-empty overall comment (answers are JSON: read in Python)."""
    latest: dict[int, str] = {}
    ordered = statement.order_by(
        Evaluation.technician_id, Evaluation.period_end.desc(), Evaluation.submitted_at.desc(), Evaluation.id.desc()
    )
    for technician_id, answers in session.execute(ordered):
        if technician_id in latest or not isinstance(answers, dict):
            continue
        comment = answers.get(COMMENT_FIELD)
        if isinstance(comment, str) and comment.strip():
            latest[technician_id] = comment.strip()
    return latest


def _scorecards(
    session: Session,
    plugins: PluginHost,
    spec: ReportSpec,
    *,
    zone: ZoneInfo,
    scope: Scope,
    min_sample: int | None,
    status_min_sample: int,
    as_of: datetime,
    adjust: str | None = None,
) -> tuple[ScorecardRow, ...]:
    """The technicians' scorecards over the whole range, on the report's KPIs (the scorecard API's numbers,
    outcome windows judged ``as_of`` as the values are).

    ``contributions`` are each KPI's share of the score (they add up to it).
    """
    cards = compute_scorecards(
        session,
        plugins,
        start=spec.start,
        end=spec.end,
        period=spec.period,
        zone=zone,
        scope=scope,
        filters=spec.filters,
        kpis=spec.kpis,
        min_sample=DEFAULT_MIN_SAMPLE if min_sample is None else min_sample,
        status_min_sample=status_min_sample,
        as_of=as_of,
        adjust=adjust,
    )
    return tuple(
        ScorecardRow(
            technician_id=str(row.technician_id),
            technician_label=row.technician,
            team_label=row.team,
            score=row.score,
            rank=row.rank,
            sample=int(row.sample),
            unranked_reason=row.unranked_reason,
            contributions={item.kpi: item.contribution for item in row.contributions},
        )
        for row in cards.technicians
    )
