"""ReportData -> HTML (Jinja2) -> PDF (WeasyPrint).

HTML and CSS paged media describe a printed report well (running footers,
page counters, repeated table headers, page breaks), and WeasyPrint lays
them out from a pure-Python API. Templates live in this package; a caller
may put its own template folders first to override any of them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from typing import IO, TYPE_CHECKING

import jinja2

from reports_pdf.view import build_view

if TYPE_CHECKING:
    from kpi_core.reports.data import ReportData

TEMPLATE = "report.html"


def make_environment(template_dirs: Sequence[str | PathLike[str]] = ()) -> jinja2.Environment:
    """The Jinja2 environment: ``template_dirs`` first, then the package's templates.

    Autoescaping is always on: names, comments and filters are user input
    and must print as text, whatever they contain.
    """
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(list(template_dirs))] if template_dirs else []
    loaders.append(jinja2.PackageLoader("reports_pdf", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: ReportData, environment: jinja2.Environment | None = None, template: str = TEMPLATE) -> str:
    """The report as one HTML document, ready for WeasyPrint."""
    environment = environment or make_environment()
    return environment.get_template(template).render(report=build_view(report))


def write_pdf(html: str, stream: IO[bytes]) -> int:
    """Lay out ``html``, write the PDF to ``stream`` and return its number of pages."""
    # Imported here: WeasyPrint loads pango when imported, which only rendering needs.
    import weasyprint

    document = weasyprint.HTML(string=html).render()
    document.write_pdf(stream)
    return len(document.pages)


def make_renderer(
    template_dirs: Sequence[str | PathLike[str]] = (), template: str = TEMPLATE
) -> Callable[[ReportData, IO[bytes]], None]:
    """A ``render(report, stream)`` from ``template``, looked up in ``template_dirs`` first.

    For a plugin that declares its own branded format: a template in those
    folders replaces the package's one of the same name, and ``template``
    may name a document that extends ``report.html``.
    """
    environment = make_environment(template_dirs)

    def render(report: ReportData, stream: IO[bytes]) -> None:
        write_pdf(render_html(report, environment, template), stream)

    return render


def render(report: ReportData, stream: IO[bytes]) -> None:
    """Write ``report`` as a PDF to the binary ``stream`` (the ``pdf`` format's renderer)."""
    write_pdf(render_html(report), stream)
