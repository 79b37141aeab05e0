// Trend: the company's value per period for each metric, with the target band behind it
// (amber to green threshold). The numbers are also in a table, with links to the jobs behind them.
import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
  type ChartDataset,
} from "chart.js";
import { css, html, type PropertyValues, type TemplateResult } from "lit";
import { periodStartOf } from "../filters";
import { formatCount, formatKpi, formatPeriod, isRatio, locale } from "../format";
import type { KpiValue } from "../types";
import { WidgetBase } from "./base";
import { drilldownHref, type DashboardData } from "./data";
import { empty } from "../components/states";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Legend, Tooltip);

const COLOURS = ["#1d4ed8", "#7c3aed", "#0f766e", "#c2410c"];

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
    `,
  ];

  private chart: Chart | null = null;

  private rows(data: DashboardData): KpiValue[] {
    if (!data.company?.ok) return [];
    const first = periodStartOf(data.filters.start, data.filters.period);
    return data.company.value.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start >= first);
  }

  body(data: DashboardData): TemplateResult {
    return this.settled(data.company, () => {
      const rows = this.rows(data);
      if (!rows.length) return empty("No data in this range.");
      const periods = [...new Set(rows.map((row) => row.period_start))].sort();
      return html`<div class="chart"><canvas role="img" aria-label="${this.spec.title}: line chart"></canvas></div>
        <details>
          <summary>Show the numbers</summary>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Period</th>
                  ${this.spec.metrics.map((key) => html`<th scope="col" class="num">${this.label(key)}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${periods.map(
                  (period) => html`<tr>
                    <th scope="row">${formatPeriod(period, data.filters.period)}</th>
                    ${this.spec.metrics.map((key) => {
                      const row = rows.find((r) => r.kpi === key && r.period_start === period);
                      return html`<td class="num">
                        ${row && row.value !== null
                          ? html`<a href=${drilldownHref(key, data.filters, period, { by: "company" })}
                              >${formatKpi(row.value, data.kpis.get(key))}</a
                            >
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

  protected updated(changed: PropertyValues): void {
    super.updated(changed);
    if (changed.has("data")) this.draw();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.chart?.destroy();
    this.chart = null;
  }

  private draw(): void {
    this.chart?.destroy();
    this.chart = null;
    const canvas = this.renderRoot.querySelector("canvas");
    const data = this.data;
    if (!canvas || !data) return;
    const rows = this.rows(data);
    const periods = [...new Set(rows.map((row) => row.period_start))].sort();
    const ratio = this.spec.metrics.every((key) => isRatio(data.kpis.get(key)));
    const scale = (value: number | null) => (value === null ? null : ratio ? value * 100 : value);
    const datasets: ChartDataset<"line", (number | null)[]>[] = this.spec.metrics.map((key, index) => ({
      label: this.label(key),
      data: periods.map((period) => scale(rows.find((r) => r.kpi === key && r.period_start === period)?.value ?? null)),
      borderColor: COLOURS[index % COLOURS.length],
      backgroundColor: COLOURS[index % COLOURS.length],
      tension: 0.25,
      spanGaps: true,
    }));
    // The target band of the first metric: between its amber and green thresholds.
    const target = data.targets.get(this.spec.metrics[0]);
    if (target) {
      datasets.push(
        {
          label: "Target (green)",
          data: periods.map(() => scale(target.green)),
          borderColor: "#16a34a",
          borderDash: [6, 4],
          pointRadius: 0,
          borderWidth: 1,
        },
        {
          label: "Target band (amber)",
          data: periods.map(() => scale(target.amber)),
          borderColor: "#d97706",
          backgroundColor: "rgba(250, 204, 21, 0.18)",
          borderDash: [2, 4],
          pointRadius: 0,
          borderWidth: 1,
          fill: "-1",
        },
      );
    }
    const number = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    this.chart = new Chart(canvas, {
      type: "line",
      data: { labels: periods.map((period) => formatPeriod(period, data.filters.period)), datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        locale,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { y: { ticks: { callback: (value) => `${number.format(Number(value))}${ratio ? " %" : ""}` } } },
      },
    });
  }
}

customElements.define("kpi-trend-widget", TrendWidget);
