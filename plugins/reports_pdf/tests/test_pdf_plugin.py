"""The plugin as the host sees it: found through its entry point, declaring the ``pdf`` format."""

from __future__ import annotations

import io
from pathlib import Path

from reports_pdf import kpi_report_formats

from kpi_core.config import Settings
from kpi_core.declarations import ReportFormat
from kpi_core.plugins import load_plugins


def test_plugin_is_discovered_through_its_entry_point(tmp_path: Path) -> None:
    host = load_plugins(Settings.from_env({}, secret_key="x" * 40, data_dir=tmp_path))
    assert "pdf" in host.report_formats
    assert host.owner_of("kpi_report_formats", "pdf") == "reports_pdf"
    assert not [problem for problem in host.problems if problem.name == "reports_pdf"]


def test_declares_the_pdf_format() -> None:
    (declared,) = kpi_report_formats()
    assert isinstance(declared, ReportFormat)
    assert (declared.key, declared.label) == ("pdf", "PDF report")
    assert (declared.media_type, declared.file_extension) == ("application/pdf", "pdf")


def test_host_renders_through_the_declared_renderer(tmp_path: Path, report_factory) -> None:
    host = load_plugins(Settings.from_env({}, secret_key="x" * 40, data_dir=tmp_path))
    stream = io.BytesIO()
    host.report_formats["pdf"].render(report_factory(("Ann Archer",)), stream)
    assert stream.getvalue().startswith(b"%PDF-")
    assert stream.getvalue().rstrip().endswith(b"%%EOF")
