// Trend: the company's value per period for each metric, drawn on an axis that does not
// exaggerate, with the target band (green / amber / red) behind it. Each point opens the jobs
// behind it; the numbers are also in a table with the same links (for keyboards and screen
// readers), and both can be downloaded. A range of one period is shown as a value, not a dot.
import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Title,
  Tooltip,
  type ChartDataset,
  type ChartEvent,
} from "chart.js";
import { css, html, type PropertyValues, type TemplateResult } from "lit";
import { periodStartOf } from "../filters";
import { formatAxis, formatCount, formatKpi, formatPeriod, isRatio, kpiName, formatStatus, locale } from "../format";
import { navigate } from "../router";
import type { KpiValue } from "../types";
import { WidgetBase } from "./base";
import { drilldownHref, emptyFor, targetOf, type DashboardData, type Thresholds } from "./data";
import { backgroundPlugin, bandsOf, chartColours, chartImage, targetPlugin, targetWords, valueRange, type Band } from "./axis";
import type { Download } from "../components/download";
import { periodsDownload } from "./exports";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Legend, Title, Tooltip);

const DARK = "(prefers-color-scheme: dark)";

export class TrendWidget extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      .chart {
        position: relative;
        height: 240px;
      }
      details {
        margin-top: 0.5rem;
      }
      .targets {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.25rem 0.75rem;
        margin: 0.5rem 0 0;
        font-size: 0.85rem;
        color: var(--muted);
      }
      .band {
        display: inline-flex;
        align-items: center;
        gap: 0.3rem;
      }
      .swatch {
        display: inline-block;
        width: 0.9rem;
        height: 0.9rem;
        border-radius: 3px;
        border: 2px dashed var(--chart-target-green);
        background: color-mix(in srgb, var(--chart-target-green) 12%, transparent);
      }
      .swatch.amber {
        border-color: var(--chart-target-amber);
        background: var(--chart-band);
      }
      .swatch.red {
        border: 0;
        background: color-mix(in srgb, var(--red-ink) 12%, transparent);
      }
      .swatch.line {
        height: 0;
        border-width: 2px 0 0;
        border-radius: 0;
        background: none;
      }
      .swatch.series-0 {
        border-color: var(--chart-1);
      }
      .swatch.series-1 {
        border-color: var(--chart-2);
      }
      .swatch.series-2 {
        border-color: var(--chart-3);
      }
      .swatch.series-3 {
        border-color: var(--chart-4);
      }
      .single {
        display: flex;
        flex-wrap: wrap;
        gap: 1rem 2rem;
        align-items: flex-end;
      }
      .single > .hint {
        flex-basis: 100%;
      }
      .stat .value {
        font-size: 2rem;
        font-weight: 700;
        text-decoration: none;
        font-variant-numeric: tabular-nums;
        /* The value opens the jobs behind it: a 44 px target. */
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
      }
      .stat .meta {
        margin: 0.15rem 0 0;
        font-size: 0.85rem;
        color: var(--muted);
      }
    `,
  ];

  private chart: Chart | null = null;
  private readonly scheme = window.matchMedia(DARK);
  private readonly redraw = () => this.draw();

  private rows(data: DashboardData): KpiValue[] {
    if (!data.company?.ok) return [];
    const first = periodStartOf(data.filters.start, data.filters.period);
    return data.company.value.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start >= first);
  }

  private find(rows: KpiValue[], key: string, period: string): KpiValue | undefined {
    return rows.find((row) => row.kpi === key && row.period_start === period);
  }

  /** The periods of the range, and those of them with a value of any metric. */
  private periods(rows: KpiValue[]): { all: string[]; valued: string[] } {
    const all = [...new Set(rows.map((row) => row.period_start))].sort();
    return { all, valued: all.filter((period) => rows.some((row) => row.period_start === period && row.value !== null)) };
  }

  private href(data: DashboardData, key: string, period: string): string {
    return drilldownHref(key, data.filters, period, data.group ?? { by: "company" });
  }

  /** One target for the whole chart when its metrics share it, else each metric's own (or none). */
  private targets(data: DashboardData): { shared: Thresholds | null; each: (Thresholds | null)[] } {
    const each = this.spec.metrics.map((key) => targetOf(data, key));
    const [first] = each;
    const direction = data.kpis.get(this.spec.metrics[0])?.direction;
    const same = each.every(
      (target, index) =>
        target &&
        first &&
        target.green === first.green &&
        target.amber === first.amber &&
        data.kpis.get(this.spec.metrics[index])?.direction === direction,
    );
    return { shared: same ? first : null, each };
  }

  body(data: DashboardData): TemplateResult {
    return this.settled(data.company, () => {
      const rows = this.rows(data);
      const { all, valued } = this.periods(rows);
      if (!valued.length) return emptyFor(data, this.spec.metrics, "range");
      if (valued.length === 1) return this.single(data, rows, valued[0], all.length);
      const first = formatPeriod(all[0], data.filters.period);
      const last = formatPeriod(all[all.length - 1], data.filters.period);
      return html`<div class="chart">
          <canvas
            role="img"
            aria-label="${this.spec.title}, ${first} to ${last}: line chart. The numbers, with links to the jobs behind them, are under Show the numbers."
          ></canvas>
        </div>
        ${this.legend(data)}
        <details>
          <summary>Show the numbers</summary>
          <div class="table-wrap sticky">
            <table>
              <caption class="visually-hidden">
                ${this.spec.title}: each value links to the jobs behind it
              </caption>
              <thead>
                <tr>
                  <th scope="col">Period</th>
                  ${this.spec.metrics.map((key) => html`<th scope="col" class="num">${this.label(key)}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${all.map(
                  (period) => html`<tr>
                    <th scope="row">${formatPeriod(period, data.filters.period)}</th>
                    ${this.spec.metrics.map((key) => {
                      const row = this.find(rows, key, period);
                      return html`<td class="num status-${row?.status ?? "none"}">
                        ${row && row.value !== null
                          ? html`<a href=${this.href(data, key, period)}>${formatKpi(row.value, data.kpis.get(key))}</a>
                              <span class="hint">n=${formatCount(row.denominator)}</span>`
                          : "–"}
                      </td>`;
                    })}
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>
        </details>`;
    });
  }

  /** The target under the chart, in words, with the colours the chart draws it in. */
  private legend(data: DashboardData): TemplateResult {
    const { shared, each } = this.targets(data);
    const help = html`<span class="hint">Select a point to see the jobs behind it.</span>`;
    if (shared) {
      const words = targetWords(shared, data.kpis.get(this.spec.metrics[0]));
      return html`<p class="targets" data-target-green=${shared.green} data-target-amber=${shared.amber}>
        <span>Target:</span>
        ${words.map((part) => html`<span class="band"><span class="swatch ${part.status}" aria-hidden="true"></span>${part.text}</span>`)}
        ${help}
      </p>`;
    }
    const lines = each
      .map((target, index) => ({ target, index, kpi: data.kpis.get(this.spec.metrics[index]) }))
      .filter((line): line is typeof line & { target: Thresholds } => !!line.target);
    return html`<p class="targets">
      ${lines.length ? html`<span>Targets (dashed):</span>` : ""}
      ${lines.map(
        (line) => html`<span class="band"
          ><span class="swatch line series-${line.index % 4}" aria-hidden="true"></span>${kpiName(this.spec.metrics[line.index], line.kpi)}
          ${formatKpi(line.target.green, line.kpi)}</span
        >`,
      )}
      ${help}
    </p>`;
  }

  /** A range with values in one period only: the values themselves, not a dot on an empty chart. */
  private single(data: DashboardData, rows: KpiValue[], period: string, periods: number): TemplateResult {
    const name = formatPeriod(period, data.filters.period);
    return html`<div class="single">
      ${this.spec.metrics.map((key) => {
        const kpi = data.kpis.get(key);
        const row = this.find(rows, key, period);
        const target = targetOf(data, key);
        const status = row?.status ?? "none";
        return html`<div class="stat" data-kpi=${key}>
          <div class="hint">${this.label(key)} · ${name}</div>
          ${row && row.value !== null
            ? html`<a class="value status-${status}" data-value=${String(row.value)} href=${this.href(data, key, period)}
                  aria-label="${this.label(key)}, ${name}: ${formatKpi(row.value, kpi)}. Show the jobs behind it."
                  >${formatKpi(row.value, kpi)}</a
                >
                <p class="meta">
                  ${status === "none" ? "" : html`<span class="badge ${status}" data-status=${status}>${formatStatus(row, kpi?.source === "evaluations" ? "evaluations" : "jobs")}</span>`}
                  ${target ? html`target ${formatKpi(target.green, kpi)} ·` : ""} n = ${formatCount(row.denominator)}
                </p>`
            : html`<p class="meta">No value.</p>`}
        </div>`;
      })}
      <p class="hint">
        ${periods > 1
          ? `Only ${name} has values in this range, so there is no trend to draw yet.`
          : "A trend needs two periods or more: choose a longer range to see one."}
      </p>
    </div>`;
  }

  protected download(data: DashboardData): Download | null {
    if (!data.company?.ok) return null;
    const rows = this.rows(data);
    const found = periodsDownload(this.spec.title, data, this.spec.metrics, rows);
    // A chart only when there is one: a single period is shown as its value.
    return found && this.periods(rows).valued.length > 1 ? { ...found, image: () => this.image() } : found;
  }

  connectedCallback(): void {
    super.connectedCallback();
    this.scheme.addEventListener("change", this.redraw);
  }

  protected updated(changed: PropertyValues): void {
    super.updated(changed);
    if (changed.has("data") || changed.has("spec")) this.draw();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.scheme.removeEventListener("change", this.redraw);
    this.chart?.destroy();
    this.chart = null;
  }

  /** The point (metric, period) under a click or a tap, if it is on one. */
  private pointAt(event: ChartEvent, chart: Chart): { key: string; index: number } | null {
    if (!event.native) return null;
    const [hit] = chart.getElementsAtEventForMode(event.native, "nearest", { intersect: true }, false);
    if (!hit) return null;
    const key = this.spec.metrics[hit.datasetIndex];
    return key ? { key, index: hit.index } : null;
  }

  private draw(): void {
    this.chart?.destroy();
    this.chart = null;
    const canvas = this.renderRoot.querySelector("canvas");
    const box = this.renderRoot.querySelector<HTMLElement>(".chart");
    const data = this.data;
    if (!canvas || !box || !data) return;
    const rows = this.rows(data);
    const periods = this.periods(rows).all;
    const colours = chartColours(this);
    const ratio = this.spec.metrics.every((key) => isRatio(data.kpis.get(key)));
    const scale = (value: number) => (ratio ? value * 100 : value);
    const datasets: ChartDataset<"line", (number | null)[]>[] = this.spec.metrics.map((key, index) => ({
      label: this.label(key),
      data: periods.map((period) => {
        const value = this.find(rows, key, period)?.value;
        return value === null || value === undefined ? null : scale(value);
      }),
      borderColor: colours.series[index % colours.series.length],
      backgroundColor: colours.series[index % colours.series.length],
      tension: 0.25,
      spanGaps: true,
      pointRadius: 4,
      pointHoverRadius: 7,
      pointHitRadius: 14,
    }));
    // The target: green / amber / red bands when the metrics share one, else a dashed line each.
    const { shared, each } = this.targets(data);
    const direction = data.kpis.get(this.spec.metrics[0])?.direction ?? "higher";
    let bands: Band[] = [];
    let lines: { value: number; colour: string }[];
    if (shared) {
      bands = bandsOf(shared, direction, scale);
      lines = [
        { value: scale(shared.green), colour: colours.green },
        { value: scale(shared.amber), colour: colours.amber },
      ];
    } else {
      lines = each.flatMap((target, index) =>
        target ? [{ value: scale(target.green), colour: colours.series[index % colours.series.length] }] : [],
      );
    }
    const plotted = datasets.flatMap((set) => set.data.filter((value): value is number => value !== null));
    const range = valueRange(
      plotted,
      lines.map((line) => line.value),
      ratio,
    );
    // The axis is in the metrics' unit when they share one (money in the company's currency).
    const first = data.kpis.get(this.spec.metrics[0]);
    const unitKpi = this.spec.metrics.every((key) => data.kpis.get(key)?.unit === first?.unit) ? first : null;
    const axis = { ticks: { color: colours.text }, grid: { color: colours.grid }, border: { color: colours.grid } };
    this.chart = new Chart(canvas, {
      type: "line",
      data: { labels: periods.map((period) => formatPeriod(period, data.filters.period)), datasets },
      plugins: [backgroundPlugin(colours), targetPlugin(bands, lines, colours)],
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        locale,
        color: colours.text,
        interaction: { mode: "index", intersect: false },
        onClick: (event, _elements, chart) => {
          const point = this.pointAt(event, chart);
          if (point) navigate(this.href(data, point.key, periods[point.index]));
        },
        onHover: (event, _elements, chart) => {
          canvas.style.cursor = this.pointAt(event, chart) ? "pointer" : "default";
        },
        plugins: {
          legend: { display: this.spec.metrics.length > 1, position: "bottom", labels: { boxWidth: 12, color: colours.text } },
          title: { display: false, color: colours.text, font: { size: 14, weight: "bold" } },
          tooltip: {
            callbacks: {
              // Values in their unit (a rate as a percentage, money in the company's currency), rounded.
              label: (item) => {
                const key = this.spec.metrics[item.datasetIndex] ?? this.spec.metrics[0];
                const y = item.parsed.y;
                return `${item.dataset.label}: ${y === null ? "–" : formatKpi(ratio ? y / 100 : y, data.kpis.get(key))}`;
              },
              footer: () => "Select a point to see its jobs",
            },
          },
        },
        scales: {
          // Period names stay level on a phone: Chart.js leaves some out rather than tilting them.
          x: { ...axis, ticks: { ...axis.ticks, maxRotation: 0, autoSkipPadding: 12 } },
          y: { ...axis, min: range.min, max: range.max, ticks: { ...axis.ticks, callback: (value) => formatAxis(Number(value), unitKpi) } },
        },
      },
    });
    // The axis as asked for: Chart.js builds its scales only once the canvas has a size, which a
    // chart drawn in a hidden or detached box does not have yet.
    box.dataset.yMin = String(this.chart.scales.y?.min ?? range.min);
    box.dataset.yMax = String(this.chart.scales.y?.max ?? range.max);
    box.dataset.unit = ratio ? "percent" : (unitKpi?.unit ?? "");
  }

  private image(): string | null {
    const data = this.data;
    if (!this.chart || !data) return null;
    const periods = this.periods(this.rows(data)).all;
    const [first, last] = [periods[0], periods[periods.length - 1]].map((p) => formatPeriod(p, data.filters.period));
    return chartImage(this.chart, [this.spec.title, `${first} – ${last}`]);
  }
}

customElements.define("kpi-trend-widget", TrendWidget);
