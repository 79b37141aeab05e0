// <kpi-appraisal-numbers>: a technician's KPI numbers for an appraisal's period, read-only — what the
// evaluation form and the self-appraisal show beside the questions, and what an evaluation kept
// (GET /api/v1/evaluations/kpi-values, an evaluation's kpi_snapshot). Each KPI with its value over the
// whole period, its sample, its target and its status in words ("too few jobs", "so far",
// "provisional"), and the team's value where it may be shown. One column of short rows: it fits a phone.
import { LitElement, css, html, type TemplateResult } from "lit";
import { formatCount, formatDate, formatKpi, formatScore, formatStamp, formatTargetStatus } from "../format";
import { shared } from "../styles";
import type { AppraisalKpi, AppraisalNumbers } from "../types";

/** A desktop's width, where the numbers sit beside the questions rather than above them (folded). */
export function wide(): boolean {
  return window.matchMedia("(min-width: 64rem)").matches;
}

export class AppraisalNumbersPanel extends LitElement {
  static styles = [
    shared,
    css`
      h3 {
        margin: 0 0 0.25rem;
      }
      .lead {
        margin: 0 0 0.5rem;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 0.5rem;
      }
      li {
        border-bottom: 1px solid var(--border);
        padding-bottom: 0.45rem;
        min-width: 0;
      }
      .line {
        display: flex;
        flex-wrap: wrap;
        justify-content: space-between;
        gap: 0 0.75rem;
        align-items: baseline;
      }
      .name {
        font-weight: 600;
        overflow-wrap: anywhere;
      }
      .value {
        font-variant-numeric: tabular-nums;
        font-weight: 700;
      }
      .facts {
        color: var(--muted);
        font-size: 0.9rem;
        margin: 0.1rem 0 0;
      }
      .score {
        font-size: 1.35rem;
        font-weight: 700;
        font-variant-numeric: tabular-nums;
      }
    `,
  ];

  static properties = {
    numbers: { attribute: false },
    heading: { type: String },
    kept: { type: Boolean },
    folded: { type: Boolean },
  };
  declare numbers: AppraisalNumbers;
  /** The panel's title ("Tina's numbers"). */
  declare heading: string;
  /** The numbers an evaluation kept (said with the time they were read), not live ones. */
  declare kept: boolean;
  /** The KPIs start folded under their scorecard score (on a phone, above the questions). */
  declare folded: boolean;

  constructor() {
    super();
    this.heading = "";
    this.kept = false;
    this.folded = false;
  }

  render(): TemplateResult {
    const numbers = this.numbers;
    const who = numbers.technician ?? "The technician";
    const period = `${formatDate(numbers.period_start)} – ${formatDate(numbers.period_end)}`;
    const shown = numbers.kpis.filter((kpi) => kpi.denominator > 0 || kpi.value !== null);
    const empty = numbers.kpis.length - shown.length;
    return html`<section aria-labelledby="numbers-title" data-numbers>
      <h3 id="numbers-title">${this.heading || `${who}'s numbers`}</h3>
      <p class="hint lead">
        ${period}${numbers.complete ? "" : " so far: the period is not over"}.
        ${this.kept ? `As shown on ${formatStamp(numbers.taken_at)}; later changes do not alter them.` : "Read-only, from the KPIs."}
      </p>
      <p class="lead">
        Scorecard score <span class="score" data-score=${numbers.score ?? ""}>${formatScore(numbers.score)}</span> / 100
        <span class="hint">(${formatCount(numbers.sample)} completed job${numbers.sample === 1 ? "" : "s"})</span>
      </p>
      ${numbers.unranked_reason ? html`<p class="hint">Not ranked: ${numbers.unranked_reason}.</p>` : ""}
      ${this.folded
        ? html`<details>
            <summary>Show the ${formatCount(shown.length)} KPIs</summary>
            ${this.list(shown, numbers.team, empty)}
          </details>`
        : this.list(shown, numbers.team, empty)}
    </section>`;
  }

  private list(shown: AppraisalKpi[], team: string | null, empty: number): TemplateResult {
    return html`<ul>
        ${shown.map((kpi) => this.kpi(kpi, team))}
      </ul>
      ${empty ? html`<p class="hint">${empty} more KPI${empty === 1 ? " has" : "s have"} nothing to count in the period.</p>` : ""}`;
  }

  private kpi(kpi: AppraisalKpi, team: string | null): TemplateResult {
    const facts = kpi.source === "evaluations" ? "evaluations" : "jobs";
    // Without a target the status says nothing the target part does not ("no target").
    const status = kpi.value === null ? "no value" : kpi.status === null ? "" : formatTargetStatus(kpi, facts);
    const colour = kpi.status && kpi.status !== "insufficient" ? `status-${kpi.status}` : "";
    const target = kpi.target
      ? `target ${formatKpi(kpi.target.green, kpi)} or ${kpi.direction === "lower" ? "less" : "more"}`
      : "no target";
    const sample = `${formatCount(kpi.denominator)} ${kpi.denominator === 1 ? facts.replace(/s$/, "") : facts}`;
    return html`<li data-kpi=${kpi.kpi}>
      <div class="line">
        <span class="name">${kpi.label}</span>
        <span class="value ${colour}">${formatKpi(kpi.value, kpi)}</span>
      </div>
      <p class="facts">
        ${status ? html`<span data-status>${status}</span> · ` : ""}${sample} · ${target}${kpi.team_value !== null &&
        kpi.team_value !== undefined
          ? html` · ${team ?? "Team"}: ${formatKpi(kpi.team_value, kpi)}`
          : ""}
      </p>
      ${kpi.provisional
        ? html`<p class="facts" data-provisional>
            Provisional: ${formatCount(kpi.pending)} ${kpi.pending === 1 ? "job's" : "jobs'"} outcome not known yet
            ${kpi.provisional_note ? html`(${kpi.provisional_note.toLowerCase()})` : ""}
          </p>`
        : ""}
    </li>`;
  }
}

customElements.define("kpi-appraisal-numbers", AppraisalNumbersPanel);
