"""The evaluation form: assembled from the plugins' ``kpi_form_fields``, and the answers it takes.

The form is the loaded plugins' fields in plugin order. An evaluation keeps
the version and a snapshot of the form it was made on (see
:mod:`kpi_core.evaluations.scoring`), so its answers are always checked and
scored against that snapshot, never against whatever the plugins declare today.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from kpi_core.declarations import FormField
from kpi_core.errors import Invalid
from kpi_core.evaluations.scoring import RATING_MAX, RATING_MIN, form_snapshot, form_version
from kpi_core.plugins import PluginHost

TEXT_MAX = 2000
FORM_FIELD_ATTRIBUTES = tuple(item.name for item in fields(FormField))
TUPLE_ATTRIBUTES = ("choices", "scale_labels")


class InvalidFields(Invalid):
    """Several fields are invalid at once (422): ``problems`` maps each field to its message, in form order.

    Reported whole, so a person filling in the form sees every problem at once.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        first, message = next(iter(problems.items()))
        super().__init__(first, message)
        self.problems = dict(problems)


@dataclass(frozen=True)
class Form:
    """The form of the loaded plugins: its fields, who declared each, and its version."""

    fields: tuple[FormField, ...]
    plugins: Mapping[str, str]  # field key -> name of the plugin that declared it
    version: str

    @property
    def snapshot(self) -> list[dict[str, Any]]:
        """What an evaluation made on this form keeps of it."""
        return form_snapshot(self.fields)


def current_form(plugins: PluginHost) -> Form:
    """The form the loaded plugins declare now, in plugin order."""
    declared = tuple(plugins.form_fields.values())
    owners = {item.key: plugins.owner_of("kpi_form_fields", item.key) for item in declared}
    return Form(fields=declared, plugins=owners, version=form_version(declared))


def fields_from_snapshot(snapshot: Sequence[Mapping[str, Any]]) -> list[FormField]:
    """Rebuild the fields an evaluation was made on from its stored snapshot."""
    rebuilt = []
    for item in snapshot:
        known = {name: item[name] for name in FORM_FIELD_ATTRIBUTES if name in item}
        for name in TUPLE_ATTRIBUTES:  # JSON keeps them as lists; older snapshots lack scale_labels
            known[name] = tuple(known.get(name) or ())
        rebuilt.append(FormField(**known))
    return rebuilt


def clean_answers(form_fields: Sequence[FormField], answers: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    """The answers with unanswered (null) fields dropped; raises :class:`InvalidFields` naming every
    ``answers.<key>`` that is wrong, in form order (unknown keys last).

    Unknown keys and answers of the wrong type or out of range are rejected.
    With ``complete`` (submitting), every required field must be answered;
    drafts may leave any field open.
    """
    problems = answer_problems(form_fields, answers, complete=complete)
    if problems:
        raise InvalidFields(problems)
    return {key: value for key, value in answers.items() if value is not None}


def answer_problems(form_fields: Sequence[FormField], answers: Mapping[str, Any], *, complete: bool) -> dict[str, str]:
    """Every problem of ``answers`` by field path (``answers.<key>``), in form order; empty when none."""
    problems: dict[str, str] = {}
    for item in form_fields:
        value = answers.get(item.key)
        if value is None:
            if complete and item.required:
                problems[f"answers.{item.key}"] = missing_message(item)
            continue
        problem = answer_problem(item, value)
        if problem:
            problems[f"answers.{item.key}"] = problem
    known = {item.key for item in form_fields}
    for key in answers:
        if key not in known:
            problems[f"answers.{key}"] = "This question is not on the evaluation's form: leave it out"
    return problems


def missing_message(field: FormField) -> str:
    """What to do about an unanswered required field, in the words of the form."""
    if field.type == "rating":
        return f"Choose a rating for {field.label} (required to submit)"
    if field.type == "yes_no":
        return f"Choose yes or no for {field.label} (required to submit)"
    if field.type == "choice":
        return f"Choose an answer for {field.label} (required to submit)"
    return f"Enter {field.label} (required to submit)"


def answer_problem(field: FormField, value: Any) -> str | None:
    """Why ``value`` is not an answer ``field`` takes, in words that say what to do; None if it is one."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    number = whole or (isinstance(value, float) and math.isfinite(value))
    if field.type == "rating":
        if not whole or not RATING_MIN <= value <= RATING_MAX:
            return f"Choose a rating for {field.label}: a whole number from {RATING_MIN} to {RATING_MAX}"
    elif field.type == "yes_no":
        if not isinstance(value, bool):
            return f"Choose yes or no for {field.label} (true or false)"
    elif field.type == "number":
        # Declarations guarantee both bounds for number fields.
        low, high = float(field.minimum or 0), float(field.maximum or 0)
        if not number or not low <= value <= high:
            return f"Enter {field.label} as a number from {low:g} to {high:g}"
    elif field.type == "choice":
        if value not in field.choices:
            return f"Choose {field.label} from: {', '.join(field.choices)}"
    elif not isinstance(value, str) or len(value) > TEXT_MAX:
        return f"Enter {field.label} as text of at most {TEXT_MAX} characters"
    return None
