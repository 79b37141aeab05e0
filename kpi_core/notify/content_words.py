"""Messages made of KPI answers: sections of rows in words, rendered as plain text and mail-safe HTML.

The scorecard, the digests and the alerts all say numbers the same way
(:mod:`kpi_core.notify.words`) and are rendered by the same two Jinja2
templates (``templates/digest.txt`` and ``templates/digest.html``): a few
paragraphs, sections each with a table (:func:`kpi_core.notify.content.html_table`)
whose rows are also written as one line each for the plain-text part, notes
below a table for provisional values, and a link to the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from kpi_core.notify import words
from kpi_core.notify.content import html_table

SUPERSCRIPTS = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


@dataclass
class Section:
    """A heading, a table (``columns`` of (label, align) and ``rows`` of cells), each row in words for the
    plain-text part (``lines``), and notes (provisional values) under it."""

    heading: str
    columns: list[tuple[str, str]]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intro: str = ""
    empty: str = "Nothing to show for this period."

    def note(self, text: str) -> str:
        """Add a note; its mark (¹, ², ...) to put after the value it explains."""
        self.notes.append(text)
        return str(len(self.notes)).translate(SUPERSCRIPTS)

    @property
    def marked_notes(self) -> list[str]:
        return [f"{str(index).translate(SUPERSCRIPTS)} {text}" for index, text in enumerate(self.notes, 1)]


@dataclass
class Content:
    """A whole message: subject, opening paragraphs, sections, closing paragraphs and a link."""

    subject: str
    paragraphs: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)
    link: tuple[str, str] | None = None
    """(words, URL) of the button to the dashboard."""


@dataclass(frozen=True)
class MetricWords:
    """What a row's words need of its KPI."""

    label: str
    unit: str
    direction: str
    facts: str
    pending_reason: str


def metric_words(plugins: Any, key: str) -> MetricWords:
    metric = plugins.metrics.get(key)
    if metric is None:
        return MetricWords(key.rsplit(".", 1)[-1].replace("_", " ").capitalize(), "", "higher", "jobs", "")
    facts = "evaluations" if metric.source == "evaluations" else "jobs"
    pending = metric.outcome_window_label if metric.outcome_window is not None else ""
    return MetricWords(metric.label, metric.unit, metric.direction, facts, pending)


def kpi_section(
    heading: str,
    rows: Sequence[dict[str, Any]],
    plugins: Any,
    *,
    now_label: str,
    before_label: str,
    currency: str,
    intro: str = "",
) -> Section:
    """One row per KPI value of ``rows`` (a values answer with ``previous``): the value and how it stands,
    and the value before with the change. KPIs without a fact in either period are left out."""
    section = Section(heading, [("KPI", "left"), (now_label, "right"), (before_label, "right")], intro=intro)
    for row in rows:
        if row["value"] is None and not row.get("provisional") and (row.get("previous") or {}).get("value") is None:
            continue  # a KPI with no facts in either period (no revenue recorded, say) says nothing
        about = metric_words(plugins, row["kpi"])
        value = words.value_words(row["value"], about.unit, currency)
        status = words.status_words(row, about.facts)
        pending = words.pending_words(row, about.facts, about.pending_reason)
        mark = section.note(pending) if pending else ""
        now = f"{value}{mark}" + (f", {status}" if status else "")
        previous = row.get("previous") or {}
        before = words.value_words(previous.get("value"), about.unit, currency)
        change = words.change_words(previous.get("change"), about.unit, about.direction, currency)
        then = before + (f" ({change})" if change else "")
        section.rows.append([about.label, now, then])
        section.lines.append(f"{about.label}: {now}. {before_label}: {then}.")
    return section


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("kpi_core.notify", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(content: Content) -> tuple[str, str]:
    """(plain text, HTML fragment) of ``content``."""
    tables = [
        Markup(html_table(section.columns, section.rows)) if section.rows else None  # noqa: S704 - escaped
        for section in content.sections
    ]
    context = {"content": content, "sections": list(zip(content.sections, tables, strict=True))}
    text = _templates().get_template("digest.txt").render(**context)
    html = _templates().get_template("digest.html").render(**context)
    return text, html
