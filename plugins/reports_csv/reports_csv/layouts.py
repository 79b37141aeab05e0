"""The two CSV layouts, as iterators of rows of cell text (header row first).

Each layout yields one row at a time, so the writer can stream a report of
any size without holding the file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

from reports_csv.cells import kpi_part, kpi_value, margin, status_words, text, true_false, unit_label, yes_no

if TYPE_CHECKING:
    from kpi_core.reports.data import MetricInfo, ReportData, ValueRow

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
    "period_end",
    "complete",
    "margin",
    "status_label",
    "certain",
    "provisional",
    "pending",
    "closed",
    "fingerprint",
)
"""The long layout's columns: the API's names. The ones after ``status`` say how far a value can be
trusted (issue #17), and ``closed`` and ``fingerprint`` whether the row is a closed month's snapshot and
which definition computed it (issue #21), appended so that scripts reading the first ones by position
keep working."""
LEVELS = {"technician": "Technician", "team": "Team", "category": "Category", "company": "Company"}
"""The wide layout's name column is headed by what its rows are."""
SAMPLE_SUFFIX = " (sample)"
"""Wide header of a KPI's denominator: ``"<KPI label> (sample)"``, beside ``"<KPI label> (<unit>)"``."""
MARGIN_SUFFIX = " (\u00b1 pp)"
"""Wide header of a rate's margin in percentage points: ``"First-time fix rate (± pp)"``."""
STATUS_SUFFIX = " (status)"
"""Wide header of a KPI's status in words: ``"First-time fix rate (status)"``."""
PERIOD_COMPLETE = "Period complete"
"""Wide header of whether the row's period had ended when the report was made (``no``: so far)."""


def long_rows(report: ReportData) -> Iterator[Row]:
    """Header, then one row per group, period and KPI, in the report's order."""
    currency = report.currency
    # A KPI's key, label and unit cells are the same on every row: make them once.
    kpi_cells = {
        info.key: [text(info.key), text(info.label), text(unit_label(info.unit, currency))] for info in report.metrics
    }
    units = {info.key: info.unit for info in report.metrics}
    facts = {info.key: info.facts for info in report.metrics}
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
            row.period_end.isoformat() if row.period_end is not None else "",
            true_false(row.complete),
            margin(row.value, row.ci_low, row.ci_high, unit),
            _status(row, facts[row.kpi]),
            true_false(row.certain),
            true_false(row.provisional),
            kpi_part(row.pending, "", currency),
            true_false(row.closed),
            text(row.fingerprint),
        ]


def _status(row: ValueRow, facts: str) -> str:
    return status_words(
        row.status, has_value=row.value is not None, complete=row.complete, certain=row.certain, facts=facts
    )


def _columns(info: MetricInfo, rows: Sequence[ValueRow]) -> tuple[bool, bool]:
    """Whether the wide layout gives the KPI a margin column (a rate) and a pending column (its facts
    can be pending: it declares an outcome window, or a row has some)."""
    pending = bool(info.pending_reason) or any(row.pending for row in rows if row.kpi == info.key)
    return info.unit == "ratio", pending


def wide_header(report: ReportData, columns: Mapping[str, tuple[bool, bool]] | None = None) -> Row:
    """``ID``, the rows' level (``Technician``), ``Period start``, ``Period complete``, then per KPI its
    value, margin (rates), sample, status and pending (KPIs whose facts can be pending) columns."""
    columns = columns if columns is not None else _wide_columns(report)
    header = ["ID", LEVELS.get(report.group_by, report.group_by.capitalize()), "Period start", PERIOD_COMPLETE]
    for info in report.metrics:
        with_margin, with_pending = columns[info.key]
        header.append(f"{info.label} ({unit_label(info.unit, report.currency)})")
        if with_margin:
            header.append(info.label + MARGIN_SUFFIX)
        header += [info.label + SAMPLE_SUFFIX, info.label + STATUS_SUFFIX]
        if with_pending:
            header.append(f"{info.label} ({info.facts} pending)")
    return [text(name) for name in header]


def wide_rows(report: ReportData) -> Iterator[Row]:
    """Header, then one row per group and period with a value, sample and status column per KPI (and a
    margin column for a rate, a pending column where facts can be pending).

    KPI columns follow ``report.metrics``; a KPI with no row for a group and
    period leaves all of its cells empty.
    """
    metrics = {info.key: info for info in report.metrics}
    currency = report.currency
    columns = _wide_columns(report)
    yield wide_header(report, columns)
    for block in _blocks(report.rows()):
        first = block[0]
        by_kpi: dict[str, ValueRow] = {}
        for row in block:
            _lookup(metrics, row.kpi)
            if row.kpi in by_kpi:
                raise ValueError(f"report has two {row.kpi!r} rows for {row.group_id!r} on {row.period_start}")
            by_kpi[row.kpi] = row
        complete = all(row.complete for row in block)
        cells = [text(first.group_id), text(first.group_label), first.period_start.isoformat(), yes_no(complete)]
        for key, info in metrics.items():
            cells += _wide_cells(by_kpi.get(key), info, columns[key], currency)
        yield cells


def _wide_columns(report: ReportData) -> dict[str, tuple[bool, bool]]:
    rows = report.rows()
    return {info.key: _columns(info, rows) for info in report.metrics}


def _wide_cells(row: ValueRow | None, info: MetricInfo, columns: tuple[bool, bool], currency: str) -> Row:
    with_margin, with_pending = columns
    if row is None:
        return [""] * (3 + with_margin + with_pending)
    cells = [kpi_value(row.value, info.unit, currency)]
    if with_margin:
        cells.append(margin(row.value, row.ci_low, row.ci_high, info.unit))
    cells += [kpi_part(row.denominator, "", currency), _status(row, info.facts)]
    if with_pending:
        cells.append(kpi_part(row.pending, "", currency))
    return cells


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
