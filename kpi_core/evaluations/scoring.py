"""Scores an evaluation's answers, and fingerprints the form they answer.

The form is whatever the loaded plugins declare through ``kpi_form_fields``,
so it changes when plugins are installed, removed or upgraded. Each
evaluation keeps a snapshot of the fields and a short version hash, so an old
evaluation can still be read (and re-scored) against the form it was made on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from kpi_core.declarations import FormField

RATING_MIN = 1
RATING_MAX = 5
YES = ("yes", "true")
NO = ("no", "false")


class AnswerRejected(ValueError):
    """An answer does not fit its field; ``key`` names the field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def score_answers(fields: Sequence[FormField], answers: Mapping[str, object]) -> float | None:
    """The evaluation score, 0..100: the weighted mean of the normalised answers.

    Each answer is normalised to 0..1: a rating ``r`` (1-5) to ``(r-1)/4``,
    yes/no to 1/0, a number to ``(x-minimum)/(maximum-minimum)``, a choice to
    its index over ``len(choices)-1`` (choices are ordered worst to best).
    Text fields, fields of weight 0 and unanswered fields (missing or
    ``None``) are left out of both sums; checking that required fields are
    answered is the caller's job. Returns ``None`` when nothing was scored.
    Raises :class:`AnswerRejected` for an answer its field cannot take.
    """
    total = 0.0
    weights = 0.0
    for field in fields:
        if field.type == "text" or not field.weight:
            continue
        value = answers.get(field.key)
        if value is None:
            continue
        total += field.weight * normalise(field, value)
        weights += field.weight
    if not weights:
        return None
    return 100.0 * total / weights


def normalise(field: FormField, value: object) -> float:
    """One answer on the 0..1 scale of its field (see :func:`score_answers`)."""
    if field.type == "yes_no":
        return 1.0 if _yes(field, value) else 0.0
    if field.type == "choice":
        if value not in field.choices:
            raise AnswerRejected(field.key, f"must be one of {', '.join(field.choices)}; got {value!r}")
        return field.choices.index(value) / (len(field.choices) - 1)
    if field.type == "rating":
        number = _number(field, value, RATING_MIN, RATING_MAX)
        return (number - RATING_MIN) / (RATING_MAX - RATING_MIN)
    if field.type == "number":
        # Declarations guarantee both bounds for number fields.
        low, high = float(field.minimum or 0), float(field.maximum or 0)
        return (_number(field, value, low, high) - low) / (high - low)
    raise AnswerRejected(field.key, f"{field.type} fields are not scored")


def _yes(field: FormField, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in YES + NO:
        return value.strip().lower() in YES
    raise AnswerRejected(field.key, f"must be yes or no; got {value!r}")


def _number(field: FormField, value: object, low: float, high: float) -> float:
    # bool is an int subclass; True is not a rating of 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerRejected(field.key, f"must be a number; got {value!r}")
    if not low <= value <= high:
        raise AnswerRejected(field.key, f"must be between {low:g} and {high:g}; got {value!r}")
    return float(value)


def form_snapshot(fields: Sequence[FormField]) -> list[dict[str, Any]]:
    """The fields as plain JSON-ready dicts, in form order: what an evaluation keeps of its form."""
    snapshot = []
    for field in fields:
        item = asdict(field)
        item["choices"] = list(field.choices)
        item["scale_labels"] = list(field.scale_labels)
        snapshot.append(item)
    return snapshot


def form_version(fields: Sequence[FormField]) -> str:
    """A short hash of the field declarations; it changes whenever a field (or their order) changes."""
    canonical = json.dumps(form_snapshot(fields), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
