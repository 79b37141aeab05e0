"""Plugins' job fields (``kpi_job_fields``) in a jobs import: a column named by each field's key.

A cell is read as its field's type and checked against the declaration like
every other cell of the row. A field whose column the file has is set on each
job of the file (an empty cell removes its value); a field whose column the
file lacks is left as stored. The values of a batch are written with one
bulk statement per kind of change (insert, update, delete), like the jobs
themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from kpi_core.declarations import JOB_FIELD_TEXT_MAX, JobField, JobFieldValueError
from kpi_core.imports import cells
from kpi_core.imports.lookups import LOOKUP_CHUNK
from kpi_core.storage.bulk import BulkWriter
from kpi_core.storage.models import JOB_FIELD_COLUMNS, JobFieldValue

VALUES = JobFieldValue.__table__
COLUMNS = tuple(sorted(set(JOB_FIELD_COLUMNS.values())))
NEW_VALUE = ("job_id", "key", *COLUMNS)
TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")
_WHOLE = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
UPDATE = (
    update(VALUES)
    .where(VALUES.c.job_id == bindparam("b_job"), VALUES.c.key == bindparam("b_key"))
    .values({name: bindparam(f"b_{name}") for name in COLUMNS})
)
DELETE = delete(VALUES).where(VALUES.c.job_id == bindparam("b_job"), VALUES.c.key == bindparam("b_key"))

CellReader = Callable[[Any], Any]


def cell_reader(field: JobField) -> CellReader:
    """Reads a cell (text; a spreadsheet's number or true/false) as ``field``'s value; ValueError says why."""
    if field.type == "boolean":
        return _boolean
    if field.type in ("integer", "number"):
        return lambda cell: _checked(field, _number(cell, whole=field.type == "integer"))
    if field.type == "choice":
        by_word = {choice.casefold(): choice for choice in field.choices}

        def choice(cell: Any) -> str:
            found = by_word.get(str(cell).strip().casefold())
            if found is None:
                raise ValueError(f"must be one of {', '.join(field.choices)}")
            return found

        return choice
    return lambda cell: _checked(field, cells.text(cell, JOB_FIELD_TEXT_MAX, multiline=True))


def _checked(field: JobField, value: Any) -> Any:
    try:
        return field.parse(value)
    except JobFieldValueError as exc:
        raise ValueError(str(exc)) from None


def _boolean(cell: Any) -> bool:
    if isinstance(cell, bool):
        return cell
    word = str(cell).strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{str(cell)[:40]!r} is not yes or no: write true, false, yes, no, 1 or 0")


def _number(cell: Any, *, whole: bool) -> int | float:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return cell
    text = str(cell).strip()
    if whole and _WHOLE.match(text):
        return int(text)
    if not whole and _DECIMAL.match(text):
        return float(text)
    kind = "a whole number, like 12" if whole else "a number, like 12.5"
    raise ValueError(f"{text[:40]!r} is not {kind}")


def type_words(field: JobField) -> str:
    """What a column of ``field`` holds, in words (as the import page describes columns)."""
    if field.type == "boolean":
        return "Yes or no: true, false, yes, no, 1 or 0"
    if field.type == "choice":
        return f"One of: {', '.join(field.choices)}"
    if field.type == "text":
        return f"Text, up to {JOB_FIELD_TEXT_MAX:,} characters"
    kind = "Whole number" if field.type == "integer" else "Number"
    if field.minimum is not None and field.maximum is not None:
        return f"{kind}, {field.minimum:g} to {field.maximum:g}"
    if field.minimum is not None:
        return f"{kind}, at least {field.minimum:g}"
    if field.maximum is not None:
        return f"{kind}, at most {field.maximum:g}"
    return kind


def example(field: JobField) -> str:
    """A value a column of ``field`` may hold, for the template CSV."""
    if field.type == "boolean":
        return "yes"
    if field.type == "choice":
        return field.choices[0]
    if field.type in ("integer", "number"):
        low = field.minimum if field.minimum is not None else 0
        value = min(max(low, 0), field.maximum) if field.maximum is not None else max(low, 0)
        return f"{value:g}"
    return ""


class FieldWriter:
    """Writes the job fields of a batch of imported jobs: what changed only, one statement per kind."""

    def __init__(self, session: Session, declared: Mapping[str, JobField], writer: BulkWriter) -> None:
        self.session = session
        self.writer = writer
        self.columns = {key: JOB_FIELD_COLUMNS[field.type] for key, field in declared.items()}

    def write(self, given: Iterable[tuple[int, Mapping[str, Any]]], new_jobs: Collection[int] = ()) -> set[int]:
        """Store each job's fields ({key: value, or None for none}); the ids of the jobs whose fields changed.

        ``new_jobs`` were inserted by this batch: they have no values stored yet, so none are looked up.
        """
        wanted = {(job_id, key): value for job_id, fields in given for key, value in fields.items()}
        if not wanted:
            return set()
        stored = self._stored({pair: value for pair, value in wanted.items() if pair[0] not in new_jobs})
        new, changed, gone = [], [], []
        for (job_id, key), value in wanted.items():
            before = stored.get((job_id, key))
            if value is None:
                if before is not None:
                    gone.append({"b_job": job_id, "b_key": key})
                continue
            if before is None:
                new.append((job_id, key, *self._stored_form(key, value)))
                continue
            row = {name: value if name == self.columns[key] else None for name in COLUMNS}
            if before != row:
                changed.append({"b_job": job_id, "b_key": key, **{f"b_{name}": v for name, v in row.items()}})
        self.writer.insert(VALUES, NEW_VALUE, new)
        if changed:
            self.session.execute(UPDATE, changed)
        if gone:
            self.session.execute(DELETE, gone)
        return {row[0] for row in new} | {row["b_job"] for row in changed + gone}

    def _stored_form(self, key: str, value: Any) -> tuple[Any, ...]:
        """COLUMNS of field ``key``'s ``value`` in the writer's stored form (a boolean is the one that differs)."""
        column = self.columns[key]
        if column == "boolean_value":
            value = self.writer.form.boolean(value)
        return tuple(value if name == column else None for name in COLUMNS)

    def _stored(self, wanted: Mapping[tuple[int, str], Any]) -> dict[tuple[int, str], dict[str, Any]]:
        if not wanted:
            return {}
        keys = sorted({key for _, key in wanted})
        job_ids = sorted({job_id for job_id, _ in wanted})
        stored = {}
        connection = self.session.connection()
        size = max(LOOKUP_CHUNK - len(keys), 1)
        for start in range(0, len(job_ids), size):
            chunk = job_ids[start : start + size]
            query = select(VALUES.c.job_id, VALUES.c.key, *(VALUES.c[name] for name in COLUMNS)).where(
                VALUES.c.job_id.in_(chunk), VALUES.c.key.in_(keys)
            )
            for job_id, key, *values in connection.execute(query):
                stored[(job_id, key)] = dict(zip(COLUMNS, values, strict=True))
        return stored
