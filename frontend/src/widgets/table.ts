// Table: the widget's metrics per technician for the last period of the range.
import { html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatPeriod } from "../format";
import { WidgetBase } from "./base";
import { drilldownHref, type DashboardData } from "./data";
import { empty } from "../components/states";

export class TableWidget extends WidgetBase {
  body(data: DashboardData): TemplateResult {
    return this.settled(data.technicians, (values) => {
      const rows = values.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start === data.latest);
      if (!rows.length) return empty("No data for this period.");
      const people = new Map<string, string>();
      rows.forEach((row) => people.set(row.group_id, row.group_label));
      return html`<p class="hint">${formatPeriod(data.latest, data.filters.period)}</p>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Technician</th>
                ${this.spec.metrics.map((key) => html`<th scope="col" class="num">${this.label(key)}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${[...people.entries()]
                .sort((a, b) => a[1].localeCompare(b[1]))
                .map(
                  ([id, name]) => html`<tr>
                    <th scope="row"><a href="/technicians/${id}">${name}</a></th>
                    ${this.spec.metrics.map((key) => {
                      const row = rows.find((r) => r.kpi === key && r.group_id === id);
                      return html`<td class="num status-${row?.status ?? "none"}">
                        ${row && row.value !== null
                          ? html`<a href=${drilldownHref(key, data.filters, data.latest, { by: "technician", id })}
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
        </div>`;
    });
  }
}

customElements.define("kpi-table-widget", TableWidget);
