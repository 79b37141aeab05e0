// The admin page's "Evaluators" tab (/admin/calibration): does one evaluator score the same technicians
// higher or lower than others do, and do their scores follow the KPIs? (GET /api/v1/evaluations/calibration)
// Each evaluator is a card that says it in plain words first — "Dana scores 8 points higher than others
// for the same technicians (between 3 and 13)" — with the numbers behind it below.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api } from "../api";
import { addMonths, companyToday } from "../filters";
import { formatCount, formatDate, formatNumber, formatScore, formatSigned } from "../format";
import { shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import type { Calibration, EvaluatorCalibration } from "../types";

const CALIBRATION = "/api/v1/evaluations/calibration";

/** A difference in whole score points, in words: "8 points higher", "1 point lower", "the same". */
function pointsWords(points: number): string {
  const size = Math.round(Math.abs(points));
  if (size === 0) return "the same";
  return `${formatCount(size)} point${size === 1 ? "" : "s"} ${points > 0 ? "higher" : "lower"}`;
}

/** What an evaluator's leniency says, in a sentence a manager can act on. */
export function leniencyWords(row: EvaluatorCalibration): string {
  const name = row.evaluator;
  if (row.leniency === null || row.leniency === undefined) {
    return `${name} cannot be compared with others yet: ${lowerFirst(row.leniency_note ?? "nothing to compare with")}.`;
  }
  const low = row.leniency_low;
  const high = row.leniency_high;
  if (low === null || low === undefined || high === null || high === undefined) {
    return (
      `${name} scored ${pointsWords(row.leniency)} than the other evaluators of the one technician and period ` +
      `both scored; one comparison is too few to judge.`
    );
  }
  if (low > 0 || high < 0) {
    const [near, far] = low > 0 ? [low, high] : [-high, -low];
    return (
      `${name} scores ${pointsWords(row.leniency)} than others for the same technicians ` +
      `(between ${formatCount(near)} and ${formatCount(far)}).`
    );
  }
  const range = `between ${formatSigned(Math.round(low))} and ${formatSigned(Math.round(high))} points`;
  if (Math.round(row.leniency) === 0) return `${name} scores the same as others for the same technicians (${range}).`;
  return (
    `${name} scores ${pointsWords(row.leniency)} than others for the same technicians on average, but with so few ` +
    `comparisons that could be chance (${range}).`
  );
}

/** How closely an evaluator's scores follow the technicians' KPI scorecards, in words. */
export function correlationWords(row: EvaluatorCalibration): string {
  const name = row.evaluator;
  const r = row.kpi_correlation;
  if (r === null || r === undefined) return `${name}'s scores cannot be set against the KPIs: ${lowerFirst(row.kpi_note ?? "")}.`;
  const how = r >= 0.7 ? "closely" : r >= 0.4 ? "partly" : r >= 0.1 ? "loosely" : r > -0.1 ? "hardly at all" : "the opposite way";
  return (
    `${name}'s scores follow the technicians' KPI scorecards ${how} ` +
    `(correlation ${formatNumber(round2(r))}, from ${formatCount(row.kpi_pairs)} evaluations).`
  );
}

function lowerFirst(text: string): string {
  return text ? text[0].toLowerCase() + text.slice(1) : text;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

export class AdminCalibration extends LitElement {
  static styles = [
    shared,
    css`
      form {
        margin-bottom: 1rem;
      }
      .row .field input {
        width: 100%;
      }
      .evaluators {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      @media (min-width: 56rem) {
        .evaluators {
          grid-template-columns: repeat(2, minmax(0, 1fr));
        }
      }
      article h3 {
        margin-bottom: 0.35rem;
      }
      .says {
        font-size: 1.05rem;
        margin: 0 0 0.5rem;
      }
      dl {
        display: grid;
        grid-template-columns: minmax(0, 1fr) auto;
        gap: 0.25rem 1rem;
        margin: 0.5rem 0 0;
        font-size: 0.95rem;
      }
      dt {
        color: var(--muted);
      }
      dd {
        margin: 0;
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
    `,
  ];

  static properties = {
    answer: { state: true },
    error: { state: true },
    busy: { state: true },
  };
  declare answer: Calibration | null;
  declare error: unknown;
  declare busy: boolean;
  private start = addMonths(`${companyToday().slice(0, 7)}-01`, -12);
  private end = companyToday();

  constructor() {
    super();
    this.answer = null;
    this.error = null;
    this.busy = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      this.answer = await api.get<Calibration>(CALIBRATION, { start: this.start, end: this.end });
    } catch (error) {
      this.error = error;
      this.answer = null;
    } finally {
      this.busy = false;
    }
  }

  private compare(event: SubmitEvent): void {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    this.start = String(data.get("start") ?? "");
    this.end = String(data.get("end") ?? "");
    void this.load();
  }

  private fieldOf(name: string, label: string, value: string): TemplateResult {
    const message = fieldError(this.error, name);
    return html`<div class="field ${message ? "invalid" : ""}">
      <label for="cal-${name}">${label}</label>
      ${message ? html`<p class="field-error" id="cal-${name}-error">${message}</p>` : ""}
      <input id="cal-${name}" name=${name} type="date" required .value=${value}
        aria-describedby=${message ? `cal-${name}-error` : ""} aria-invalid=${!!message} />
    </div>`;
  }

  render(): TemplateResult {
    return html`<section class="card" aria-labelledby="calibration-title">
      <h2 id="calibration-title">Evaluators</h2>
      <p>
        Whether each evaluator scores the same technicians, for the same periods, higher or lower than the other
        evaluators do, and whether their scores follow the technicians' KPIs. Only submitted evaluations count.
      </p>
      <form novalidate @submit=${this.compare} aria-label="Evaluations to compare">
        <div class="row">
          ${this.fieldOf("start", "Periods from", this.start)} ${this.fieldOf("end", "Periods to", this.end)}
          <button type="submit" ?disabled=${this.busy}>${this.busy ? "Comparing…" : "Compare"}</button>
        </div>
      </form>
      ${this.body()}
      <details>
        <summary>How these are worked out</summary>
        <p>
          For each technician and period that an evaluator and at least one other evaluator both scored, the
          difference between the evaluator's score and the others' mean. The difference shown is the mean of these;
          the range is its 95 % t interval (mean ± t · s / √n of the paired differences), so it needs two such
          technicians and periods. When the range includes 0, the difference may be chance.
        </p>
        <p>
          The correlation (Pearson's r, −1 to 1) sets each evaluator's scores against the same technicians' KPI
          scorecard scores over the same periods, from the KPIs counted from jobs. Near 1: the evaluator's judgement
          follows the numbers; near 0: it does not (which may be fine: an evaluation also sees what the numbers
          cannot).
        </p>
      </details>
    </section>`;
  }

  private body(): TemplateResult | string {
    if (this.error && !fieldError(this.error, "start", "end")) return failed(this.error, () => void this.load());
    if (!this.answer) return this.busy ? loading("Comparing evaluators") : "";
    const answer = this.answer;
    if (!answer.evaluators.length) {
      return empty(answer.reason ?? "No evaluations to compare.", "Choose a longer range.");
    }
    return html`<p class="hint">
        ${formatCount(answer.evaluations)} evaluations with periods between ${formatDate(answer.start)} and
        ${formatDate(answer.end)}.
      </p>
      <div class="evaluators">${answer.evaluators.map((row) => this.evaluator(row))}</div>`;
  }

  private evaluator(row: EvaluatorCalibration): TemplateResult {
    const interval =
      row.leniency_low !== null && row.leniency_low !== undefined && row.leniency_high !== null && row.leniency_high !== undefined
        ? `${formatSigned(round1(row.leniency_low))} to ${formatSigned(round1(row.leniency_high))}`
        : "–";
    return html`<article class="card" data-evaluator=${row.evaluator_id} aria-labelledby="evaluator-${row.evaluator_id}">
      <h3 id="evaluator-${row.evaluator_id}">${row.evaluator}</h3>
      <p class="says" data-leniency>${leniencyWords(row)}</p>
      <p data-correlation>${correlationWords(row)}</p>
      <dl>
        <dt>Evaluations</dt>
        <dd>${formatCount(row.evaluations)} (of ${formatCount(row.technicians)} technician${row.technicians === 1 ? "" : "s"})</dd>
        <dt>Mean score</dt>
        <dd>${formatScore(row.mean_score)}</dd>
        <dt>Compared with others</dt>
        <dd>${formatCount(row.paired)}</dd>
        <dt>Their mean there / others'</dt>
        <dd>${formatScore(row.paired_mean)} / ${formatScore(row.others_mean)}</dd>
        <dt>Difference (95 % range)</dt>
        <dd>${formatSigned(row.leniency === null || row.leniency === undefined ? null : round1(row.leniency))} (${interval})</dd>
      </dl>
    </article>`;
  }
}

customElements.define("kpi-admin-calibration", AdminCalibration);
