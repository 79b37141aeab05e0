"""What an import answers: counts, and every row error up to a limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

MAX_REPORTED_ERRORS = 1000


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

    def error(self, row: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
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
