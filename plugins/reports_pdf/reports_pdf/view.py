"""Turns the host's ReportData into what the templates print.

Every number is formatted and every chart drawn here (through
:mod:`reports_pdf.series`), so the templates only lay things out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from markupsafe import Markup

from reports_pdf import formatting as fmt
from reports_pdf.charts import axis_strip, embed
from reports_pdf.series import RECENT_PERIODS, Footnote, Footnotes, GroupView, KpiLine, MetricView, Series

if TYPE_CHECKING:
    from kpi_core.reports.data import EvaluationSummary, ReportData, ScorecardRow

PANEL_CHART = {"width": 340, "height": 110, "x_labels": True}
"""A chart of its own, in the company summary's grid."""
ROW_CHART = {"width": 260, "height": 74, "x_labels": False}
"""A chart in a technician's KPI table: the periods are labelled once, under the table."""
MATRIX_COLUMNS = 6
"""KPI columns per table in the team matrix: each keeps about 25 mm, room for a badge and its heading."""


@dataclass(frozen=True)
class RankingRow:
    rank: str
    label: str
    team: str
    score: str
    sample: str
    note: str


@dataclass(frozen=True)
class TechnicianView:
    id: str
    label: str
    team: str
    score: str
    standing: str
    ranked: bool
    sample: str
    kpis: tuple[KpiLine, ...]
    evaluation: Mapping[str, str] | None
    notes: tuple[Footnote, ...] = ()


@dataclass(frozen=True)
class TeamTable:
    """One table of the team matrix: its KPIs (indices into ``metrics``), the teams' lines with the
    provisional values marked, and the footnotes under it."""

    columns: tuple[int, ...]
    teams: tuple[GroupView, ...]
    notes: tuple[Footnote, ...]


@dataclass(frozen=True)
class ReportView:
    """The whole report as the templates see it."""

    title: str
    scope: str
    currency: str
    range: str
    complete: bool
    granularity: str
    timezone: str
    generated: str
    filters: list[tuple[str, str]]
    metrics: tuple[MetricView, ...]
    period_count: int
    recent_periods: tuple[str, ...]
    latest_period: str
    axis: Markup
    company: GroupView | None
    teams: tuple[GroupView, ...]
    team_columns: tuple[tuple[int, ...], ...]
    team_tables: tuple[TeamTable, ...]
    ranking: tuple[RankingRow, ...]
    technicians: tuple[TechnicianView, ...]
    ranked_by_job_mix: bool = False


def build_view(report: ReportData) -> ReportView:
    """Everything the templates need from ``report``."""
    series = Series(report)
    company = [_with_notes(group) for group in series.groups("company", chart=PANEL_CHART)]
    recent = tuple(series.period_label(p) for p in series.periods[-RECENT_PERIODS:])
    teams = tuple(series.groups("team", chart=None))
    columns = _column_groups(len(series.metrics))
    return ReportView(
        title=report.title,
        scope=report.scope,
        currency=report.currency,
        range=fmt.format_range(
            report.start, report.end, report.complete, fmt.local_date(report.generated_at, report.timezone)
        ),
        complete=report.complete,
        granularity=fmt.period_granularity(report.period),
        timezone=report.timezone,
        generated=fmt.format_generated(report.generated_at, report.timezone),
        filters=fmt.format_filters(report.filters),
        metrics=series.metrics,
        period_count=len(series.periods),
        recent_periods=recent,
        latest_period=recent[-1] if recent else "Latest",
        axis=embed(axis_strip(series.ticks, width=ROW_CHART["width"])),
        company=company[0] if company else None,
        teams=teams,
        team_columns=columns,
        team_tables=tuple(_team_table(teams, group) for group in columns),
        ranking=_ranking(report.scorecards),
        technicians=_technicians(report, series),
        ranked_by_job_mix=report.ranked_by_job_mix,
    )


def _with_notes(group: GroupView) -> GroupView:
    """A summary's lines with their provisional values marked, row by row, and its footnotes."""
    notes = Footnotes()
    kpis = tuple(notes.marked(line) for line in group.kpis)
    return replace(group, kpis=kpis, notes=notes.lines)


def _team_table(teams: tuple[GroupView, ...], columns: tuple[int, ...]) -> TeamTable:
    """The teams' lines for one table of the matrix, marked in reading order (team by team, then KPI by
    KPI); the matrix shows each KPI's latest period and whole range."""
    notes = Footnotes()
    marked = []
    for team in teams:
        lines = list(team.kpis)
        for index in columns:
            lines[index] = notes.marked(lines[index], periods=1, whole_first=False)
        marked.append(replace(team, kpis=tuple(lines)))
    return TeamTable(columns, tuple(marked), notes.lines)


def _column_groups(count: int) -> tuple[tuple[int, ...], ...]:
    """The KPIs of the team matrix in tables of at most MATRIX_COLUMNS, as even as can be: a page
    is too narrow for a dozen KPI columns, whose badges and headings would run into each other."""
    tables = max(1, -(-count // MATRIX_COLUMNS))
    size = -(-count // tables) if count else 0
    return tuple(tuple(range(start, min(start + size, count))) for start in range(0, count, size or 1))


def _ranking(scorecards: Iterable[ScorecardRow]) -> tuple[RankingRow, ...]:
    ordered = sorted(scorecards, key=lambda s: (s.rank is None, s.rank or 0, s.technician_label.casefold()))
    return tuple(
        RankingRow(
            rank=str(card.rank) if card.rank is not None else fmt.MISSING,
            label=card.technician_label,
            team=card.team_label or fmt.MISSING,
            score=fmt.format_number(card.score),
            sample=fmt.format_number(card.sample, 0),
            note="" if card.rank is not None else (card.unranked_reason or "Unranked"),
        )
        for card in ordered
    )


def _technicians(report: ReportData, series: Series) -> tuple[TechnicianView, ...]:
    cards = {card.technician_id: card for card in report.scorecards}
    evaluations = {summary.technician_id: summary for summary in report.evaluations}
    ranked = sum(1 for card in report.scorecards if card.rank is not None)
    ids = list(dict.fromkeys([*series.group_ids("technician"), *cards]))
    views = []
    for tech_id in ids:
        card = cards.get(tech_id)
        label = card.technician_label if card else series.label("technician", tech_id) or tech_id
        contributions = card.contributions if card else None
        notes = Footnotes()
        kpis = series.kpis("technician", tech_id, chart=ROW_CHART, contributions=contributions)
        views.append(
            TechnicianView(
                id=tech_id,
                label=label,
                team=(card.team_label if card else None) or fmt.MISSING,
                score=fmt.format_number(card.score if card else None),
                standing=_standing(card, ranked),
                ranked=bool(card and card.rank is not None),
                sample=fmt.format_number(card.sample if card else None, 0),
                kpis=tuple(notes.marked(line, periods=1) for line in kpis),
                evaluation=_evaluation(evaluations.get(tech_id)),
                notes=notes.lines,
            )
        )
    return tuple(sorted(views, key=lambda view: view.label.casefold()))


def _standing(card: ScorecardRow | None, ranked: int) -> str:
    if card is None:
        return "No scorecard in this range"
    if card.rank is not None:
        return f"Rank {card.rank} of {ranked}"
    return f"Unranked: {card.unranked_reason or 'no reason given'}"


def _evaluation(summary: EvaluationSummary | None) -> dict[str, str] | None:
    if summary is None:
        return None
    return {
        "count": str(summary.count),
        "mean": fmt.format_number(summary.mean_score),
        "comment": summary.latest_comment or "",
    }
