"""Trend charts as SVG, drawn in Python and embedded in the report's HTML.

Vector graphics stay sharp in print and cost milliseconds per chart, where a
plotting library would add a heavy dependency and raster images. A chart is
a KPI's value per period; each point is coloured by its target status.

Drawing, not generating, is the cost: WeasyPrint draws each SVG element, and
lays out SVG text one letter at a time. So a chart is a handful of paths
(all grid lines in one, all dots of one colour in one) and few, short labels,
placed without ``text-anchor`` (which costs a PDF group per label); charts
that share periods leave their x labels to one :func:`axis_strip`. And
:func:`embed` hands WeasyPrint the SVG as an image, which it parses with an
XML parser, twice as fast as SVG inline in the HTML.

The report data carries no target thresholds yet, so the chart cannot draw
the green/amber band itself; ``band`` is ready for when it does.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from reports_pdf.formatting import format_axis_value

STATUS_COLOURS: dict[str | None, str] = {
    "green": "#2f855a",
    "amber": "#d69e2e",
    "red": "#c53030",
    None: "#718096",
}
"""Fill of a point by target status; grey where the value has no target."""

_LEFT, _RIGHT, _TOP = 34, 8, 6
_X_LABELS = 14  # room under the plot for period labels
_BOTTOM = 4  # without them
_MAX_TICKS = 6
_DOT = 2.6
_LINE = "#2d3748"
_GRID = "#e2e8f0"
_AXIS = "#a0aec0"
_TEXT = "#4a5568"
_FONT_SIZE = 8
_FONT = f'font-family="DejaVu Sans" font-size="{_FONT_SIZE}"'
_ADVANCE = {**dict.fromkeys("0123456789", 0.636), "%": 0.95, ".": 0.318, ",": 0.318, " ": 0.318, "'": 0.275, "-": 0.361}
"""DejaVu Sans advance widths in em, to right-align and centre labels by hand."""


@dataclass(frozen=True)
class ChartPoint:
    """One period of a trend: its axis label, value (None where no sample) and status."""

    tick: str
    value: float | None
    status: str | None = None


def line_chart(
    points: Sequence[ChartPoint],
    *,
    unit: str,
    width: int = 340,
    height: int = 110,
    x_labels: bool = True,
    band: tuple[float, float] | None = None,
) -> str:
    """An SVG document: a line chart of ``points``, with gaps where a period has no value.

    ``unit`` formats the y axis ("ratio" as percentages). Without
    ``x_labels`` the chart leaves period labels to an :func:`axis_strip` of
    the same width. ``band`` (low, high) shades a target zone. Every text in
    it is escaped.
    """
    bottom = height - (_X_LABELS if x_labels else _BOTTOM)
    plot = _Plot(width, _TOP, bottom, len(points), _domain([p.value for p in points], unit, band))
    parts = [_open(width, height)]
    if band is not None and plot.domain is not None:
        parts.append(plot.band(*band))
    parts.extend(plot.grid(unit))
    if x_labels:
        parts.extend(plot.ticks([p.tick for p in points], height - 4))
    if plot.domain is None:
        parts.append(_label("no data", (_LEFT + width - _RIGHT) / 2, (_TOP + bottom) / 2 + 3, "middle"))
    else:
        parts.extend(plot.line([p.value for p in points]))
        parts.extend(plot.dots(points))
    parts.append("</svg>")
    return "".join(parts)


def axis_strip(ticks: Sequence[str], *, width: int = 340, height: int = 12) -> str:
    """An SVG document of period labels alone, placed as a :func:`line_chart` of the same width places its points."""
    plot = _Plot(width, 0, height, len(ticks), None)
    return _open(width, height) + "".join(plot.ticks(ticks, height - 3)) + "</svg>"


def embed(svg: str, alt: str = "") -> Markup:
    """An ``<img>`` carrying ``svg`` as a data URI: still vector, and parsed faster than inline SVG."""
    data = base64.b64encode(svg.encode()).decode("ascii")
    return Markup('<img class="chart" src="data:image/svg+xml;base64,{}" alt="{}">').format(data, alt)


def text_width(text: str, font_size: float = _FONT_SIZE) -> float:
    """The width of ``text`` in DejaVu Sans, close enough to align a label (0.6 em for unknown letters)."""
    return sum(_ADVANCE.get(char, 0.6) for char in text) * font_size


def _nice_steps(at_least: float) -> list[float]:
    """Round steps from the smallest one >= ``at_least`` upwards."""
    magnitude = 10 ** math.floor(math.log10(at_least))
    steps = [factor * magnitude for factor in (1, 2, 2.5, 5, 10, 20, 25, 50)]
    return [step for step in steps if step >= at_least * (1 - 1e-9)]


def _open(width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {_FONT}>'
    )


def _domain(
    values: Sequence[float | None], unit: str, band: tuple[float, float] | None
) -> tuple[float, float, float] | None:
    """(low, high, step) of the y axis, rounded out to whole steps; None without values."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    low, high = min(present), max(present)
    if band is not None:
        low, high = min(low, *band), max(high, *band)
    if high == low:
        # A flat line still needs a visible axis around it.
        pad = 0.05 if unit == "ratio" else max(abs(high) * 0.1, 1.0)
        low, high = low - pad, high + pad
    # The roundest step that spans the values in two intervals: three labels, short ones.
    for step in _nice_steps((high - low) / 2):
        if math.ceil(high / step - 1e-9) - math.floor(low / step + 1e-9) <= 2:
            break
    low, high = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    if min(present) >= 0:
        low = max(low, 0.0)
    if unit == "ratio" and max(present) <= 1:
        high = min(high, 1.0)
    return low, high, step


class _Plot:
    """Maps values and period indexes to SVG coordinates."""

    def __init__(
        self, width: int, top: float, bottom: float, count: int, domain: tuple[float, float, float] | None
    ) -> None:
        self.count, self.domain = count, domain
        self.left, self.right, self.top, self.bottom = _LEFT, width - _RIGHT, top, bottom

    def x(self, index: int) -> float:
        if self.count <= 1:
            return (self.left + self.right) / 2
        inset = 6  # keeps the first and last dots off the plot's edges
        return self.left + inset + index * (self.right - self.left - 2 * inset) / (self.count - 1)

    def y(self, value: float) -> float:
        assert self.domain is not None
        low, high, _ = self.domain
        share = (value - low) / (high - low) if high > low else 0.5
        return self.bottom - share * (self.bottom - self.top)

    def grid(self, unit: str) -> list[str]:
        """Grid lines in one path, with a label at each (the baseline is the axis)."""
        baseline = f'<path d="M{self.left} {self.bottom}H{self.right}" stroke="{_AXIS}" stroke-width="0.8"/>'
        if self.domain is None:
            return [baseline]
        low, high, step = self.domain
        values = [low + i * step for i in range(round((high - low) / step) + 1)]
        lines = "".join(f"M{self.left} {self.y(v):.1f}H{self.right}" for v in values[1:])
        decimals = _decimals(step, unit)
        labels = [_label(format_axis_value(v, unit, decimals), self.left - 3, self.y(v) + 2.8, "end") for v in values]
        return [f'<path d="{lines}" stroke="{_GRID}" stroke-width="0.8"/>', baseline, *labels]

    def ticks(self, labels: Sequence[str], baseline: float) -> list[str]:
        """Period labels centred under their points, but never left of the plot (where the lowest y
        label is: "Sep '26" would run into "260") nor past the chart's right edge."""
        every = max(1, math.ceil(len(labels) / _MAX_TICKS))
        placed = []
        for i, label in enumerate(labels):
            if i % every:
                continue
            half = text_width(label) / 2
            centre = min(max(self.x(i), self.left + half), self.right + _RIGHT - half)
            placed.append(_label(label, centre, baseline, "middle"))
        return placed

    def band(self, low: float, high: float) -> str:
        top, bottom = self.y(max(low, high)), self.y(min(low, high))
        return (
            f'<rect x="{self.left}" y="{top:.1f}" width="{self.right - self.left}" '
            f'height="{bottom - top:.1f}" fill="#c6f6d5" opacity="0.6"/>'
        )

    def line(self, values: Sequence[float | None]) -> list[str]:
        """One path; a missing period lifts the pen, so the line has a gap there."""
        commands, pen_down = [], False
        for i, value in enumerate(values):
            if value is None:
                pen_down = False
                continue
            commands.append(f"{'L' if pen_down else 'M'}{self.x(i):.1f} {self.y(value):.1f}")
            pen_down = True
        if not commands:
            return []
        return [f'<path d="{"".join(commands)}" fill="none" stroke="{_LINE}" stroke-width="1.3"/>']

    def dots(self, points: Sequence[ChartPoint]) -> list[str]:
        """The points, one path per status colour.

        Each dot is a tiny stroke with round caps: WeasyPrint turns arcs into
        many curves, which made circles the slowest part of a chart.
        """
        by_colour: dict[str, list[str]] = {}
        for i, point in enumerate(points):
            if point.value is not None:
                colour = STATUS_COLOURS.get(point.status, STATUS_COLOURS[None])
                by_colour.setdefault(colour, []).append(f"M{self.x(i):.1f} {self.y(point.value):.1f}h0.01")
        return [
            f'<path d="{"".join(moves)}" stroke="{colour}" stroke-width="{2 * _DOT}" stroke-linecap="round"/>'
            for colour, moves in by_colour.items()
        ]


def _label(text: str, x: float, y: float, anchor: str) -> str:
    """A text placed by its start: ``anchor`` "end" or "middle" is done here, not by the renderer."""
    shift = text_width(text) * (1.0 if anchor == "end" else 0.5 if anchor == "middle" else 0.0)
    return f'<text x="{x - shift:.1f}" y="{y:.1f}" fill="{_TEXT}">{escape(text)}</text>'


def _decimals(step: float, unit: str) -> int:
    """Enough decimals that neighbouring ticks never print the same (0.25 needs 2)."""
    scaled = step * 100 if unit == "ratio" else step
    return next((d for d in range(3) if abs(round(scaled, d) - scaled) < 1e-9), 3)
