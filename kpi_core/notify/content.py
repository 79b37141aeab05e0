"""HTML for messages that mail clients show as meant: tables with inline styles, nothing fetched from outside.

Mail clients drop ``<style>`` blocks and external style sheets, and many
block images, so a message's HTML fragment (``MessageDraft.html``) carries
its styles on each element. :func:`html_table` writes a table that way: it
fills the column on a desktop and still reads on a 390 px phone (three or
four short columns; put long words in the first). The e-mail channel puts
the fragment inside its own layout (heading, footer, unsubscribe link).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import escape

CELL = "padding:8px; border-bottom:1px solid #e5e7eb;"
HEAD = "padding:8px; border-bottom:2px solid #d1d5db; font-weight:bold;"


def html_table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]], *, caption: str = "") -> str:
    """A table of ``rows`` under ``columns`` ((label, "left" or "right")), every value escaped."""
    aligns = [align if align in ("left", "right") else "left" for _label, align in columns]
    head = "".join(
        f'<th scope="col" style="{HEAD} text-align:{align};">{escape(label)}</th>'
        for (label, _), align in zip(columns, aligns, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{CELL} text-align:{align};">{escape(value)}</td>'
            for value, align in zip(row, aligns, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    title = f'<caption style="text-align:left; font-weight:bold; padding:0 0 8px 0;">{escape(caption)}</caption>'
    return (
        '<table role="presentation" style="width:100%; border-collapse:collapse; font-size:15px; '
        f'margin:0 0 16px 0;">{title if caption else ""}<tr>{head}</tr>{body}</table>'
    )
