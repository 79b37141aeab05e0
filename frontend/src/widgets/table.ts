// Table: the widget's metrics per technician for the last period of the range.
import { html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatPeriod } from "../format";
import { WidgetBase } from "./base";
import { drilldownHref, emptyFor, type DashboardData } from "./data";
import { fileName, kpiCell, kpiHeader, periodSlug, sampleHeader, type Download } from "../components/download";

export class TableWidget extends WidgetBase {
  body(data: DashboardData): TemplateResult {
    return this.settled(data.technicians, (values) => {
      const rows = values.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start === data.latest);
      if (!rows.some((row) => row.value !== null)) return emptyFor(data, this.spec.metrics, "latest");
      const people = new Map<string, string>();
      rows.forEach((row) => people.set(row.group_id, row.group_label));
      return html`<p class="hint">${formatPeriod(data.latest, data.filters.period)}</p>
        <div class="table-wrap cards">
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

  protected download(data: DashboardData): Download | null {
    if (!data.technicians?.ok) return null;
    const rows = data.technicians.value.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start === data.latest);
    if (!rows.some((row) => row.value !== null)) return null;
    const people = [...new Map(rows.map((row) => [row.group_id, row.group_label])).entries()].sort((a, b) =>
      a[1].localeCompare(b[1]),
    );
    const kpis = this.spec.metrics.map((key) => data.kpis.get(key));
    return {
      name: fileName(this.spec.title, periodSlug(data.latest, data.filters.period)),
      table: () => ({
        header: [
          "Technician",
          "Period",
          ...this.spec.metrics.flatMap((key, i) => [kpiHeader(this.label(key), kpis[i]), sampleHeader(this.label(key), kpis[i])]),
        ],
        rows: people.map(([id, name]) => [
          name,
          formatPeriod(data.latest, data.filters.period),
          ...this.spec.metrics.flatMap((key, i) => {
            const row = rows.find((r) => r.kpi === key && r.group_id === id);
            return [kpiCell(row?.value, kpis[i]), row && row.value !== null ? row.denominator : null];
          }),
        ]),
      }),
    };
  }
}

customElements.define("kpi-table-widget", TableWidget);
