"""Writing a layout's rows to the caller's binary stream as UTF-8 CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING

from reports_csv.layouts import long_rows, wide_rows

if TYPE_CHECKING:
    from kpi_core.reports.data import ReportData

BOM = "\ufeff"
"""Excel reads a CSV as UTF-8 only when it starts with a byte-order mark; without it accents turn to mojibake."""


def render_long(report: ReportData, stream: IO[bytes]) -> None:
    """Write ``report`` as CSV, one row per group, period and KPI."""
    write_rows(long_rows(report), stream)


def render_wide(report: ReportData, stream: IO[bytes]) -> None:
    """Write ``report`` as CSV, one row per group and period, two columns per KPI."""
    write_rows(wide_rows(report), stream)


def write_rows(rows: Iterable[Sequence[str]], stream: IO[bytes]) -> None:
    """Write ``rows`` to ``stream`` one at a time: BOM, UTF-8, CRLF line ends (RFC 4180).

    The stream stays open and positioned after the last byte: it belongs to
    the caller.
    """
    # newline="" hands line ends to the csv module, which writes \r\n and
    # quotes embedded newlines; TextIOWrapper passes bytes on in chunks.
    wrapper = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    try:
        wrapper.write(BOM)
        writer = csv.writer(wrapper)
        for row in rows:
            writer.writerow(row)
    finally:
        # Detaching flushes and leaves the caller's stream open; otherwise the
        # wrapper would close it when garbage-collected.
        wrapper.detach()
