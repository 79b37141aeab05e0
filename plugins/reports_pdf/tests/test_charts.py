"""The SVG trend charts: few elements, gaps for missing periods, colours by status, escaped text."""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET

from reports_pdf.charts import STATUS_COLOURS, ChartPoint, axis_strip, embed, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _points(*values: float | None, status: str | None = "green") -> list[ChartPoint]:
    return [ChartPoint(f"P{i}", value, status) for i, value in enumerate(values)]


def test_chart_is_well_formed_svg() -> None:
    root = ET.fromstring(line_chart(_points(0.8, 0.85, 0.9), unit="ratio"))
    assert root.tag == f"{SVG}svg"


def test_a_missing_period_breaks_the_line() -> None:
    root = ET.fromstring(line_chart(_points(0.8, 0.85, None, 0.9, 0.7), unit="ratio"))
    line = next(p for p in root.iter(f"{SVG}path") if p.get("fill") == "none" and p.get("stroke") == "#2d3748")
    assert line.get("d").count("M") == 2  # the pen lifts over the gap


def test_dots_are_coloured_by_status_one_path_per_colour() -> None:
    points = [ChartPoint("a", 0.9, "green"), ChartPoint("b", 0.7, "red"), ChartPoint("c", 0.95, "green")]
    root = ET.fromstring(line_chart(points, unit="ratio"))
    strokes = [p.get("stroke") for p in root.iter(f"{SVG}path") if p.get("stroke-linecap") == "round"]
    assert sorted(strokes) == sorted([STATUS_COLOURS["green"], STATUS_COLOURS["red"]])


def test_ratio_axis_reads_in_percent_with_distinct_labels() -> None:
    root = ET.fromstring(line_chart(_points(0.86, 0.87, 0.88), unit="ratio", x_labels=False))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert all(label.endswith("%") for label in labels)
    assert len(set(labels)) == len(labels) == 3


def test_a_chart_without_values_says_so() -> None:
    svg = line_chart(_points(None, None), unit="ratio")
    assert "no data" in svg


def test_labels_are_escaped() -> None:
    svg = line_chart([ChartPoint("<b>&", 1.0)], unit="points")
    assert "&lt;b&gt;&amp;" in svg
    ET.fromstring(svg)


def test_labels_are_placed_without_text_anchor() -> None:
    # text-anchor costs WeasyPrint a PDF group per label; the chart aligns them itself.
    assert "text-anchor" not in line_chart(_points(1, 2, 3), unit="points")
    assert "text-anchor" not in axis_strip(["Jan", "Feb", "Mar"])


def test_row_charts_leave_period_labels_to_the_axis_strip() -> None:
    svg = line_chart(_points(0.5, 0.6), unit="ratio", x_labels=False)
    assert "P0" not in svg
    assert "P0" in axis_strip(["P0", "P1"])


def test_band_shades_the_target_zone() -> None:
    root = ET.fromstring(line_chart(_points(0.7, 0.8), unit="ratio", band=(0.85, 1.0)))
    assert len(list(root.iter(f"{SVG}rect"))) == 1


def test_embed_keeps_the_svg_as_a_vector_image() -> None:
    svg = line_chart(_points(0.7, 0.8), unit="ratio")
    tag = str(embed(svg, 'Trend of "x" <y>'))
    data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', tag).group(1)
    assert base64.b64decode(data).decode() == svg
    assert 'alt="Trend of &#34;x&#34; &lt;y&gt;"' in tag


def test_a_hundred_charts_take_well_under_a_second_to_draw() -> None:
    points = _points(*(0.5 + i / 50 for i in range(12)))
    started = time.perf_counter()
    for _ in range(100):
        line_chart(points, unit="ratio")
    assert time.perf_counter() - started < 1.0


def test_period_labels_stay_clear_of_the_y_labels_and_inside_the_chart() -> None:
    from reports_pdf.charts import text_width

    points = [ChartPoint(tick, value) for tick, value in (("Sep '26", 260.0), ("Oct", 262.0), ("Nov '26", 264.0))]
    root = ET.fromstring(line_chart(points, unit="currency", width=340))
    texts = {text.text: float(text.get("x")) for text in root.iter(f"{SVG}text")}
    y_labels_end = max(x + text_width(label) for label, x in texts.items() if label[0].isdigit())
    assert texts["Sep '26"] >= y_labels_end  # the first period starts right of "260", not under it
    assert texts["Nov '26"] + text_width("Nov '26") <= 340.1  # x is written to one decimal
