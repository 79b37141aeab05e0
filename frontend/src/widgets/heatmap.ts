// Heatmap: one metric per technician (rows) and period (columns), each cell coloured by its
// target status and linking to the jobs behind it.
import { css, html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatPeriod } from "../format";
import type { KpiValue } from "../types";
import { WidgetBase } from "./base";
import { drilldownHref, type DashboardData } from "./data";
import { empty } from "../components/states";

export class HeatmapWidget extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      td.cell {
        text-align: center;
        font-variant-numeric: tabular-nums;
        padding: 0;
        min-width: 4.5rem;
      }
      td.cell a {
        display: block;
        padding: 0.35rem 0.25rem;
        color: inherit;
        text-decoration: none;
      }
      td.green {
        background: #bbf7d0;
      }
      td.amber {
        background: #fde68a;
      }
      td.red {
        background: #fecaca;
      }
      td.none {
        background: #f3f4f6;
      }
      .legend {
        display: flex;
        gap: 0.75rem;
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
      if (!rows.length) return empty("No data in this range.");
      const periods = [...new Set(rows.map((row) => row.period_start))].sort();
      const people = new Map<string, string>();
      rows.forEach((row) => people.set(row.group_id, row.group_label));
      const names = [...people.entries()].sort((a, b) => a[1].localeCompare(b[1]));
      const cell = new Map(rows.map((row) => [`${row.group_id}|${row.period_start}`, row]));
      return html`<div class="table-wrap">
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
        <p class="legend" aria-hidden="true">
          <span class="badge green">green: on target</span><span class="badge amber">amber</span
          ><span class="badge red">red</span><span class="badge">no sample</span>
        </p>`;
    });
  }

  private cell(data: DashboardData, key: string, id: string, period: string, row?: KpiValue): TemplateResult {
    if (!row || row.value === null) return html`<td class="cell none">–</td>`;
    const text = formatKpi(row.value, data.kpis.get(key));
    return html`<td class="cell ${row.status ?? "none"}" data-value=${String(row.value)}>
      <a
        href=${drilldownHref(key, data.filters, period, { by: "technician", id })}
        title="${row.group_label}, ${formatPeriod(period, data.filters.period)}: ${text} (n=${formatCount(row.denominator)})"
        >${text}</a
      >
    </td>`;
  }
}

customElements.define("kpi-heatmap-widget", HeatmapWidget);
