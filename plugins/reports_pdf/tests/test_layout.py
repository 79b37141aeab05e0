"""Nothing printed runs into its neighbour: every word and badge stays inside its table cell.

Read from WeasyPrint's own layout (the boxes it draws), on a report with as
many KPIs and units as the built-in plugins declare, long labels and long
units ("jobs per day") among them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from reports_pdf.render import render_html

from kpi_core.reports.data import MetricInfo, ScorecardRow, ValueRow

UNITS = ("currency", "currency", "jobs per day", "ratio", "ratio", "stars", "ratio", "points", "ratio", "minutes")
LABELS = (
    "Revenue per completed job",
    "Average ticket",
    "Completed jobs per working day",
    "Utilisation",
    "First-time fix rate",
    "Average customer rating",
    "Complaint rate",
    "Evaluation score",
    "On-time arrival rate",
    "Average arrival delay",
)
VALUES = {"currency": 12345.678, "jobs per day": 12.5, "ratio": 0.957, "stars": 4.6, "points": 100.0, "minutes": 125.5}
METRICS = tuple(
    MetricInfo(f"kpi.m{i}", label, unit, "higher", "mean", "In words")
    for i, (label, unit) in enumerate(zip(LABELS, UNITS, strict=True))
)
TOLERANCE = 0.5  # CSS px; rounding in the layout


def _rows(group_id: str, label: str) -> list[ValueRow]:
    return [
        ValueRow(m.key, group_id, label, date(2026, month, 1), VALUES[m.unit], 1, 1, status="red")
        for m in METRICS
        for month in (1, 2, 3)
    ]


@pytest.fixture(scope="module")
def crowded(request: pytest.FixtureRequest) -> Any:
    card = ScorecardRow("tech-0", "Ann Archer", "North crew", 99.9, 1, 60, contributions={m.key: 12.5 for m in METRICS})
    return request.getfixturevalue("report_factory")(
        ("Ann Archer",),
        metrics=METRICS,
        values={
            "company": tuple(_rows("company", "Company")),
            "team": tuple(_rows("team-1", "North crew")) + tuple(_rows("team-2", "South crew")),
            "technician": tuple(_rows("tech-0", "Ann Archer")),
        },
        scorecards=(card,),
        evaluations=(),
    )


def _honest_rows(group_id: str, label: str) -> list[ValueRow]:
    """Every value with all it can carry: a margin, "too few jobs" or "borderline", a footnote mark;
    the last month under way."""
    return [
        ValueRow(
            m.key, group_id, label, date(2026, month, 1), VALUES[m.unit], 1, 1, 0.5, 0.99,
            "insufficient" if i % 2 else "amber", complete=month < 3, provisional=True, pending=1234 + i,
            certain=None if i % 2 else False,
        )
        for i, m in enumerate(HONEST_METRICS)
        for month in (1, 2, 3)
    ]  # fmt: skip


HONEST_METRICS = tuple(
    dataclasses.replace(m, unit="ratio", pending_reason="Callback window still open") for m in METRICS
)


@pytest.fixture(scope="module")
def crowded_honest(request: pytest.FixtureRequest) -> Any:
    card = ScorecardRow("tech-0", "Ann Archer", "North crew", 99.9, 1, 60, contributions={m.key: 12.5 for m in METRICS})
    return request.getfixturevalue("report_factory")(
        ("Ann Archer",),
        metrics=HONEST_METRICS,
        complete=False,
        values={
            "company": tuple(_honest_rows("company", "Company")),
            "team": tuple(_honest_rows("team-1", "North crew")) + tuple(_honest_rows("team-2", "South crew")),
            "technician": tuple(_honest_rows("tech-0", "Ann Archer")),
        },
        scorecards=(card,),
        evaluations=(),
    )


def _boxes(box: Any, cell: Any = None) -> Iterator[tuple[Any, Any]]:
    """(box, the table cell it is in) for every box of the page that draws text or a badge."""
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.TableCellBox):
        cell = box
    if cell is not None and (isinstance(box, boxes.TextBox) or _is_badge(box)):
        yield box, cell
    for child in getattr(box, "children", ()):
        yield from _boxes(child, cell)


def _is_badge(box: Any) -> bool:
    element = getattr(box, "element", None)
    return element is not None and "badge" in (element.get("class") or "").split() and box.element_tag == "span"


def _overflowing(html: str) -> list[str]:
    import weasyprint

    problems = []
    for number, page in enumerate(weasyprint.HTML(string=html).render().pages, start=1):
        for box, cell in _boxes(page._page_box):
            left, right = box.position_x, box.position_x + box.margin_width()
            cell_left, cell_right = cell.position_x, cell.position_x + cell.margin_width()
            if left < cell_left - TOLERANCE or right > cell_right + TOLERANCE:
                what = getattr(box, "text", None) or "badge"
                problems.append(
                    f"page {number}: {what!r} spans {left:.1f}-{right:.1f}, its cell {cell_left:.1f}-{cell_right:.1f}"
                )
    return problems


def test_no_word_or_badge_leaves_its_table_cell(crowded) -> None:
    assert _overflowing(render_html(crowded)) == []


def test_margins_captions_and_footnote_marks_stay_inside_their_cells_too(crowded_honest) -> None:
    html = render_html(crowded_honest)
    assert "\u00b1 45.7 pp \u00b7 borderline" in html and "too few jobs" in html and "\u00b9" in html
    assert _overflowing(html) == []


def test_the_check_finds_a_badge_running_into_the_next_column(crowded) -> None:
    # The same report with badges that may not wrap and a narrow column: the check must see it.
    html = render_html(crowded).replace(
        "</style>",
        ".badge { white-space: nowrap !important; } .kpi-trends .latest-col { width: 12mm !important; }</style>",
    )
    assert any("badge" in problem for problem in _overflowing(html))
