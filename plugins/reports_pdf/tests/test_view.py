"""What the templates get from ReportData: pooled ranges, ordering, safe statuses."""

from __future__ import annotations

import dataclasses
from datetime import date

from reports_pdf.formatting import MISSING
from reports_pdf.view import build_view

from kpi_core.reports.data import ScorecardRow, ValueRow

FIX = "quality.first_time_fix_rate"


def test_whole_range_pools_numerators_not_means_of_periods(report_factory) -> None:
    report = report_factory(("Ann Archer",))
    rows = (
        ValueRow(FIX, "tech-0", "Ann Archer", date(2026, 1, 1), 1.0, 1, 1, status="green"),
        ValueRow(FIX, "tech-0", "Ann Archer", date(2026, 2, 1), 0.5, 9, 18, status="red"),
    )
    view = build_view(dataclasses.replace(report, values={**report.values, "technician": rows}))
    fix = view.technicians[0].kpis[0]
    assert fix.whole == "52.6%"  # 10 of 19 jobs; the mean of the two rates would be 75%
    assert fix.sample == "19"


def test_technicians_are_in_name_order(report_factory) -> None:
    view = build_view(report_factory(("Cy Carter", "ann archer", "Bob Baker")))
    assert [t.label for t in view.technicians] == ["ann archer", "Bob Baker", "Cy Carter"]


def test_ranking_lists_ranked_technicians_first_then_the_unranked(report_factory) -> None:
    view = build_view(report_factory(("Ann Archer", "Bob Baker", "Cy Carter")))
    assert [(row.rank, row.label, row.note) for row in view.ranking] == [
        ("1", "Ann Archer", ""),
        ("2", "Bob Baker", ""),
        (MISSING, "Cy Carter", "fewer than 30 jobs in range"),
    ]


def test_a_technician_with_a_scorecard_but_no_values_still_gets_a_page(report_factory) -> None:
    report = report_factory(("Ann Archer",))
    extra = ScorecardRow("tech-9", "Dee Dale", None, None, None, 0, unranked_reason="no jobs in range")
    view = build_view(dataclasses.replace(report, scorecards=(*report.scorecards, extra)))
    dee = next(t for t in view.technicians if t.label == "Dee Dale")
    assert dee.standing == "Unranked: no jobs in range"
    assert all(kpi.whole == MISSING for kpi in dee.kpis)


def test_only_known_statuses_reach_the_templates(report_factory) -> None:
    report = report_factory(("Ann Archer",))
    rows = tuple(dataclasses.replace(row, status='x" onload="') for row in report.values["technician"])
    view = build_view(dataclasses.replace(report, values={**report.values, "technician": rows}))
    assert {kpi.latest.status for kpi in view.technicians[0].kpis} == {None}


def test_a_report_without_company_rows_has_no_company_summary(report_factory) -> None:
    report = report_factory(("Ann Archer",))
    view = build_view(dataclasses.replace(report, values={"technician": report.values["technician"]}))
    assert view.company is None
    assert view.teams == ()


def test_a_report_without_rows_still_builds(report_factory) -> None:
    view = build_view(report_factory((), values={}))
    assert view.period_count == 0
    assert view.latest_period == "Latest"
    assert view.technicians == ()


# How far each value can be trusted (issue #17)


def test_a_value_on_too_few_jobs_keeps_no_colour_and_says_so(honest_report) -> None:
    view = build_view(honest_report())
    bob = next(t for t in view.technicians if t.label == "Bob Baker")

    latest = bob.kpis[0].latest
    assert (latest.text, latest.status, latest.caption) == ("94.5%", "insufficient", "too few jobs")
    assert "too few jobs" in latest.detail


def test_the_period_under_way_is_labelled_so_far(honest_report) -> None:
    view = build_view(honest_report())

    assert view.recent_periods == ("Oct 2026", "Nov 2026", "Dec 2026 so far")
    assert view.latest_period == "Dec 2026 so far"
    assert view.range == "1 Oct 2026 \u2013 26 Dec 2026 so far"


def test_a_rate_carries_its_margin_and_a_borderline_status_says_so(honest_report) -> None:
    company = build_view(honest_report()).company
    assert company is not None

    december = company.kpis[0].recent[-1]
    assert (december.status, december.margin, december.caption) == ("amber", "\u00b1 3.3 pp", "borderline")
    assert company.kpis[1].recent[-1].margin == ""  # a mean: no interval


def test_provisional_values_are_marked_and_footnoted_in_reading_order(honest_report) -> None:
    company = build_view(honest_report()).company
    assert company is not None

    fix = company.kpis[0]
    assert [fix.whole_mark, *(cell.mark for cell in fix.recent)] == ["\u00b9", "", "\u00b2", "\u00b3"]
    assert [(note.mark, note.text) for note in company.notes] == [
        ("\u00b9", "Provisional: 923 jobs can still change this value (callback window still open)."),
        ("\u00b2", "Provisional: 120 jobs can still change this value (callback window still open)."),
        ("\u00b3", "Provisional: 803 jobs can still change this value (callback window still open)."),
    ]
    assert all(cell.mark == "" for line in company.kpis[1:] for cell in line.recent)


def test_a_technician_page_marks_only_what_it_shows(honest_report) -> None:
    ann = next(t for t in build_view(honest_report()).technicians if t.label == "Ann Archer")

    fix = ann.kpis[0]
    assert (fix.whole_mark, fix.latest.mark) == ("\u00b9", "\u00b2")
    assert [note.text for note in ann.notes] == [
        "Provisional: 923 jobs can still change this value (callback window still open).",  # the whole range
        "Provisional: 803 jobs can still change this value (callback window still open).",  # December
    ]


def test_the_team_matrix_marks_each_table_badge_first(honest_report) -> None:
    [table] = build_view(honest_report()).team_tables
    north, south = table.teams

    assert (north.kpis[0].latest.mark, north.kpis[0].whole_mark) == ("\u00b9", "\u00b2")
    assert (south.kpis[0].latest.mark, south.kpis[0].whole_mark) == ("\u00b3", "\u00b3")  # 3 pending in both
    assert len(table.notes) == 3


def test_a_value_with_every_job_pending_says_there_is_no_value_yet(honest_report) -> None:
    report = honest_report()
    rows = tuple(
        dataclasses.replace(row, value=None, numerator=0.0, denominator=0.0, status=None, ci_low=None, ci_high=None)
        if row.kpi == FIX and row.period_start == date(2026, 12, 1)
        else row
        for row in report.values["company"]
    )
    company = build_view(dataclasses.replace(report, values={**report.values, "company": rows})).company
    assert company is not None

    december = company.kpis[0].recent[-1]
    assert december.missing and december.mark
    assert company.notes[-1].text == (
        "No value yet: the outcome of 803 jobs is not known yet, so they are not counted (callback window still open)."
    )
