"""Fixtures for the PDF report tests: a ReportData factory and poppler-based readers."""

from __future__ import annotations

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
