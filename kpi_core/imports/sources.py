"""Any CSV file or XLSX workbook as its column names and numbered rows of cells, for a column mapping.

Rows are numbered as in the file: the header is row 1. CSV cells are stripped
text. XLSX cells keep what the sheet holds (numbers as text, dates and times
as ``datetime``/``time``, durations as ``timedelta``); a formula counts as the
value the workbook saved with it (``data_only``), and a formula saved without
a value is a cell problem that names its column. A workbook with several
sheets is read only once a sheet is chosen.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import IO, Any

from kpi_core.imports.readers import MAX_COLUMNS, CellRow, FileRejected, csv_cells

XLSX_MAX_UNPACKED = 512 * 1024 * 1024
"""The most a workbook may unpack to: a small .xlsx can hold a huge sheet (a "zip bomb")."""
_FORMULA = re.compile(rb"<(?:\w+:)?f[ >/]")


class SheetNeeded(FileRejected):
    """A workbook has several sheets and none was chosen; ``sheets`` lists them."""

    def __init__(self, message: str, sheets: tuple[str, ...]) -> None:
        super().__init__(message)
        self.sheets = sheets


@dataclass
class SourceTable:
    """A file opened for a mapped import: its columns, its rows, and for a workbook its sheets."""

    columns: tuple[str, ...]
    rows: Iterator[CellRow]
    """(row number, cells in column order, why the row cannot be read or None); problems cells
    found are reported through ``cell_problems``."""
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    cell_problems: dict[int, list[tuple[str, str]]] | None = None
    """Row number -> (column, message) of cells that hold no readable value (XLSX formulas without one)."""
    close: Any = None

    def finish(self) -> None:
        """Release the file (a workbook's archive)."""
        if self.close is not None:
            self.close()

    def samples(self, count: int = 3) -> list[list[Any]]:
        """The first ``count`` readable rows' cells (consumed from ``rows``)."""
        found: list[list[Any]] = []
        for _number, cells, error in self.rows:
            if error is None:
                found.append(list(cells))
            if len(found) >= count:
                break
        return found


def open_source(stream: IO[bytes], fmt: str, *, sheet: str | None = None) -> SourceTable:
    """Open a CSV file or an XLSX workbook (``fmt`` from ``readers.detect_format``) for a mapped import."""
    if fmt == "csv":
        return _csv_table(stream)
    if fmt == "xlsx":
        return _xlsx_table(stream, sheet)
    raise FileRejected("a column mapping reads CSV files and XLSX workbooks; this file is JSON Lines")


def _csv_table(stream: IO[bytes]) -> SourceTable:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    try:
        header, rows = csv_cells(text)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"the file is not valid UTF-8 (byte {exc.start} of a chunk): save it as UTF-8") from None
    return SourceTable(columns=_names(header), rows=_utf8_checked(rows))


def _utf8_checked(rows: Iterator[CellRow]) -> Iterator[CellRow]:
    try:
        yield from rows
    except UnicodeDecodeError as exc:
        raise FileRejected(f"the file is not valid UTF-8 (byte {exc.start} of a chunk): save it as UTF-8") from None


def _names(header: list[Any]) -> tuple[str, ...]:
    """Column names as shown to people: an unnamed column is called by its position."""
    return tuple(str(name).strip() if name not in (None, "") else f"(column {n})" for n, name in enumerate(header, 1))


# --- XLSX --------------------------------------------------------------------------------------


def _xlsx_table(stream: IO[bytes], sheet: str | None) -> SourceTable:
    import openpyxl  # only mapped imports of workbooks need it

    source = stream if stream.seekable() else io.BytesIO(stream.read())
    has_formulas = _check_package(source)
    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, InvalidFileException, XML errors)
        raise FileRejected(f"the file is not a readable XLSX workbook ({type(exc).__name__}): save it again") from None
    names = tuple(book.sheetnames)
    try:
        chosen = _choose_sheet(names, sheet)
    except FileRejected:
        book.close()
        raise
    rows = book[chosen].iter_rows(values_only=True)
    header = next(rows, None)
    if header is None or not any(cell not in (None, "") for cell in header):
        book.close()
        raise FileRejected(f"the first row of the sheet {chosen!r} is empty: it must name the columns")
    if len(header) > MAX_COLUMNS:
        book.close()
        raise FileRejected(f"the header names {len(header)} columns; at most {MAX_COLUMNS} are read")
    columns = _names(list(header))
    problems: dict[int, list[tuple[str, str]]] = {}
    books, formulas = [book], None
    if has_formulas:
        # The same sheet again, as written: where a cached value is missing, the formula says why.
        source.seek(0)
        books.append(openpyxl.load_workbook(source, read_only=True, data_only=False))
        formulas = books[-1][chosen].iter_rows(values_only=True)
        next(formulas, None)
    return SourceTable(
        columns=columns,
        rows=_xlsx_rows(rows, formulas, columns, problems),
        sheets=names,
        sheet=chosen,
        cell_problems=problems,
        close=lambda: [opened.close() for opened in books],
    )


def _check_package(source: IO[bytes]) -> bool:
    """Refuse what is not a workbook or unpacks too large; whether any sheet holds a formula."""
    try:
        package = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise FileRejected(
            "the file is not an XLSX workbook (an .xls file from an old Excel? save it as .xlsx or CSV)"
        ) from None
    with package:
        members = package.infolist()
        unpacked = sum(member.file_size for member in members)
        if unpacked > XLSX_MAX_UNPACKED:
            raise FileRejected(
                f"the workbook unpacks to {unpacked // 2**20} MB; at most {XLSX_MAX_UNPACKED // 2**20} MB are read: "
                "split it, or save the sheet as CSV"
            )
        return any(_holds_formula(package, m) for m in members if m.filename.startswith("xl/worksheets/"))


def _holds_formula(package: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    tail = b""
    with package.open(member) as data:
        while chunk := data.read(1 << 20):
            if _FORMULA.search(tail + chunk):
                return True
            tail = chunk[-8:]
    return False


def _choose_sheet(names: tuple[str, ...], sheet: str | None) -> str:
    listed = ", ".join(f"“{name}”" for name in names)
    if sheet:
        if sheet not in names:
            raise FileRejected(f"the workbook has no sheet “{sheet}”; its sheets are {listed}")
        return sheet
    if len(names) > 1:
        raise SheetNeeded(f"the workbook has {len(names)} sheets ({listed}): choose the one to import", names)
    return names[0]


def _xlsx_rows(
    rows: Iterator[tuple[Any, ...]],
    formulas: Iterator[tuple[Any, ...]] | None,
    columns: tuple[str, ...],
    problems: dict[int, list[tuple[str, str]]],
) -> Iterator[CellRow]:
    width = len(columns)
    for number, values in enumerate(rows, start=2):
        written = next(formulas, ()) if formulas is not None else ()
        if len(values) > width and any(value not in (None, "") for value in values[width:]):
            yield number, [], f"has a value beyond the last named column ({columns[-1]})"
            continue
        cells = [_cell(value) for value in values[:width]]
        if len(cells) < width:
            cells.extend([""] * (width - len(cells)))
        for index, formula in enumerate(written[:width]):
            if isinstance(formula, str) and formula.startswith("=") and values[index] is None:
                problems.setdefault(number, []).append(
                    (
                        columns[index],
                        f"holds the formula {formula[:60]} without a saved value: open the workbook in "
                        "Excel and save it again (or paste the values in place of the formulas)",
                    )
                )
        if any(cell != "" for cell in cells) or number in problems:
            yield number, cells, None


def _cell(value: Any) -> Any:
    """A cell as the mapping reads it: text stripped, numbers as text, dates and durations as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time | timedelta):
        return value
    return str(value)
