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
