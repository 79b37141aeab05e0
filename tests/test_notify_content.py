"""Mail-safe HTML for messages (kpi_core/notify/content.py): inline styles only, every value escaped."""

from __future__ import annotations

from kpi_core.notify.content import html_table


def test_a_table_carries_its_styles_inline_and_escapes_every_value():
    table = html_table(
        [("KPI", "left"), ("This week", "right")],
        [("First-time fix", "92 %"), ("<script>alert(1)</script>", "97 %")],
        caption="Ana's week",
    )

    assert table.startswith('<table role="presentation" style="width:100%;')
    assert "<style" not in table and "<img" not in table and "class=" not in table
    assert "&lt;script&gt;" in table and "<script>" not in table
    assert "Ana&#39;s week" in table
    assert table.count("<tr>") == 3 and 'text-align:right;">92 %</td>' in table
