// KPI card: the latest period's value, coloured by its target, the change against the
// period before, and the sample size; the value links to the jobs behind it.
import { css, html, type TemplateResult } from "lit";
import { formatChange, formatCount, formatKpi, formatPeriod } from "../format";
import type { KpiValue } from "../types";
import { WidgetBase } from "./base";
import { drilldownHref, emptyFor, targetOf, type DashboardData } from "./data";
import { fileName, kpiCell, periodSlug, round, unitLabel, type Download } from "../components/download";

export class KpiCard extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      .metric + .metric {
        margin-top: 0.75rem;
        border-top: 1px solid var(--border);
        padding-top: 0.75rem;
      }
      .value {
        font-size: 2rem;
        font-weight: 700;
        text-decoration: none;
        font-variant-numeric: tabular-nums;
        display: inline-block;
      }
      .value.green {
        color: var(--green-ink);
      }
      .value.amber {
        color: var(--amber-ink);
      }
      .value.red {
        color: var(--red-ink);
      }
      .meta {
        font-size: 0.85rem;
        color: var(--muted);
        margin: 0.15rem 0 0;
      }
    `,
  ];

  body(data: DashboardData): TemplateResult {
    return this.settled(data.company, (rows) => html`${this.spec.metrics.map((key) => this.metric(data, rows, key))}`);
  }

  private metric(data: DashboardData, rows: KpiValue[], key: string): TemplateResult {
    const kpi = data.kpis.get(key);
    const now = rows.find((row) => row.kpi === key && row.period_start === data.latest);
    const before = rows.find((row) => row.kpi === key && row.period_start === data.previous);
    const period = formatPeriod(data.latest, data.filters.period);
    if (!now || now.value === null) {
      return html`<div class="metric" data-kpi=${key}>
        <div class="hint">${kpi?.label ?? key} · ${period}</div>
        ${emptyFor(data, [key], "latest")}
      </div>`;
    }
    const change = before?.value !== null && before?.value !== undefined ? now.value - before.value : null;
    const status = now.status ?? "none";
    const target = targetOf(data, key);
    return html`<div class="metric" data-kpi=${key}>
      <div class="hint">${kpi?.label ?? key} · ${period}</div>
      <a
        class="value ${status}"
        data-value=${String(now.value)}
        href=${drilldownHref(key, data.filters, now.period_start, { by: "company" })}
        title="Show the jobs behind this value"
        aria-label="${kpi?.label ?? key}: ${formatKpi(now.value, kpi)}, ${status === "none" ? "no target" : `${status} against target`}. Show the jobs behind it."
        >${formatKpi(now.value, kpi)}</a
      >
      <p class="meta">
        <span class="badge ${status}">${status === "none" ? "no target" : status}</span>
        <span data-change=${change === null ? "" : String(change)}>${formatChange(change, kpi)} vs previous</span>
        · n = <span data-sample>${formatCount(now.denominator)}</span>
        ${target ? html`· target <span data-target>${formatKpi(target.green, kpi)}</span>` : ""}
      </p>
    </div>`;
  }

  protected download(data: DashboardData): Download | null {
    if (!data.company?.ok) return null;
    const rows = data.company.value;
    const shown = (key: string) => rows.some((row) => row.kpi === key && row.period_start === data.latest && row.value !== null);
    if (!this.spec.metrics.some(shown)) return null;
    const period = formatPeriod(data.latest, data.filters.period);
    const previous = formatPeriod(data.previous, data.filters.period);
    return {
      name: fileName(this.spec.title, periodSlug(data.latest, data.filters.period)),
      table: () => ({
        header: ["KPI", "Period", "Value", "Unit", `Value in ${previous}`, "Change", "Sample", "Status", "Target"],
        rows: this.spec.metrics.map((key) => {
          const kpi = data.kpis.get(key);
          const now = rows.find((row) => row.kpi === key && row.period_start === data.latest);
          const before = rows.find((row) => row.kpi === key && row.period_start === data.previous);
          const value = kpiCell(now?.value, kpi);
          const earlier = kpiCell(before?.value, kpi);
          return [
            this.label(key),
            period,
            value,
            unitLabel(kpi),
            earlier,
            value !== null && earlier !== null ? round(value - earlier, 2) : null,
            now && now.value !== null ? now.denominator : null,
            now?.status ?? "",
            kpiCell(targetOf(data, key)?.green, kpi),
          ];
        }),
      }),
    };
  }
}

customElements.define("kpi-card-widget", KpiCard);
