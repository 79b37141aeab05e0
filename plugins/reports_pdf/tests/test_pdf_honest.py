"""The PDF says how far each number can be trusted, as the dashboard does (issue #17): a period under
way reads "so far", a value on too few jobs "too few jobs" without a colour, a rate its margin, and a
provisional value carries a mark and a footnote saying how many jobs can still change it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from PIL import Image

from kpi_core.reports.data import ReportData

PROVISIONAL_DECEMBER = "Provisional: 803 jobs can still change this value (callback window still open)."


@pytest.fixture(scope="module")
def honest(request: pytest.FixtureRequest) -> tuple[ReportData, bytes]:
    report = request.getfixturevalue("honest_report")()
    return report, request.getfixturevalue("render_pdf")(report)


@pytest.fixture
def pages(honest: tuple[ReportData, bytes], read_pages: Callable[[bytes], list[str]]) -> list[str]:
    return [" ".join(page.split()) for page in read_pages(honest[1])]


def _summary(pages: list[str]) -> str:
    return next(page for page in pages if "Company summary" in page and "Whole range" in page)


def _technician(pages: list[str], name: str) -> str:
    return next(page for page in pages if "TECHNICIAN" in page and name in page and "Managers' evaluations" in page)


def test_a_range_under_way_is_reported_so_far_on_the_cover_and_in_every_footer(pages: list[str]) -> None:
    assert "Period 1 Oct 2026 \u2013 26 Dec 2026 so far" in pages[0]
    assert all("26 Dec 2026 so far" in page for page in pages)


def test_the_month_under_way_is_labelled_so_far_and_the_ended_ones_are_not(pages: list[str]) -> None:
    summary = _summary(pages)
    assert "Oct 2026 Nov 2026 Dec 2026 so far" in summary
    assert "Nov 2026 so far" not in summary
    assert "Badge: the latest period (Dec 2026 so far)" in next(page for page in pages if "Badge:" in page)
    assert "Dec 2026 so far" in _technician(pages, "Ann Archer")


def test_the_summary_shows_each_rates_margin_and_a_borderline_status(pages: list[str]) -> None:
    summary = _summary(pages)
    assert summary.count("\u00b1 3.3 pp") == 3  # first-time fix in each of the three months
    assert "\u00b1 3.3 pp \u00b7 borderline" in summary  # December's amber: the margin crosses a threshold


def test_a_provisional_value_is_marked_and_footnoted_with_its_pending_jobs(pages: list[str]) -> None:
    summary = _summary(pages)
    assert re.search("94.5% ?\u00b9", summary)  # the whole range's mark, right after it
    assert f"\u00b3 {PROVISIONAL_DECEMBER}" in summary
    assert "\u00b9 Provisional: 923 jobs can still change this value (callback window still open)." in summary
    assert PROVISIONAL_DECEMBER in _technician(pages, "Ann Archer")


def test_a_value_on_too_few_jobs_reads_too_few_jobs(pages: list[str]) -> None:
    bob = _technician(pages, "Bob Baker")
    assert "too few jobs" in bob
    assert "borderline" not in bob


def test_the_definitions_say_how_many_jobs_a_colour_needs(pages: list[str]) -> None:
    definitions = pages[-1]
    assert "A colour needs" in definitions
    assert definitions.count("10 jobs") == 3


def _status_colours(path) -> set[str]:
    """Which status colours a page image shows (green, amber, red), read from its pixels."""
    found = set()
    with Image.open(path) as image:
        for _count, (r, g, b) in image.convert("RGB").getcolors(maxcolors=image.width * image.height):
            if g > r + 40 and g > b:
                found.add("green")
            elif r > g + 60 and r > b + 60:
                found.add("red")
            elif r > 180 and 120 < g < 180 and b < 90:
                found.add("amber")
    return found


def test_values_on_too_few_jobs_say_so_and_are_not_coloured(
    honest, honest_report, render_pdf, read_pages, page_images
) -> None:
    report = honest_report(small=True)
    # No footnote marks either: their colour is not a status, but the check would read it as red.
    report = dataclasses.replace(
        report,
        values={
            level: tuple(dataclasses.replace(row, pending=0.0, provisional=False) for row in rows)
            for level, rows in report.values.items()
        },
    )
    pdf = render_pdf(report)

    summary, teams = read_pages(pdf)[1:3]
    assert summary.count("too few jobs") == 9 and teams.count("too few jobs") == 6  # every badge says so
    coloured = [_status_colours(image) for image in page_images(pdf)[1:3]]
    assert coloured == [set(), set()]
    # The same check sees the colours of the report with enough jobs.
    assert _status_colours(page_images(honest[1])[1]) >= {"green", "amber", "red"}
