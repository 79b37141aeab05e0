"""The HTML the templates make: escaped, complete, and overridable by name."""

from __future__ import annotations

import io
from pathlib import Path

from reports_pdf.render import make_environment, make_renderer, render_html


def test_user_text_is_escaped_in_the_html(report_factory) -> None:
    html = render_html(report_factory(("<script>alert(1)</script>",), filters={"note": "<b>&"}))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;&amp;" in html


def test_a_template_folder_overrides_templates_by_name(tmp_path: Path, report_factory) -> None:
    (tmp_path / "cover.html").write_text(
        '<section class="cover"><h1 class="title">{{ report.title }} (branded)</h1></section>'
    )
    html = render_html(report_factory(("Ann Archer",)), make_environment([tmp_path]))
    assert "Acme Home Services: Q1 review (branded)" in html
    assert "Company summary" in html  # the other templates still come from the package


def test_make_renderer_writes_a_pdf_with_the_custom_templates(tmp_path: Path, report_factory) -> None:
    (tmp_path / "definitions.html").write_text("<section><p>Custom appendix</p></section>")
    stream = io.BytesIO()
    make_renderer([tmp_path])(report_factory(("Ann Archer",)), stream)
    assert stream.getvalue().startswith(b"%PDF-")


def test_a_document_can_extend_the_report_and_override_a_block(tmp_path: Path, report_factory) -> None:
    (tmp_path / "branded.html").write_text(
        '{% extends "report.html" %}{% block extra_css %}.cover-band { background: #7b341e; }{% endblock %}'
    )
    html = render_html(report_factory(("Ann Archer",)), make_environment([tmp_path]), "branded.html")
    assert ".cover-band { background: #7b341e; }" in html
    assert "Technician ranking" in html


def test_a_ranking_fair_by_job_mix_says_so(report_factory) -> None:
    import dataclasses

    report = report_factory(("Ann Archer", "Bob Baker"))
    assert "Ranked fairly by job mix" not in render_html(report)
    assert "Ranked fairly by job mix" in render_html(dataclasses.replace(report, ranked_by_job_mix=True))
