"""The two CSV layouts, as iterators of rows of cell text (header row first).

Each layout yields one row at a time, so the writer can stream a report of
any size without holding the file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

from reports_csv.cells import kpi_part, kpi_value, text, unit_label

if TYPE_CHECKING:
    from kpi_core.reports.data import ReportData, ValueRow

Row = list[str]
T = TypeVar("T")

LONG_HEADER: tuple[str, ...] = (
    "group_by",
    "group_id",
    "group_label",
    "period_start",
    "kpi",
    "kpi_label",
    "unit",
    "value",
    "numerator",
    "denominator",
    "ci_low",
    "ci_high",
    "status",
)
LEVELS = {"technician": "Technician", "team": "Team", "category": "Category", "company": "Company"}
"""The wide layout's name column is headed by what its rows are."""
SAMPLE_SUFFIX = " (sample)"
"""Wide header of a KPI's denominator: ``"<KPI label> (sample)"``, beside ``"<KPI label> (<unit>)"``."""


def long_rows(report: ReportData) -> Iterator[Row]:
    """Header, then one row per group, period and KPI, in the report's order."""
    currency = report.currency
    # A KPI's key, label and unit cells are the same on every row: make them once.
    kpi_cells = {
        info.key: [text(info.key), text(info.label), text(unit_label(info.unit, currency))] for info in report.metrics
    }
    units = {info.key: info.unit for info in report.metrics}
    yield [text(name) for name in LONG_HEADER]
    group_by = text(report.group_by)
    for row in report.rows():
        unit = _lookup(units, row.kpi)
        yield [
            group_by,
            text(row.group_id),
            text(row.group_label),
            row.period_start.isoformat(),
            *kpi_cells[row.kpi],
            kpi_value(row.value, unit, currency),
            kpi_part(row.numerator, unit, currency),
            kpi_part(row.denominator, unit if unit != "currency" else "", currency),
            kpi_value(row.ci_low, unit, currency),
            kpi_value(row.ci_high, unit, currency),
            text(row.status),
        ]


def wide_header(report: ReportData) -> Row:
    """``ID``, the rows' level (``Technician``), ``Period start``, then per KPI its value and sample columns."""
    header = ["ID", LEVELS.get(report.group_by, report.group_by.capitalize()), "Period start"]
    for info in report.metrics:
        header += [f"{info.label} ({unit_label(info.unit, report.currency)})", info.label + SAMPLE_SUFFIX]
    return [text(name) for name in header]


def wide_rows(report: ReportData) -> Iterator[Row]:
    """Header, then one row per group and period with a value and sample column per KPI.

    KPI columns follow ``report.metrics``; a KPI with no row for a group and
    period leaves both of its cells empty.
    """
    metrics = {info.key: info for info in report.metrics}
    currency = report.currency
    yield wide_header(report)
    for block in _blocks(report.rows()):
        first = block[0]
        by_kpi: dict[str, ValueRow] = {}
        for row in block:
            _lookup(metrics, row.kpi)
            if row.kpi in by_kpi:
                raise ValueError(f"report has two {row.kpi!r} rows for {row.group_id!r} on {row.period_start}")
            by_kpi[row.kpi] = row
        cells = [text(first.group_id), text(first.group_label), first.period_start.isoformat()]
        for key, info in metrics.items():
            row = by_kpi.get(key)
            if row is None:
                cells += ["", ""]
            else:
                cells += [kpi_value(row.value, info.unit, currency), kpi_part(row.denominator, "", currency)]
        yield cells


def _blocks(rows: Sequence[ValueRow]) -> Iterator[list[ValueRow]]:
    """The rows of each group and period together: groups in report order, periods ascending."""
    if not _grouped(rows):
        # Rare: only when the engine did not order by group then period. Sorting
        # costs a list of references to the rows, never the text of the file.
        rank: dict[str, int] = {}
        for row in rows:
            rank.setdefault(row.group_id, len(rank))
        rows = sorted(rows, key=lambda row: (rank[row.group_id], row.period_start))
    for _, block in groupby(rows, key=attrgetter("group_id", "period_start")):
        yield list(block)


def _grouped(rows: Sequence[ValueRow]) -> bool:
    """True when each group's rows are adjacent with periods not going back.

    Checked in one pass remembering only the groups seen, not the rows, so
    the usual, ordered report is pivoted as it streams.
    """
    finished: set[str] = set()
    previous: ValueRow | None = None
    for row in rows:
        if previous is None or row.group_id != previous.group_id:
            if row.group_id in finished:
                return False
            if previous is not None:
                finished.add(previous.group_id)
        elif row.period_start < previous.period_start:
            return False
        previous = row
    return True


def _lookup(by_key: Mapping[str, T], key: str) -> T:
    try:
        return by_key[key]
    except KeyError:
        # A row for a KPI the report does not describe would be an unlabelled
        # column (wide) or silently dropped: fail the render instead.
        raise ValueError(f"report row names KPI {key!r}, which is not in report.metrics") from None
