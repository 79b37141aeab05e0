"""Both CSV layouts, rendered from hand-built report data and read back with csv.reader."""

from __future__ import annotations

import csv
import dataclasses
import io
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from reports_csv.layouts import LONG_HEADER
from reports_csv.render import render_long, render_wide

from kpi_core.reports.data import MetricInfo, ReportData, ValueRow

FTF = MetricInfo(
    "quality.first_time_fix_rate", "First-time fix rate", "ratio", "higher", "rate", "fixed / completed",
    min_sample=10, pending_reason="Callback window still open",
)  # fmt: skip
RATING = MetricInfo("quality.customer_rating", "Customer rating", "stars", "higher", "mean", "mean of ratings")
REVENUE = MetricInfo("productivity.revenue", "Revenue per job", "currency", "higher", "mean", "revenue / jobs")
JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)


def value_row(**overrides: Any) -> ValueRow:
    fields: dict[str, Any] = {
        "kpi": FTF.key,
        "group_id": "tech-1",
        "group_label": "José Núñez",
        "period_start": JAN,
        "value": 0.75,
        "numerator": 3.0,
        "denominator": 4.0,
        "ci_low": 0.3,
        "ci_high": 0.95,
        "status": "amber",
        "period_end": FEB,
        "certain": True,
    }
    return ValueRow(**(fields | overrides))


def make_report(
    rows: Iterable[ValueRow], metrics: tuple[MetricInfo, ...] = (FTF, RATING), currency: str = "USD"
) -> ReportData:
    return ReportData(
        currency=currency,
        title="Monthly scorecard",
        generated_at=datetime(2026, 3, 1, tzinfo=UTC),
        timezone="Europe/Madrid",
        group_by="technician",
        period="month",
        start=JAN,
        end=date(2026, 3, 1),
        metrics=metrics,
        values={"technician": tuple(rows)},
    )


def grid_rows(groups: int, periods: int, metrics: tuple[MetricInfo, ...] = (FTF, RATING)) -> list[ValueRow]:
    """Every group x period x KPI, ordered by group, then period, as the engine returns them."""
    return [
        value_row(
            kpi=info.key,
            group_id=f"tech-{g}",
            group_label=f"Technician {g}",
            period_start=JAN + timedelta(days=p),
        )
        for g in range(groups)
        for p in range(periods)
        for info in metrics
    ]


def rendered(render, report: ReportData) -> bytes:
    stream = io.BytesIO()
    render(report, stream)
    return stream.getvalue()


def parsed(render, report: ReportData) -> list[list[str]]:
    return list(csv.reader(io.StringIO(rendered(render, report).decode("utf-8-sig"), newline="")))


def as_dicts(render, report: ReportData) -> list[dict[str, str]]:
    header, *body = parsed(render, report)
    return [dict(zip(header, cells, strict=True)) for cells in body]


# Layouts


def test_long_layout_starts_with_its_header_row():
    assert parsed(render_long, make_report([]))[0] == list(LONG_HEADER)


def test_long_layout_has_one_row_per_group_period_and_kpi():
    rows = as_dicts(render_long, make_report(grid_rows(groups=3, periods=2)))
    assert len(rows) == 3 * 2 * 2
    assert len({(r["group_id"], r["period_start"], r["kpi"]) for r in rows}) == 12


def test_long_row_carries_labels_units_and_exact_numbers():
    (row,) = as_dicts(render_long, make_report([value_row()]))
    assert row == {
        "group_by": "technician",
        "group_id": "tech-1",
        "group_label": "José Núñez",
        "period_start": "2026-01-01",
        "kpi": "quality.first_time_fix_rate",
        "kpi_label": "First-time fix rate",
        "unit": "%",
        "value": "75",
        "numerator": "3",
        "denominator": "4",
        "ci_low": "30",
        "ci_high": "95",
        "status": "amber",
        "period_end": "2026-02-01",
        "complete": "true",
        "margin": "45",
        "status_label": "amber",
        "certain": "true",
        "provisional": "false",
        "pending": "0",
        "closed": "false",
        "fingerprint": "",
    }


def test_long_row_names_a_closed_month_and_the_definition_it_was_computed_with():
    (row,) = as_dicts(render_long, make_report([value_row(closed=True, fingerprint="9b5bb95325799291")]))
    assert (row["closed"], row["fingerprint"]) == ("true", "9b5bb95325799291")


def test_long_layout_rounds_money_to_cents_and_names_the_currency():
    row = value_row(kpi=REVENUE.key, value=276.44320000000005, numerator=13822.160000000002, denominator=50.0)
    (written,) = as_dicts(render_long, make_report([row], metrics=(REVENUE,), currency="EUR"))
    assert (written["unit"], written["value"], written["numerator"], written["denominator"]) == (
        "EUR",
        "276.44",
        "13822.16",
        "50",
    )


def test_long_layout_rounds_means_to_two_decimals():
    row = value_row(kpi=RATING.key, value=4.393939393939394, numerator=145.0, denominator=33.0, ci_low=None)
    (written,) = as_dicts(render_long, make_report([row]))
    assert (written["unit"], written["value"]) == ("stars", "4.39")


def test_long_layout_leaves_missing_values_empty():
    report = make_report(
        [value_row(value=None, numerator=0.0, denominator=0.0, ci_low=None, ci_high=None, status=None)]
    )
    (row,) = as_dicts(render_long, report)
    assert (row["value"], row["ci_low"], row["ci_high"], row["status"]) == ("", "", "", "")
    assert (row["numerator"], row["denominator"]) == ("0", "0")


def test_wide_layout_header_names_each_kpi_with_its_unit_and_a_sample_column_in_report_order():
    assert parsed(render_wide, make_report([], metrics=(FTF, RATING, REVENUE)))[0] == [
        "ID",
        "Technician",
        "Period start",
        "Period complete",
        "First-time fix rate (%)",
        "First-time fix rate (± pp)",
        "First-time fix rate (sample)",
        "First-time fix rate (status)",
        "First-time fix rate (jobs pending)",
        "Customer rating (stars)",
        "Customer rating (sample)",
        "Customer rating (status)",
        "Revenue per job (USD)",
        "Revenue per job (sample)",
        "Revenue per job (status)",
    ]


def test_wide_layout_names_the_rows_by_what_they_are():
    report = dataclasses.replace(make_report([]), group_by="team")
    assert parsed(render_wide, report)[0][:4] == ["ID", "Team", "Period start", "Period complete"]


def test_wide_layout_has_one_row_per_group_and_period():
    rows = as_dicts(render_wide, make_report(grid_rows(groups=3, periods=2)))
    assert [(r["ID"], r["Period start"]) for r in rows] == [
        (f"tech-{g}", f"2026-01-0{p + 1}") for g in range(3) for p in range(2)
    ]


def test_wide_row_holds_each_kpis_value_and_denominator():
    report = make_report([value_row(), value_row(kpi=RATING.key, value=4.5, numerator=45.0, denominator=10.0)])
    (row,) = as_dicts(render_wide, report)
    assert row["First-time fix rate (%)"] == "75"
    assert row["First-time fix rate (sample)"] == "4"
    assert row["Customer rating (stars)"] == "4.5"
    assert row["Customer rating (sample)"] == "10"


def test_wide_layout_leaves_cells_of_a_missing_kpi_or_value_empty():
    report = make_report([value_row(value=None, denominator=0.0, status=None)])
    (row,) = as_dicts(render_wide, report)
    assert (row["First-time fix rate (%)"], row["First-time fix rate (sample)"]) == ("", "0")
    assert (row["First-time fix rate (± pp)"], row["First-time fix rate (status)"]) == ("", "")
    assert (row["Customer rating (stars)"], row["Customer rating (sample)"], row["Customer rating (status)"]) == (
        "",
        "",
        "",
    )


def test_wide_layout_gathers_rows_that_arrive_out_of_order():
    rows = [
        value_row(group_id="b", group_label="B", period_start=FEB),
        value_row(group_id="a", group_label="A", period_start=JAN),
        value_row(group_id="b", group_label="B", period_start=JAN),
        value_row(group_id="a", group_label="A", period_start=JAN, kpi=RATING.key, value=4.0),
    ]
    wide = as_dicts(render_wide, make_report(rows))
    assert [(r["ID"], r["Period start"]) for r in wide] == [
        ("b", "2026-01-01"),
        ("b", "2026-02-01"),
        ("a", "2026-01-01"),
    ]
    assert wide[2]["Customer rating (stars)"] == "4"


def test_wide_layout_lists_a_groups_periods_in_date_order():
    rows = [value_row(period_start=FEB), value_row(period_start=JAN)]
    wide = as_dicts(render_wide, make_report(rows))
    assert [r["Period start"] for r in wide] == ["2026-01-01", "2026-02-01"]


def test_a_row_for_a_kpi_missing_from_report_metrics_fails_the_render():
    report = make_report([value_row(kpi="other.kpi")])
    for render in (render_long, render_wide):
        with pytest.raises(ValueError, match=r"other\.kpi"):
            render(report, io.BytesIO())


def test_wide_layout_refuses_two_values_for_one_kpi_group_and_period():
    with pytest.raises(ValueError, match="two"):
        render_wide(make_report([value_row(), value_row()]), io.BytesIO())


# How far each value can be trusted (issue #17)


def test_a_value_below_the_kpis_minimum_sample_reads_too_few_jobs():
    rating = dataclasses.replace(RATING, source="evaluations")
    rows = [
        value_row(value=1.0, numerator=3.0, denominator=3.0, ci_low=0.44, ci_high=1.0, status="insufficient"),
        value_row(kpi=RATING.key, value=4.0, numerator=8.0, denominator=2.0, ci_low=None, ci_high=None,
                  status="insufficient", certain=None),
    ]  # fmt: skip
    report = make_report(rows, metrics=(FTF, rating))

    long_rows = as_dicts(render_long, report)
    (wide,) = as_dicts(render_wide, report)

    assert [(row["status"], row["status_label"]) for row in long_rows] == [
        ("insufficient", "too few jobs"),
        ("insufficient", "too few evaluations"),
    ]
    assert (wide["First-time fix rate (status)"], wide["Customer rating (status)"]) == (
        "too few jobs",
        "too few evaluations",
    )


def test_a_period_under_way_is_not_complete_and_its_status_says_so_far():
    report = make_report([value_row(period_start=FEB, period_end=date(2026, 2, 17), complete=False)])

    (long_row,) = as_dicts(render_long, report)
    (wide,) = as_dicts(render_wide, report)

    assert (long_row["period_end"], long_row["complete"], long_row["status_label"]) == (
        "2026-02-17",
        "false",
        "amber so far",
    )
    assert (wide["Period complete"], wide["First-time fix rate (status)"]) == ("no", "amber so far")


def test_a_complete_period_says_so():
    (wide,) = as_dicts(render_wide, make_report([value_row()]))

    assert wide["Period complete"] == "yes"


def test_a_status_whose_margin_crosses_a_threshold_is_borderline():
    (row,) = as_dicts(render_long, make_report([value_row(certain=False, complete=False)]))

    assert (row["certain"], row["status_label"]) == ("false", "amber so far, borderline")


def test_a_provisional_value_says_how_many_jobs_are_pending():
    report = make_report([value_row(provisional=True, pending=803.0), value_row(kpi=RATING.key, value=4.5)])

    long_row, _rating = as_dicts(render_long, report)
    (wide,) = as_dicts(render_wide, report)

    assert (long_row["provisional"], long_row["pending"]) == ("true", "803")
    assert wide["First-time fix rate (jobs pending)"] == "803"
    assert "Customer rating (jobs pending)" not in wide  # its facts are settled at once: no column


def test_a_rates_margin_is_in_percentage_points_from_the_wider_side_and_a_mean_has_none():
    rows = [
        value_row(value=0.945, ci_low=0.912, ci_high=0.966),
        value_row(kpi=RATING.key, value=4.5, ci_low=None, ci_high=None, status="green", certain=None),
    ]
    report = make_report(rows)

    ftf, rating = as_dicts(render_long, report)
    (wide,) = as_dicts(render_wide, report)

    assert (ftf["margin"], rating["margin"]) == ("3.3", "")  # 94.5 - 91.2, wider than 96.6 - 94.5
    assert wide["First-time fix rate (± pp)"] == "3.3"
    assert "Customer rating (± pp)" not in wide


def test_a_value_without_a_target_is_worded_so_and_no_value_has_no_status():
    rows = [value_row(status=None, certain=None), value_row(kpi=RATING.key, value=None, status=None, certain=None)]

    ftf, rating = as_dicts(render_long, make_report(rows))

    assert (ftf["status_label"], ftf["certain"]) == ("no target", "")
    assert rating["status_label"] == ""


# Encoding


@pytest.mark.parametrize("render", [render_long, render_wide])
def test_output_is_utf8_with_a_bom_so_excel_shows_accents(render):
    data = rendered(render, make_report([value_row()]))
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1
    assert "José Núñez".encode() in data


def test_lines_end_with_crlf_and_embedded_newlines_are_quoted():
    data = rendered(render_long, make_report([value_row(group_label="Line one\nline two")]))
    assert data.count(b"\r\n") == 2
    assert parsed(render_long, make_report([value_row(group_label='a,"b"\nc')]))[1][2] == 'a,"b"\nc'


# Formula injection


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_labels_starting_with_a_formula_trigger_are_neutralised(trigger):
    label = trigger + 'HYPERLINK("http://x","click")'
    (long_row,) = as_dicts(render_long, make_report([value_row(group_label=label)]))
    (wide_row,) = as_dicts(render_wide, make_report([value_row(group_label=label)]))
    assert long_row["group_label"] == wide_row["Technician"] == "'" + label


def test_every_text_cell_is_neutralised_including_ids_and_kpi_labels():
    hostile = MetricInfo("quality.first_time_fix_rate", "=cmd", "@unit", "higher", "rate", "f")
    report = make_report([value_row(group_id="+id", status="-red")], metrics=(hostile,))
    (row,) = as_dicts(render_long, report)
    assert (row["group_id"], row["kpi_label"], row["unit"], row["status"]) == ("'+id", "'=cmd", "'@unit", "'-red")
    assert row["status_label"] == "'-red"


@pytest.mark.parametrize("render", [render_long, render_wide])
@pytest.mark.parametrize(("delimiter", "split_off"), [(";", "'=HYPERLINK(…)"), ("\t", "'@1")], ids=["semicolon", "tab"])
def test_a_reader_splitting_on_another_separator_finds_no_formula(render, delimiter, split_off):
    report = make_report([value_row(group_label="Bob;=HYPERLINK(…)", group_id="t\t@1", value=-5.0)])
    text = rendered(render, report).decode("utf-8-sig")

    cells = [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for cell in row]
    assert any(cell.startswith(split_off) for cell in cells)  # the reader did cut the cell there
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_the_semicolon_example_reads_back_whole_and_inert():
    (row,) = as_dicts(render_long, make_report([value_row(group_label="Bob;=HYPERLINK(…)", value=-5.0)]))

    assert row["group_label"] == "Bob;'=HYPERLINK(…)"
    assert row["value"] == "-500"


def test_negative_numbers_stay_numeric():
    report = make_report([value_row(value=-0.25, numerator=-1.0, ci_low=-0.5)])
    (long_row,) = as_dicts(render_long, report)
    (wide_row,) = as_dicts(render_wide, report)
    assert (long_row["value"], long_row["numerator"], long_row["ci_low"]) == ("-25", "-1", "-50")
    assert wide_row["First-time fix rate (%)"] == "-25"


# The caller's stream


class CountingStream(io.RawIOBase):
    """A write-only stream that keeps no bytes, only their number."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


@pytest.mark.parametrize("render", [render_long, render_wide])
def test_render_leaves_the_callers_stream_open_and_at_the_end(render):
    stream = io.BytesIO(b"before;")
    stream.seek(0, io.SEEK_END)
    render(make_report([value_row()]), stream)
    assert not stream.closed
    assert stream.getvalue().startswith(b"before;\xef\xbb\xbf")
    assert stream.tell() == len(stream.getvalue())


MEMORY_BUDGET = 512 * 1024
"""Room for the writer's buffers, whatever the report's size: a fraction of a large file."""


@pytest.mark.slow
@pytest.mark.parametrize("render", [render_long, render_wide])
def test_render_streams_a_large_report_without_holding_the_file_in_memory(render):
    report = make_report(grid_rows(groups=500, periods=100))  # 100,000 rows
    stream = CountingStream()
    tracemalloc.start()
    try:
        render(report, stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stream.size > 4 * MEMORY_BUDGET
    assert peak < MEMORY_BUDGET, f"peak {peak} bytes while writing {stream.size} bytes"
