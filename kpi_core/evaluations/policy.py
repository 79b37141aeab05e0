"""The company's rules for appraisals: how the final score is made, and when technicians appraise themselves.

Three host settings (declared in :mod:`kpi_core.builtin`, changed by admins
like any plugin setting):

- ``core.final_score_formula``: ``manager_only`` (the evaluator's score),
  ``mean`` (the mean of the evaluator's and the technician's self-appraisal
  score) or ``weighted`` (the self-appraisal counts for
  ``core.self_appraisal_weight`` percent). Only these declared options exist:
  a formula is never code a user types.
- ``core.self_appraisal_weight``: the self-appraisal's share under ``weighted``, 0 to 100 %.
- ``core.self_appraisal_before_period_end``: whether a technician may fill in a
  self-appraisal for a period that has not ended yet.

An evaluation keeps the formula and the weight its final score was made with,
so a later change of the settings never rewrites one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import setting_values

FINAL_SCORE_FORMULA = "core.final_score_formula"
SELF_APPRAISAL_WEIGHT = "core.self_appraisal_weight"
SELF_APPRAISAL_BEFORE_PERIOD_END = "core.self_appraisal_before_period_end"

MANAGER_ONLY = "manager_only"
MEAN = "mean"
WEIGHTED = "weighted"
FORMULAS: tuple[str, ...] = (MANAGER_ONLY, MEAN, WEIGHTED)
DEFAULT_SELF_WEIGHT = 25.0
"""Percent."""


@dataclass(frozen=True)
class AppraisalPolicy:
    """The settings in force; ``self_weight`` is a fraction (0..1)."""

    formula: str = MANAGER_ONLY
    self_weight: float = DEFAULT_SELF_WEIGHT / 100
    before_period_end: bool = False


@dataclass(frozen=True)
class FinalScore:
    """A final score and how it was made: the formula applied and, under ``weighted``, the self-appraisal's share."""

    score: float | None
    formula: str
    self_weight: float | None = None


def appraisal_policy(session: Session, plugins: PluginHost) -> AppraisalPolicy:
    """The policy the company's settings give now (defaults where the host's settings are not loaded)."""
    values = setting_values(session, plugins)

    def value(key: str, default: object) -> object:
        found = values.get(key)
        return default if found is None else found.value

    formula = str(value(FINAL_SCORE_FORMULA, MANAGER_ONLY))
    weight = float(value(SELF_APPRAISAL_WEIGHT, DEFAULT_SELF_WEIGHT))  # type: ignore[arg-type]
    before = bool(value(SELF_APPRAISAL_BEFORE_PERIOD_END, False))
    formula = formula if formula in FORMULAS else MANAGER_ONLY
    return AppraisalPolicy(formula=formula, self_weight=weight / 100, before_period_end=before)


def final_score(policy: AppraisalPolicy, score: float | None, self_score: float | None) -> FinalScore:
    """The final score from the evaluator's ``score`` and the self-appraisal's ``self_score``.

    Without a self-appraisal score (none submitted for the period, or it scored nothing) the final
    score is the evaluator's, and the formula recorded is ``manager_only``: it is what was applied.
    """
    if score is None or self_score is None or policy.formula == MANAGER_ONLY:
        return FinalScore(score, MANAGER_ONLY)
    if policy.formula == MEAN:
        return FinalScore((score + self_score) / 2, MEAN)
    weight = min(max(policy.self_weight, 0.0), 1.0)
    return FinalScore((1 - weight) * score + weight * self_score, WEIGHTED, weight)
