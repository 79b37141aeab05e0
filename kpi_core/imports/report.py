"""What an import answers: counts, and every row error up to a limit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

MAX_REPORTED_ERRORS = 1000
_FIELD_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b|\bstatus\b|\bcategory\b|\brevenue\b|\btechnicians\b")
"""Words of a message that may be job fields (``scheduled_start``, ``status``), named anew in a mapped import."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    first_scheduled: date | None = None
    last_scheduled: date | None = None
    """The company-zone days of the earliest and latest scheduled start in the file (jobs), so that
    the import page can link to the rows it imported."""
    names: Mapping[str, str] = field(default_factory=dict)
    """A mapped import's job fields in the source file's terms (the column, or how it is derived):
    errors name those, in their column and in their message, instead of the fields."""

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def saw_scheduled(self, moment: datetime | None, zone: tzinfo) -> None:
        if moment is None:
            return
        day = moment.astimezone(zone).date()
        if self.first_scheduled is None or day < self.first_scheduled:
            self.first_scheduled = day
        if self.last_scheduled is None or day > self.last_scheduled:
            self.last_scheduled = day

    def error(self, row: int, column: str | None, message: str, *, in_source_terms: bool = False) -> None:
        """Count an error of ``row``; ``column`` is a job field, or with ``in_source_terms`` the file's own."""
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            if self.names and not in_source_terms:
                column = self.names.get(column, column) if column else column
                message = _FIELD_NAME.sub(lambda found: self.names.get(found[0], found[0]), message)
            self.errors.append(RowError(row, column, message))

    def describe(self) -> str:
        verb = "would be" if self.dry_run else "were"
        if not self.ok:
            noun = "error" if self.error_count == 1 else "errors"
            return f"{self.error_count} {noun} in {self.rows} rows: nothing was imported"
        return (
            f"{self.rows} rows: {self.created} {verb} created, {self.updated} {verb} updated, "
            f"{self.unchanged} unchanged"
        )
