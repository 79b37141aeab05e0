"""A mapping's date formats are read as ``datetime.strptime`` reads them, only faster (kpi_core/imports/formats.py)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from kpi_core.imports.formats import example, reader

FORMATS = ["%m/%d/%Y %I:%M %p", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%d %b %Y %H:%M", "%d %B %Y", "%m/%d/%y",
           "%H:%M", "%I:%M %p", "%Y-%m-%dT%H:%M:%S.%f", "%d/%m/%Y", "%I %p", "%j/%Y"]  # fmt: skip
NOT_DATES = ["13/45/2026 09:30 AM", "", "x", "02/30/2026 10:00 AM", "00:00 AM", "13:00 PM", "12/01/2026 00:10 PM",
             "2 Mayo 2026", "2 Sep 2026", "31.04.2026 10:00", "1.1.2026  7:05"]  # fmt: skip


def strptime(text: str, fmt: str) -> datetime | str:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return "refused"


def read(text: str, fmt: str) -> datetime | str:
    try:
        return reader(fmt)(text)
    except ValueError:
        return "refused"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_moment_written_in_a_format_reads_back_as_strptime_reads_it(fmt):
    rng = random.Random(fmt)
    for _ in range(500):
        moment = datetime(1990, 1, 1) + timedelta(minutes=rng.randint(0, 20_000_000))
        if "%f" in fmt:
            moment += timedelta(microseconds=rng.randint(0, 999_999))
        text = moment.strftime(fmt)
        assert read(text, fmt) == strptime(text, fmt), text


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_strptime_refuses_is_refused(fmt):
    for text in NOT_DATES:
        assert read(text, fmt) == strptime(text, fmt), text


def test_messages_show_the_format_by_an_example():
    assert example("%m/%d/%Y %I:%M %p", "datetime") == "03/02/2026 02:30 PM"
    assert example(None, "date") == "2026-03-02"
