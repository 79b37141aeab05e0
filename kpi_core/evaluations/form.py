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
        known["choices"] = tuple(known.get("choices") or ())
        rebuilt.append(FormField(**known))
    return rebuilt


def clean_answers(form_fields: Sequence[FormField], answers: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    """The answers with unanswered (null) fields dropped; raises :class:`Invalid` naming ``answers.<key>``.

    Unknown keys and answers of the wrong type or out of range are rejected.
    With ``complete`` (submitting), every required field must be answered;
    drafts may leave any field open.
    """
    by_key = {item.key: item for item in form_fields}
    for key in answers:
        if key not in by_key:
            raise Invalid(f"answers.{key}", "is not a field of this evaluation's form")
    cleaned = {key: value for key, value in answers.items() if value is not None}
    for key, value in cleaned.items():
        problem = answer_problem(by_key[key], value)
        if problem:
            raise Invalid(f"answers.{key}", problem)
    if complete:
        missing = [item.key for item in form_fields if item.required and item.key not in cleaned]
        if missing:
            others = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
            raise Invalid(f"answers.{missing[0]}", f"is required to submit{others}")
    return cleaned


def answer_problem(field: FormField, value: Any) -> str | None:
    """Why ``value`` is not an answer ``field`` takes, or None if it is."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    number = whole or (isinstance(value, float) and math.isfinite(value))
    if field.type == "rating":
        if not whole or not RATING_MIN <= value <= RATING_MAX:
            return f"must be a whole number from {RATING_MIN} to {RATING_MAX}"
    elif field.type == "yes_no":
        if not isinstance(value, bool):
            return "must be true or false"
    elif field.type == "number":
        # Declarations guarantee both bounds for number fields.
        low, high = float(field.minimum or 0), float(field.maximum or 0)
        if not number or not low <= value <= high:
            return f"must be a number from {low:g} to {high:g}"
    elif field.type == "choice":
        if value not in field.choices:
            return f"must be one of {', '.join(field.choices)}"
    elif not isinstance(value, str) or len(value) > TEXT_MAX:
        return f"must be text of at most {TEXT_MAX} characters"
    return None
