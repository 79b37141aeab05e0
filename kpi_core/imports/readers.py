"""Turn an uploaded file into numbered rows of strings, streaming.

CSV: UTF-8 with or without a byte-order mark, comma- or semicolon-separated
(told apart by the header line). JSON Lines: one JSON object per line.
Rows are numbered as a person counts them in the file: the CSV header is
row 1, so the first data row is row 2; in JSON Lines the first line is row 1.
XLSX workbooks (and CSV files with other columns) are read through a column
mapping: kpi_core/imports/sources.py.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from kpi_core.errors import KpiError

MAX_FIELD_BYTES = 64 * 1024
MAX_COLUMNS = 100
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)


class FileRejected(KpiError, ValueError):
    """The file as a whole cannot be read (encoding, header, format)."""


@dataclass(frozen=True)
class RawRow:
    number: int
    values: dict[str, Any]
    error: str | None = None
    problems: tuple[tuple[str, str], ...] = ()
    """Cells a column mapping could not read: (the source file's column, message)."""
    unread: frozenset[str] = frozenset()
    """The fields left empty because of those cells (not reported again as missing)."""


def detect_format(content_type: str, filename: str | None = None) -> str:
    """'csv', 'jsonl' or 'xlsx' from a media type (or, for uploads, the file name)."""
    media = content_type.split(";")[0].strip().lower()
    name = (filename or "").lower()
    if media in XLSX_TYPES or name.endswith(".xlsx"):
        return "xlsx"
    if media in CSV_TYPES or name.endswith(".csv"):
        return "csv"
    if media in JSONL_TYPES or name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise FileRejected(
        f"unsupported content type {media or '(none)'}: send text/csv or application/x-ndjson, "
        "or a multipart upload in the field 'file' named *.csv, *.xlsx or *.jsonl"
    )


def _text(stream: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig drops a leading byte-order mark and is plain UTF-8 otherwise.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")


def read_rows(stream: IO[bytes], fmt: str, columns: tuple[str, ...]) -> Iterator[RawRow]:
    """Rows of the file as dicts restricted to known ``columns``; unknown columns are a file error."""
    if fmt not in ("csv", "jsonl"):
        raise FileRejected("only jobs are imported from XLSX workbooks; save the file as CSV (UTF-8)")
    text = _text(stream)
    try:
        yield from (_csv_rows(text, columns) if fmt == "csv" else _jsonl_rows(text, columns))
    except UnicodeDecodeError as exc:
        raise FileRejected(f"the file is not valid UTF-8 (byte {exc.start} of a chunk): save it as UTF-8") from None
    finally:
        text.detach()


def _csv_rows(text: io.TextIOWrapper, columns: tuple[str, ...]) -> Iterator[RawRow]:
    header, rows = csv_cells(text)
    header = [name.lower() for name in header]
    _check_header(header, columns)
    for number, cells, error in rows:
        if error is not None:
            yield RawRow(number, {}, error)
        else:
            yield RawRow(number, dict(zip(header, cells, strict=True)))


CellRow = tuple[int, list[str], str | None]
"""(row number, the row's cells, why the row cannot be read or None)."""


def csv_cells(text: io.TextIOWrapper) -> tuple[list[str], Iterator[CellRow]]:
    """The header (names stripped) and the numbered rows of stripped cells of a CSV text; blank rows are
    skipped, and a row with another number of cells than the header is an error row."""
    header_line = text.readline()
    if not header_line.strip():
        raise FileRejected("the file is empty: the first line must name the columns")
    if "\x00" in header_line:
        raise FileRejected("the header contains NUL bytes: this is not a text CSV file")
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    csv.field_size_limit(MAX_FIELD_BYTES)
    try:
        header = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
    except csv.Error as exc:
        raise FileRejected(f"the header line cannot be read: {exc}") from None
    if len(header) > MAX_COLUMNS:
        raise FileRejected(f"the header names {len(header)} columns; at most {MAX_COLUMNS} are read")
    return header, _csv_body(text, delimiter, len(header))


def _csv_body(text: io.TextIOWrapper, delimiter: str, width: int) -> Iterator[CellRow]:
    reader = csv.reader(_no_nul(text), delimiter=delimiter, strict=True)
    number = 1
    try:
        for cells in reader:
            number += 1
            stripped = list(map(str.strip, cells))
            if not any(stripped):
                continue
            if len(cells) != width:
                yield number, [], f"has {len(cells)} cells but the header names {width} columns"
                continue
            yield number, stripped, None
    except csv.Error as exc:  # raised by the reader only: the rest of the file cannot be read
        yield number + 1, [], f"unreadable CSV: {exc}"


def _no_nul(lines: Any) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:
            raise csv.Error("the line contains a NUL byte")
        yield line


def _check_header(header: list[str], columns: tuple[str, ...]) -> None:
    unknown = [name for name in header if name not in columns]
    if unknown:
        raise FileRejected(f"unknown columns: {', '.join(unknown[:10])}; expected {', '.join(columns)}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise FileRejected(f"columns named twice: {', '.join(duplicated)}")
    if columns[0] not in header:
        raise FileRejected(f"the column {columns[0]!r} is required")


def _jsonl_rows(text: io.TextIOWrapper, columns: tuple[str, ...]) -> Iterator[RawRow]:
    empty = True
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        empty = False
        if len(line) > MAX_FIELD_BYTES * 4:
            yield RawRow(number, {}, "the line is too long")
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:  # ValueError also: integers too long to convert
            yield RawRow(number, {}, f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield RawRow(number, {}, "each line must be a JSON object")
            continue
        unknown = [key for key in value if key not in columns]
        if unknown:
            yield RawRow(number, {}, f"unknown fields: {', '.join(map(str, unknown[:10]))}")
            continue
        yield RawRow(number, {key: "" if v is None else v for key, v in value.items()})
    if empty:
        raise FileRejected("the file is empty: send one JSON object per line")
