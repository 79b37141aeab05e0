"""Evaluator calibration: does one evaluator score the same technicians higher or lower than others do?

Over the submitted evaluations (latest revisions, with a score) whose period
overlaps the range asked, of the technicians the caller may see:

- per evaluator, the number of evaluations and their mean score (the
  evaluator's own score of the answers, never the final score, which mixes in
  the self-appraisal);
- *paired* comparisons: a technician and a period (the same first and last
  day) that this evaluator and at least one other evaluator scored. For each,
  the difference between this evaluator's score and the other evaluators'
  mean score (each other evaluator counted once, with the mean of their own
  scores of that technician and period when they gave several). ``leniency``
  is the mean of these differences, in score points (positive: more lenient
  than the others); its 95 % interval is the t interval of the paired
  differences, mean ± t(0.975, n - 1) · s / √n, so it needs two pairs;
- the correlation (Pearson's r, with a 95 % interval by Fisher's z from four
  pairs) between this evaluator's scores and the technicians' KPI scorecard
  scores over the same periods (:mod:`kpi_core.kpis.scorecards`, from the KPIs
  computed from jobs, so the evaluations do not correlate with themselves
  through the evaluation-score KPI). High: the evaluator's judgement follows
  the numbers; near 0: it does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from kpi_core.accounts.scope import Scope
from kpi_core.evaluations.statistics import correlation_interval, mean, pearson, t_interval
from kpi_core.storage.models import Evaluation, Technician, User

ScorecardScores = Callable[[date, date], Mapping[int, float | None]]
"""``scores(period_start, period_end)``: each technician's KPI scorecard score over that period (both days
included), by technician id."""

NO_EVALUATIONS = (
    "No submitted evaluations of technicians you may see have a period between {start} and {end}: "
    "choose a longer range, or submit evaluations first"
)
NO_EVALUATORS = (
    "The submitted evaluations with a period between {start} and {end} name no evaluator (they were imported "
    "or made by the demo), so there is no one to compare"
)
NO_PAIRS = "No one else scored the same technicians for the same periods, so there is nothing to compare with"
ONE_PAIR = "Only one technician and period to compare with others: an interval needs at least two"
FEW_FOR_CORRELATION = "A correlation needs at least three evaluations with a scorecard score beside them"
FLAT = "The scores (or the scorecard scores) are all the same, so they cannot be correlated"


@dataclass(frozen=True)
class EvaluatorCalibration:
    evaluator_id: int
    evaluator: str
    evaluations: int
    mean_score: float
    technicians: int
    paired: int = 0
    paired_mean: float | None = None
    others_mean: float | None = None
    leniency: float | None = None
    leniency_low: float | None = None
    leniency_high: float | None = None
    leniency_note: str | None = None
    kpi_pairs: int = 0
    kpi_correlation: float | None = None
    kpi_correlation_low: float | None = None
    kpi_correlation_high: float | None = None
    kpi_note: str | None = None


@dataclass(frozen=True)
class Calibration:
    start: date
    end: date
    evaluations: int
    evaluators: list[EvaluatorCalibration] = field(default_factory=list)
    reason: str | None = None
    """Why there is nothing to show, when ``evaluators`` is empty."""


Cell = tuple[int, date, date]
"""A technician and a period."""


def calibration(session: Session, scope: Scope, start: date, end: date, scores: ScorecardScores) -> Calibration:
    """Every evaluator's calibration over evaluations whose period overlaps ``start``..``end`` (both included)."""
    name = func.coalesce(User.display_name, User.username)
    found = _evaluations(scope, start, end)
    rows = session.execute(
        found.add_columns(name).join(User, User.id == Evaluation.evaluator_id).order_by(Evaluation.id)
    ).all()
    if not rows:
        # Imported and demo evaluations name no evaluator: say so rather than that there are none.
        unnamed = session.scalar(found.with_only_columns(func.count()))
        reason = NO_EVALUATORS if unnamed else NO_EVALUATIONS
        return Calibration(start, end, 0, reason=reason.format(start=start, end=end))
    names: dict[int, str] = {}
    given: dict[int, list[float]] = defaultdict(list)
    cells: dict[Cell, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for evaluator_id, technician_id, period_start, period_end, score, evaluator in rows:
        names[evaluator_id] = evaluator
        given[evaluator_id].append(score)
        cells[(technician_id, period_start, period_end)][evaluator_id].append(score)
    found_scores: dict[tuple[date, date], Mapping[int, float | None]] = {}

    def scorecard(cell: Cell) -> float | None:
        period = (cell[1], cell[2])
        if period not in found_scores:
            found_scores[period] = scores(*period)
        return found_scores[period].get(cell[0])

    evaluators = [
        _evaluator(evaluator_id, names[evaluator_id], given[evaluator_id], cells, scorecard)
        for evaluator_id in sorted(names, key=lambda key: (names[key].lower(), key))
    ]
    return Calibration(start, end, len(rows), evaluators)


def _evaluations(scope: Scope, start: date, end: date) -> Select[Any]:
    """The evaluations compared: submitted, latest revisions, scored, in scope, their period overlapping."""
    newer = aliased(Evaluation)
    return (
        select(
            Evaluation.evaluator_id,
            Evaluation.technician_id,
            Evaluation.period_start,
            Evaluation.period_end,
            Evaluation.score,
        )
        .join(Technician, Technician.id == Evaluation.technician_id)
        .where(
            scope.technicians(Evaluation.technician_id, Technician.team_id),
            Evaluation.status.in_(("submitted", "acknowledged")),
            Evaluation.score.is_not(None),
            Evaluation.period_end >= start,
            Evaluation.period_start <= end,
            ~exists().where(newer.supersedes_id == Evaluation.id),
        )
    )


def _evaluator(
    evaluator_id: int,
    name: str,
    scores: list[float],
    cells: Mapping[Cell, Mapping[int, list[float]]],
    scorecard: Callable[[Cell], float | None],
) -> EvaluatorCalibration:
    own_cells = {cell: by[evaluator_id] for cell, by in cells.items() if evaluator_id in by}
    differences, own_paired, others_paired = [], [], []
    for cell, own in own_cells.items():
        others = [mean(given) for other, given in cells[cell].items() if other != evaluator_id]
        if others:
            own_paired.append(mean(own))
            others_paired.append(mean(others))
            differences.append(own_paired[-1] - others_paired[-1])
    kpi = [(mean(own), scorecard(cell)) for cell, own in own_cells.items()]
    kpi = [(own, card) for own, card in kpi if card is not None]
    r = pearson([own for own, _ in kpi], [card for _, card in kpi])
    interval = t_interval(differences)
    r_interval = correlation_interval(r, len(kpi))
    return EvaluatorCalibration(
        evaluator_id=evaluator_id,
        evaluator=name,
        evaluations=len(scores),
        mean_score=mean(scores),
        technicians=len({cell[0] for cell in own_cells}),
        paired=len(differences),
        paired_mean=mean(own_paired) if own_paired else None,
        others_mean=mean(others_paired) if others_paired else None,
        leniency=mean(differences) if differences else None,
        leniency_low=interval[0] if interval else None,
        leniency_high=interval[1] if interval else None,
        leniency_note=None if interval else (ONE_PAIR if differences else NO_PAIRS),
        kpi_pairs=len(kpi),
        kpi_correlation=r,
        kpi_correlation_low=r_interval[0] if r_interval else None,
        kpi_correlation_high=r_interval[1] if r_interval else None,
        kpi_note=None if r is not None else (FEW_FOR_CORRELATION if len(kpi) < 3 else FLAT),
    )
