// Heatmap: one metric per technician (rows) and period (columns), each cell coloured by its
// target status and linking to the jobs behind it.
import { css, html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatPeriod, formatTargetStatus } from "../format";
import type { KpiValue } from "../types";
import { WidgetBase } from "./base";
import { drilldownHref, emptyFor, targetOf, type DashboardData } from "./data";
import { targetWords } from "./axis";
import { fileName, kpiCell, kpiHeader, rangeSlug, type Download } from "../components/download";

const LEGEND: Record<string, string> = { green: "on target", amber: "close to target", red: "off target" };

export class HeatmapWidget extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      td.cell {
        text-align: center;
        font-variant-numeric: tabular-nums;
        padding: 0;
        min-width: 4.5rem;
        color: var(--heat-ink);
        border-left: 1px solid var(--surface);
      }
      td.cell a {
        display: flex;
        align-items: center;
        justify-content: center;
        min-height: var(--target);
        padding: 0.25rem;
        color: inherit;
        text-decoration: none;
      }
      td.cell a:hover {
        text-decoration: underline;
      }
      td.green {
        background: var(--heat-green);
      }
      td.amber {
        background: var(--heat-amber);
      }
      td.red {
        background: var(--heat-red);
      }
      td.none {
        background: var(--heat-none);
        vertical-align: middle;
      }
      tbody th {
        vertical-align: middle;
        min-width: 7rem;
      }
      .legend {
        display: flex;
        gap: 0.5rem;
        font-size: 0.85rem;
        margin-top: 0.5rem;
        flex-wrap: wrap;
      }
    `,
  ];

  body(data: DashboardData): TemplateResult {
    return this.settled(data.technicians, (values) => {
      const key = this.spec.metrics[0];
      const rows = values.filter((row) => row.kpi === key);
      if (!rows.some((row) => row.value !== null)) return emptyFor(data, [key], "range");
      const periods = [...new Set(rows.map((row) => row.period_start))].sort();
      const people = new Map<string, string>();
      rows.forEach((row) => people.set(row.group_id, row.group_label));
      const names = [...people.entries()].sort((a, b) => a[1].localeCompare(b[1]));
      const cell = new Map(rows.map((row) => [`${row.group_id}|${row.period_start}`, row]));
      return html`<div class="table-wrap sticky newest-last">
          <table>
            <caption class="visually-hidden">
              ${this.label(key)} by technician and period
            </caption>
            <thead>
              <tr>
                <th scope="col">Technician</th>
                ${periods.map((period) => html`<th scope="col" class="num">${formatPeriod(period, data.filters.period)}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${names.map(
                ([id, name]) => html`<tr>
                  <th scope="row"><a href="/technicians/${id}">${name}</a></th>
                  ${periods.map((period) => this.cell(data, key, id, period, cell.get(`${id}|${period}`)))}
                </tr>`,
              )}
            </tbody>
          </table>
        </div>
        ${this.legend(data, key)}`;
    });
  }

  /** What the colours mean, with the target's thresholds when the metric has one. */
  private legend(data: DashboardData, key: string): TemplateResult {
    const target = targetOf(data, key);
    const words = target
      ? targetWords(target, data.kpis.get(key))
      : (["green", "amber", "red"] as const).map((status) => ({ status, text: LEGEND[status] }));
    return html`<p class="legend">
      ${words.map((part) => html`<span class="badge ${part.status}">${part.text}</span>`)}<span class="badge">no sample</span>
    </p>`;
  }

  protected download(data: DashboardData): Download | null {
    if (!data.technicians?.ok) return null;
    const key = this.spec.metrics[0];
    const kpi = data.kpis.get(key);
    const rows = data.technicians.value.filter((row) => row.kpi === key);
    if (!rows.some((row) => row.value !== null)) return null;
    const periods = [...new Set(rows.map((row) => row.period_start))].sort();
    const facts = kpi?.source === "evaluations" ? "evaluations" : "jobs";
    const sorted = [...rows].sort(
      (a, b) => a.group_label.localeCompare(b.group_label) || a.period_start.localeCompare(b.period_start),
    );
    return {
      name: fileName(this.spec.title, rangeSlug(periods[0], periods[periods.length - 1], data.filters.period)),
      table: () => ({
        header: ["Technician", "Period", "First day", kpiHeader(this.label(key), kpi), "Sample", "Status"],
        rows: sorted.map((row) => [
          row.group_label,
          formatPeriod(row.period_start, data.filters.period),
          row.period_start,
          kpiCell(row.value, kpi),
          row.value === null ? null : row.denominator,
          row.value === null ? "" : formatTargetStatus(row, facts),
        ]),
      }),
    };
  }

  private cell(data: DashboardData, key: string, id: string, period: string, row?: KpiValue): TemplateResult {
    if (!row || row.value === null) return html`<td class="cell none">–</td>`;
    const kpi = data.kpis.get(key);
    const text = formatKpi(row.value, kpi);
    // Said in words for screen readers ("too few jobs" on a small sample, which is not coloured).
    const words = formatTargetStatus(row, kpi?.source === "evaluations" ? "evaluations" : "jobs");
    return html`<td class="cell ${row.status ?? "none"}" data-value=${String(row.value)}>
      <a
        href=${drilldownHref(key, data.filters, period, { by: "technician", id })}
        title="${row.group_label}, ${formatPeriod(period, data.filters.period)}: ${text} (n=${formatCount(row.denominator)})"
        >${text}${row.status ? html`<span class="visually-hidden">, ${words}</span>` : ""}</a
      >
    </td>`;
  }
}

customElements.define("kpi-heatmap-widget", HeatmapWidget);
