"""The ``sort`` query parameter: ``sort=name`` or ``sort=-completed_at`` over a fixed set of columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields, validate


def sort_field(allowed: Mapping[str, Any], default: str) -> fields.String:
    """A query field accepting one allowed column name, optionally prefixed with '-' for descending."""
    choices = sorted(allowed) + sorted(f"-{name}" for name in allowed)
    return fields.String(
        load_default=default,
        validate=validate.OneOf(choices),
        metadata={"description": f"Sort by one of {', '.join(sorted(allowed))}; prefix '-' for descending"},
    )


def order_by(allowed: Mapping[str, Any], value: str, tiebreak: Any) -> list[Any]:
    """ORDER BY clauses for ``value``, with a unique tiebreak so pages never overlap."""
    descending = value.startswith("-")
    column = allowed[value.lstrip("-")]
    return [column.desc() if descending else column.asc(), tiebreak.desc() if descending else tiebreak.asc()]
