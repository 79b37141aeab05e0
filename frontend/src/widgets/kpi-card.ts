// KPI card: the latest period's value, coloured by its target, the change against the
// period before, and the sample size; the value links to the jobs behind it.
import { css, html, type TemplateResult } from "lit";
import { formatChange, formatCount, formatDayOf, formatInterval, formatKpi, formatPeriod, formatPeriodSoFar, formatStatus, kpiName } from "../format";
import type { KpiDefinition, KpiValue } from "../types";
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
        /* The value opens the jobs behind it: a 44 px target. */
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
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
      .interval {
        color: var(--muted);
        font-size: 0.95rem;
        white-space: nowrap;
      }
      .provisional {
        font-style: italic;
      }
      .restated {
        color: var(--ink);
        border-left: 4px solid var(--amber-ink);
        padding-left: 0.5rem;
        margin-top: 0.4rem;
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
    const complete = now?.complete ?? true;
    const period = formatPeriodSoFar(data.latest, data.filters.period, complete);
    const facts = kpi?.source === "evaluations" ? "evaluations" : "jobs";
    const name = kpiName(key, kpi);
    if (!now || now.value === null) {
      return html`<div class="metric" data-kpi=${key}>
        <div class="hint">${name} · ${period}</div>
        ${now && now.pending > 0 ? this.pendingNote(now, facts) : emptyFor(data, [key], "latest")}
      </div>`;
    }
    // The change against the period before; a period under way against the same days of the one before.
    const change = now.previous?.change ?? null;
    const before = formatPeriod(data.previous, data.filters.period);
    const versus = complete ? `vs ${before}` : `vs the same days of ${before}`;
    // Too few facts: no colour at all; a status whose interval crosses a threshold says so.
    const status = now.status === "insufficient" ? "insufficient" : (now.status ?? "none");
    const words = formatStatus(now, facts);
    const interval = formatInterval(now, kpi);
    const target = targetOf(data, key);
    return html`<div class="metric" data-kpi=${key} data-complete=${String(complete)}>
      <div class="hint">${name} · ${period}</div>
      <a
        class="value ${status}"
        data-value=${String(now.value)}
        href=${drilldownHref(key, data.filters, now.period_start, { by: "company" })}
        title="Show the jobs behind this value"
        aria-label="${name}, ${period}: ${formatKpi(now.value, kpi)} ${interval}, ${words}. Show the jobs behind it."
        >${formatKpi(now.value, kpi)}</a
      >${interval ? html` <span class="interval" data-interval title="95% of the time the true value lies within this margin">${interval}</span>` : ""}
      <p class="meta">
        <span class="badge ${status}" data-status=${now.status ?? ""}
          title=${now.certain === false ? "The margin of this value crosses a target threshold" : ""}>${words}</span>
        <span data-change=${change === null ? "" : String(change)}>${formatChange(change, kpi)} ${versus}</span>
        · <span data-sample>${formatCount(now.denominator)}</span> ${facts}
        ${target ? html`· target <span data-target>${formatKpi(target.green, kpi)}</span>` : ""}
      </p>
      ${now.provisional ? this.pendingNote(now, facts) : ""}
      ${now.closed ? this.closedNote(now, kpi, facts) : ""}
    </div>`;
  }

  /** A closed month's value is the one it was closed with; where the jobs now say otherwise, both show. */
  private closedNote(row: KpiValue, kpi: KpiDefinition | undefined, facts: string): TemplateResult {
    const closed = row.closed_at ? formatDayOf(row.closed_at) : "";
    const restated = row.restated;
    if (!restated) {
      return html`<p class="meta closed" data-closed title="The value the month was closed with: later changes to its jobs show beside it">Closed on ${closed}.</p>`;
    }
    const more = restated.denominator - row.denominator;
    const why =
      more > 0
        ? `after ${formatCount(more)} more ${facts}`
        : more < 0
          ? `after ${formatCount(-more)} fewer ${facts}`
          : "after a change to its jobs or to how it is computed";
    return html`<p class="meta restated" data-restated=${String(restated.value)}>
      <strong>Restated: ${formatKpi(row.value, kpi)} → ${formatKpi(restated.value, kpi)}</strong> ${why} since the month
      was closed on ${closed}. The closed value stands until an admin closes the month again.
    </p>`;
  }

  /** Facts whose outcome is not known yet (a callback may still come) are left out until it is. */
  private pendingNote(row: KpiValue, facts: string): TemplateResult {
    return row.value === null
      ? html`<p class="meta provisional" data-pending=${String(row.pending)}>
          No value yet: the outcome of ${formatCount(row.pending)} ${facts} is not known yet, so they are not counted.
        </p>`
      : html`<p class="meta provisional" data-pending=${String(row.pending)}>
          Provisional: ${formatCount(row.pending)} more ${facts} will count once their outcome is known.
        </p>`;
  }

  protected download(data: DashboardData): Download | null {
    if (!data.company?.ok) return null;
    const rows = data.company.value;
    const shown = (key: string) => rows.some((row) => row.kpi === key && row.period_start === data.latest && row.value !== null);
    if (!this.spec.metrics.some(shown)) return null;
    const complete = rows.find((row) => row.period_start === data.latest)?.complete ?? true;
    const period = formatPeriodSoFar(data.latest, data.filters.period, complete);
    const previous = complete ? formatPeriod(data.previous, data.filters.period) : `the same days of ${formatPeriod(data.previous, data.filters.period)}`;
    return {
      name: fileName(this.spec.title, periodSlug(data.latest, data.filters.period)),
      table: () => ({
        header: ["KPI", "Period", "Value", "Unit", `Value in ${previous}`, "Change", "Sample", "Status", "Target"],
        rows: this.spec.metrics.map((key) => {
          const kpi = data.kpis.get(key);
          const now = rows.find((row) => row.kpi === key && row.period_start === data.latest);
          const value = kpiCell(now?.value, kpi);
          const earlier = kpiCell(now?.previous?.value, kpi);
          return [
            this.label(key),
            period,
            value,
            unitLabel(kpi),
            earlier,
            value !== null && earlier !== null ? round(value - earlier, 2) : null,
            now && now.value !== null ? now.denominator : null,
            now ? formatStatus(now, kpi?.source === "evaluations" ? "evaluations" : "jobs") : "",
            kpiCell(targetOf(data, key)?.green, kpi),
          ];
        }),
      }),
    };
  }
}

customElements.define("kpi-card-widget", KpiCard);
