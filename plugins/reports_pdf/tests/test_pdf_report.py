"""The PDF report as its reader sees it: the text on each page, and pages that are not blank."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import date

import pytest
from PIL import Image
from reports_pdf.formatting import MISSING

from kpi_core.reports.data import MetricInfo, ReportData, ValueRow

HOSTILE = ("<script>alert(1)</script>", '=HYPERLINK("http://evil.example","x")')
TECHNICIANS = ("Ann Archer", "Bob Baker", *HOSTILE)


@pytest.fixture(scope="module")
def sample(request: pytest.FixtureRequest) -> tuple[ReportData, bytes]:
    """One report, rendered once for every test here that only reads it."""
    report = request.getfixturevalue("report_factory")(TECHNICIANS)
    return report, request.getfixturevalue("render_pdf")(report)


@pytest.fixture
def pages(sample: tuple[ReportData, bytes], read_pages: Callable[[bytes], list[str]]) -> list[str]:
    return read_pages(sample[1])


def _page_of(pages: list[str], name: str) -> str:
    """The technician's own page: the one whose heading names them."""
    found = [page for page in pages if "TECHNICIAN" in page and name in page and "Managers' evaluations" in page]
    assert len(found) == 1, f"expected one page for {name!r}, found {len(found)}"
    return found[0]


def test_output_is_a_pdf(sample: tuple[ReportData, bytes]) -> None:
    assert sample[1].startswith(b"%PDF-")


def test_cover_shows_title_period_time_zone_filters_and_generation_time(pages: list[str]) -> None:
    cover = pages[0]
    assert "Acme Home Services: Q1 review" in cover
    assert "1 Jan 2026 \u2013 31 Mar 2026" in cover  # the end date is exclusive in ReportData
    assert "Monthly periods" in cover
    assert "Europe/London" in cover
    assert "Teams: North crew" in cover
    assert "Categories: plumbing, electrical" in cover
    assert "2 Apr 2026, 09:30" in cover  # 08:30 UTC is 09:30 in London in April


def test_cover_says_when_there_are_no_filters(report_factory, render_pdf, read_pages) -> None:
    pages = read_pages(render_pdf(report_factory(("Ann Archer",), filters={})))
    assert "None: every team and technician" in pages[0]


def test_company_summary_lists_every_kpi_with_its_latest_periods(pages: list[str]) -> None:
    summary = next(page for page in pages if "Company summary" in page and "Whole range" in page)
    for label in ("First-time fix rate", "Average customer rating", "Average arrival delay"):
        assert label in summary
    for period in ("Jan 2026", "Feb 2026", "Mar 2026"):
        assert period in summary


def test_rates_print_as_percentages_and_other_units_with_their_unit(pages: list[str]) -> None:
    summary = next(page for page in pages if "Company summary" in page and "Whole range" in page)
    assert "80.0%" in summary
    assert "4.5 stars" in summary
    assert "13.0 min" in summary  # the whole range pools 12, 13 and 14 minutes over equal samples


def test_team_table_shows_each_team(pages: list[str]) -> None:
    teams = next(page for page in pages if "Badge: the latest period" in page)
    assert "North crew" in teams
    assert "81.0%" in teams


def test_each_technician_has_a_page_with_their_name_and_scorecard(pages: list[str]) -> None:
    ann = _page_of(pages, "Ann Archer")
    assert "70.0" in ann and "Rank 1 of 3" in ann
    assert "Solid month for Ann Archer" in ann
    assert "30.5" in ann  # her first-time fix rate's contribution to the score
    for name in TECHNICIANS:
        _page_of(pages, name)


def test_unranked_technician_shows_the_reason(pages: list[str]) -> None:
    page = _page_of(pages, HOSTILE[1])
    assert "Unranked: fewer than 30 jobs in range" in page


def test_missing_values_print_as_dashes_not_zeros(report_factory, render_pdf, read_pages) -> None:
    report = report_factory(("Ann Archer",))
    # Ann has no first-time fix sample in March.
    rows = tuple(
        r for r in report.values["technician"] if not (r.kpi.endswith("fix_rate") and r.period_start.month == 3)
    )
    pages = read_pages(render_pdf(dataclasses.replace(report, values={**report.values, "technician": rows})))
    page = _page_of(pages, "Ann Archer")
    fix_row = page[page.index("First-time fix rate") : page.index("Average customer rating")]
    assert MISSING in fix_row  # in the March column
    assert not re.search(r"(?<![\d.])0\.0%", fix_row)


def test_hostile_names_print_literally(pages: list[str]) -> None:
    text = "\n".join(pages)
    assert "<script>alert(1)</script>" in text
    assert '=HYPERLINK("http://evil.example","x")' in text
    assert "&lt;" not in text  # escaped once, by the template, never twice


def test_every_page_is_numbered_page_x_of_n(pages: list[str]) -> None:
    total = len(pages)
    assert re.search(rf"Page 1 of {total}\b", pages[0])
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in page


def test_page_count_grows_with_technicians(report_factory, render_pdf, read_pages) -> None:
    one = len(read_pages(render_pdf(report_factory(("Ann Archer",)))))
    three = len(read_pages(render_pdf(report_factory(("Ann Archer", "Bob Baker", "Cy Carter")))))
    assert three == one + 2  # a page per technician


def _colours(path) -> list[tuple[int, tuple[int, int, int]]]:
    """(count, rgb) of every colour in a page image."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        return rgb.getcolors(maxcolors=rgb.width * rgb.height)


def test_pages_render_to_images_that_are_not_blank(sample: tuple[ReportData, bytes], page_images) -> None:
    images = page_images(sample[1])
    assert len(images) >= 6
    for path in images:
        assert path.stat().st_size > 2_000, f"{path.name} looks blank"
        inked = sum(count for count, colour in _colours(path) if colour != (255, 255, 255))
        assert inked > 1_000, f"{path.name} is nearly empty"


def test_status_badges_and_charts_are_in_colour(sample: tuple[ReportData, bytes], page_images) -> None:
    technician_page = page_images(sample[1])[-2]  # the last page is the KPI definitions
    colours = [colour for _, colour in _colours(technician_page)]
    assert any(g > r + 40 and g > b for r, g, b in colours), "no green on a technician's page"
    assert any(r > g + 60 and r > b + 60 for r, g, b in colours), "no red on a technician's page"


def test_a_report_without_data_still_renders(report_factory, render_pdf, read_pages) -> None:
    pages = read_pages(render_pdf(report_factory((), values={}, scorecards=(), evaluations=())))
    text = "\n".join(pages)
    assert "This report has no summary values." in text
    assert "This report has no scorecards." in text


def test_money_prints_with_the_companys_currency(report_factory, render_pdf, read_pages) -> None:
    revenue = MetricInfo("productivity.revenue", "Revenue per job", "currency", "higher", "mean", "Revenue over jobs")
    rows = tuple(
        ValueRow(revenue.key, group_id, label, date(2026, month, 1), 262.8, 262.8 * 10, 10)
        for group_id, label in (("company", "Acme Home Services"), ("tech-0", "Ann Archer"))
        for month in (1, 2, 3)
    )
    report = report_factory(("Ann Archer",), metrics=(revenue,), currency="EUR")
    report = dataclasses.replace(
        report,
        values={"company": rows[:3], "technician": rows[3:]},
        scorecards=(),
    )
    words = " ".join("\n".join(read_pages(render_pdf(report))).split())
    assert "€262.80" in words
    assert "Currency EUR" in words  # the cover says which currency
    assert "currency" not in words.replace("Currency EUR", "").lower()  # never "262.8 currency"


def test_a_managers_report_is_titled_and_filtered_with_their_teams(report_factory, render_pdf, read_pages) -> None:
    report = report_factory(("Ann Archer",), scope="North crew team", filters={"team": ["North crew"]})
    pages = read_pages(render_pdf(report))
    assert "North crew team summary" in pages[0]  # the contents
    assert "Teams: North crew" in pages[0]
    assert "Company summary" not in "\n".join(pages)
    assert any("North crew team summary" in page and "Whole range" in page for page in pages[1:])
