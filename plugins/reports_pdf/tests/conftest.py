"""Fixtures for the PDF report tests: a ReportData factory and poppler-based readers."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from reports_pdf.render import render

from kpi_core.reports.data import EvaluationSummary, MetricInfo, ReportData, ScorecardRow, ValueRow

METRICS = (
    MetricInfo(
        "quality.first_time_fix_rate", "First-time fix rate", "ratio", "higher", "rate", "Fixed first visit / jobs"
    ),
    MetricInfo("quality.customer_rating", "Average customer rating", "stars", "higher", "mean", "Mean of ratings"),
    MetricInfo("timeliness.arrival_delay", "Average arrival delay", "minutes", "lower", "mean", "Mean minutes late"),
)
PERIODS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
STATUSES = ("green", "amber", "red")


def _rows(group_id: str, label: str, seed: int) -> list[ValueRow]:
    """Three KPIs over three months; each group's values differ a little."""
    rows = []
    for p, period in enumerate(PERIODS):
        status = STATUSES[(seed + p) % 3]
        rows += [
            ValueRow(METRICS[0].key, group_id, label, period, 0.8 + 0.01 * seed, 16 + seed, 20, status=status),
            ValueRow(METRICS[1].key, group_id, label, period, 4.5, 45.0, 10, status=status),
            ValueRow(METRICS[2].key, group_id, label, period, 12.0 + p, (12.0 + p) * 8, 8, status=status),
        ]
    return rows


def make_report(
    technicians: Sequence[str] = ("Ann Archer", "Bob Baker"),
    *,
    title: str = "Acme Home Services: Q1 review",
    filters: dict[str, Any] | None = None,
    **overrides: Any,
) -> ReportData:
    """A ReportData as the host would build it: company, team and technician rows, scorecards, evaluations."""
    tech_rows: list[ValueRow] = []
    scorecards, evaluations = [], []
    for i, name in enumerate(technicians):
        tech_id = f"tech-{i}"
        tech_rows += _rows(tech_id, name, i)
        unranked = i == len(technicians) - 1 and len(technicians) > 2
        scorecards.append(
            ScorecardRow(
                technician_id=tech_id,
                technician_label=name,
                team_label="North crew",
                score=70.0 + i,
                rank=None if unranked else i + 1,
                sample=60,
                unranked_reason="fewer than 30 jobs in range" if unranked else None,
                contributions={METRICS[0].key: 30.5, METRICS[1].key: 25.0, METRICS[2].key: None},
            )
        )
        evaluations.append(EvaluationSummary(tech_id, 2, 81.5, f"Solid month for {name}"))
    fields: dict[str, Any] = {
        "title": title,
        "generated_at": datetime(2026, 4, 2, 8, 30, tzinfo=UTC),
        "timezone": "Europe/London",
        "group_by": "technician",
        "period": "month",
        "start": PERIODS[0],
        "end": date(2026, 4, 1),
        "metrics": METRICS,
        "values": {
            "company": tuple(_rows("company", "Acme Home Services", 0)),
            "team": tuple(_rows("team-north", "North crew", 1)),
            "technician": tuple(tech_rows),
        },
        "filters": {"team": "North crew", "category": ["plumbing", "electrical"]} if filters is None else filters,
        "scorecards": tuple(scorecards),
        "evaluations": tuple(evaluations),
    }
    fields.update(overrides)
    return ReportData(**fields)


@pytest.fixture(scope="session")
def report_factory() -> Callable[..., ReportData]:
    return make_report


HONEST_PERIODS = (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1))
HONEST_ENDS = (date(2026, 11, 1), date(2026, 12, 1), date(2026, 12, 27))
"""October and November, and December up to the 26th: a month_to_date report made on 26 December."""
HONEST_METRICS = (
    dataclasses.replace(METRICS[0], min_sample=10, pending_reason="Callback window still open"),
    dataclasses.replace(METRICS[1], min_sample=10),
    dataclasses.replace(METRICS[2], min_sample=10),
)


def _honest_rows(group_id: str, label: str, *, small: bool = False) -> list[ValueRow]:
    """The host's rows with how far each can be trusted: December is under way; first-time fix is
    provisional in November (120 jobs pending) and December (803); a ``small`` group has 6 jobs a
    month, too few for a status; December's first-time fix is amber, its margin crossing a threshold."""
    rows = []
    for number, (start, end) in enumerate(zip(HONEST_PERIODS, HONEST_ENDS, strict=True)):
        december = number == 2
        jobs = 6 if small else 200
        pending = (0, 120, 803)[number] if not small else (0, 0, 3)[number]
        status = "insufficient" if small else ("amber" if december else "green")
        rows += [
            ValueRow(
                HONEST_METRICS[0].key, group_id, label, start, 0.945, 0.945 * jobs, jobs, 0.912, 0.966, status,
                end, complete=not december, provisional=pending > 0, pending=pending,
                certain=None if small else not december,
            ),
            ValueRow(
                HONEST_METRICS[1].key, group_id, label, start, 4.5, 4.5 * jobs, jobs,
                status="insufficient" if small else "green", period_end=end, complete=not december,
            ),
            ValueRow(
                HONEST_METRICS[2].key, group_id, label, start, 12.0, 12.0 * jobs, jobs,
                status="insufficient" if small else "red", period_end=end, complete=not december,
            ),
        ]  # fmt: skip
    return rows


def make_honest_report(*, small: bool = False, **overrides: Any) -> ReportData:
    """A report over a December not over yet, with provisional values; ``small``: every group has too few
    jobs for a status."""
    fields: dict[str, Any] = {
        "metrics": HONEST_METRICS,
        "start": HONEST_PERIODS[0],
        "end": HONEST_ENDS[-1],
        "generated_at": datetime(2026, 12, 26, 15, 0, tzinfo=UTC),
        "complete": False,
        "values": {
            "company": tuple(_honest_rows("company", "Acme Home Services", small=small)),
            "team": tuple(_honest_rows("team-north", "North crew", small=small))
            + tuple(_honest_rows("team-south", "South crew", small=True)),
            "technician": tuple(_honest_rows("tech-0", "Ann Archer", small=small))
            + tuple(_honest_rows("tech-1", "Bob Baker", small=True)),
        },
    }
    return make_report(("Ann Archer", "Bob Baker"), **{**fields, **overrides})


@pytest.fixture(scope="session")
def honest_report() -> Callable[..., ReportData]:
    return make_honest_report


def render_pdf(report: ReportData) -> bytes:
    stream = io.BytesIO()
    render(report, stream)
    return stream.getvalue()


def require_poppler() -> None:
    """pdftotext and pdftoppm, or skip; in CI (CI=true) their absence fails the test."""
    missing = [tool for tool in ("pdftotext", "pdftoppm") if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (Debian package poppler-utils)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, as pdftotext reads it (pages are split on form feeds)."""
    require_poppler()
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return text.split("\f")[:-1]  # the text ends with a form feed


def pdf_images(pdf: bytes, tmp_path: Path) -> list[Path]:
    """Each page rendered to a PNG at 50 dpi."""
    require_poppler()
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(path), str(tmp_path / "page")], check=True)
    return sorted(tmp_path.glob("page-*.png"))


@pytest.fixture(name="render_pdf", scope="session")
def render_pdf_fixture() -> Callable[[ReportData], bytes]:
    return render_pdf


@pytest.fixture
def read_pages(tmp_path: Path) -> Callable[[bytes], list[str]]:
    return lambda pdf: pdf_pages(pdf, tmp_path)


@pytest.fixture
def page_images(tmp_path: Path) -> Callable[[bytes], list[Path]]:
    return lambda pdf: pdf_images(pdf, tmp_path)
