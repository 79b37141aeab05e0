// A chart's value axis that does not exaggerate, the target band drawn behind the lines, the
// chart colours of the colour scheme, and the chart as an image.
//
// Rates are drawn in percent on a padded range that always holds the target band and spans at
// least MIN_RATE_SPAN points (so a 1 point change never fills the chart), in whole tens inside
// 0-100 %. Means start at 0 (a bar of 270 against 260 is not a cliff) and hold the target too.
import type { Chart, Plugin } from "chart.js";
import { formatKpi } from "../format";
import type { KpiDefinition } from "../types";
import type { Thresholds } from "./data";

/** The least range of a rate axis, in percentage points. */
export const MIN_RATE_SPAN = 20;

export interface Range {
  min: number;
  max: number;
}

/** The y range for ``values`` and ``thresholds`` (both as plotted: rates in percent). */
export function valueRange(values: number[], thresholds: number[], rate: boolean): Range {
  const all = [...values, ...thresholds].filter((value) => Number.isFinite(value));
  if (!all.length) return rate ? { min: 0, max: 100 } : { min: 0, max: 1 };
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (!rate) {
    // Means from zero (or below it, for a value that can be negative), with headroom above.
    const top = high > 0 ? high * 1.1 : 1;
    return { min: Math.min(0, low * 1.1), max: niceCeil(top) };
  }
  const pad = Math.max(5, (high - low) * 0.15);
  low -= pad;
  high += pad;
  if (high - low < MIN_RATE_SPAN) {
    const grow = (MIN_RATE_SPAN - (high - low)) / 2;
    low -= grow;
    high += grow;
  }
  low = Math.floor(low / 10) * 10;
  high = Math.ceil(high / 10) * 10;
  if (low < 0) [low, high] = [0, Math.max(high, MIN_RATE_SPAN)];
  if (high > 100) [low, high] = [Math.min(low, 100 - MIN_RATE_SPAN), 100];
  if (low <= 20) low = 0; // close enough to zero to show the whole scale from it
  return { min: Math.max(0, low), max: Math.min(100, high) };
}

function niceCeil(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/** A stretch of the axis and how it reads against the target. */
export interface Band {
  from: number;
  to: number;
  status: "green" | "amber" | "red";
}

/** The green, amber and red stretches of a metric's target (as plotted), from its direction. */
export function bandsOf(target: Thresholds, direction: KpiDefinition["direction"], scale: (v: number) => number): Band[] {
  const green = scale(target.green);
  const amber = scale(target.amber);
  if (direction === "lower") {
    return [
      { from: -Infinity, to: green, status: "green" },
      { from: green, to: amber, status: "amber" },
      { from: amber, to: Infinity, status: "red" },
    ];
  }
  return [
    { from: -Infinity, to: amber, status: "red" },
    { from: amber, to: green, status: "amber" },
    { from: green, to: Infinity, status: "green" },
  ];
}

/** The target in words, for the legend under a chart and the single-value view. */
export function targetWords(target: Thresholds, kpi: KpiDefinition | undefined): { status: Band["status"]; text: string }[] {
  const green = formatKpi(target.green, kpi);
  const amber = formatKpi(target.amber, kpi);
  if (kpi?.direction === "lower") {
    return [
      { status: "green", text: `on target: ${green} or less` },
      { status: "amber", text: `close: up to ${amber}` },
      { status: "red", text: `off target: over ${amber}` },
    ];
  }
  return [
    { status: "green", text: `on target: ${green} or more` },
    { status: "amber", text: `close: ${amber} to ${green}` },
    { status: "red", text: `off target: under ${amber}` },
  ];
}

export interface Colours {
  text: string;
  grid: string;
  surface: string;
  series: string[];
  green: string;
  amber: string;
  red: string;
  band: string;
}

/** The chart colours of the current colour scheme, from the design tokens in global.css. */
export function chartColours(element: Element): Colours {
  const style = getComputedStyle(element);
  const token = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: token("--chart-text", "#4b5563"),
    grid: token("--chart-grid", "rgb(31 41 55 / 12%)"),
    surface: token("--surface", "#ffffff"),
    series: [
      token("--chart-1", "#1d4ed8"),
      token("--chart-2", "#7c3aed"),
      token("--chart-3", "#0f766e"),
      token("--chart-4", "#c2410c"),
    ],
    green: token("--chart-target-green", "#15803d"),
    amber: token("--chart-target-amber", "#b45309"),
    red: token("--red-ink", "#b91c1c"),
    band: token("--chart-band", "rgb(250 204 21 / 18%)"),
  };
}

/** Fills the canvas with the card's colour first, so a downloaded image is not transparent. */
export function backgroundPlugin(colours: Colours): Plugin<"line"> {
  return {
    id: "kpiBackground",
    beforeDraw(chart: Chart) {
      const { ctx, width, height } = chart;
      ctx.save();
      ctx.fillStyle = colours.surface;
      ctx.fillRect(0, 0, width, height);
      ctx.restore();
    },
  };
}

/**
 * Draws ``bands`` (tinted) and the dashed ``lines`` (the thresholds between the bands, or one
 * target line per metric in its colour where a chart's metrics differ in target) behind the data.
 */
export function targetPlugin(bands: Band[], lines: { value: number; colour: string }[], colours: Colours): Plugin<"line"> {
  return {
    id: "kpiTargets",
    beforeDatasetsDraw(chart: Chart) {
      const { ctx, chartArea: area } = chart;
      const y = chart.scales.y;
      if (!y || !area) return; // not laid out yet (no size): nothing to draw behind
      const pixel = (value: number) => Math.min(area.bottom, Math.max(area.top, y.getPixelForValue(value)));
      ctx.save();
      for (const band of bands) {
        const top = pixel(Number.isFinite(band.to) ? band.to : y.max);
        const bottom = pixel(Number.isFinite(band.from) ? band.from : y.min);
        if (bottom - top <= 0) continue;
        // Amber is the tokens' yellow band (it reads as orange-pink when tinted); green and red are tints.
        ctx.globalAlpha = band.status === "amber" ? 1 : 0.08;
        ctx.fillStyle = band.status === "amber" ? colours.band : colours[band.status];
        ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      }
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 4]);
      for (const line of lines) {
        if (line.value < y.min || line.value > y.max) continue;
        const at = Math.round(y.getPixelForValue(line.value)) + 0.5;
        ctx.strokeStyle = line.colour;
        ctx.beginPath();
        ctx.moveTo(area.left, at);
        ctx.lineTo(area.right, at);
        ctx.stroke();
      }
      ctx.restore();
    },
  };
}

/**
 * The chart as a PNG (Chart.js ``toBase64Image``) at twice the screen's resolution, with ``title``
 * lines and the legend drawn in, so the image says what it shows; the chart on screen is unchanged.
 */
export function chartImage(chart: Chart, title: string[]): string {
  const plugins = chart.options.plugins!;
  const shownLegend = plugins.legend!.display;
  try {
    Object.assign(plugins.title!, { display: true, text: title });
    plugins.legend!.display = true;
    chart.options.devicePixelRatio = Math.max(2, window.devicePixelRatio);
    chart.resize();
    chart.update("none");
    return chart.toBase64Image("image/png");
  } finally {
    plugins.title!.display = false;
    plugins.legend!.display = shownLegend;
    chart.options.devicePixelRatio = undefined;
    chart.resize();
    chart.update("none");
  }
}
