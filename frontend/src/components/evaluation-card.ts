// <kpi-evaluation-card>: one evaluation as its technician reads it — every answer in the words of
// the form it was made on (GET /api/v1/evaluations/{id} keeps that form), the comments, the score,
// the final score with the self-appraisal, and the KPI numbers the evaluator was shown — and, for the
// technician's own submitted evaluation, the acknowledgement below all of it.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api } from "../api";
import { formatDate, formatScore, formatStamp } from "../format";
import { shared } from "../styles";
import { answerWords } from "./questions";
import { failed, loading } from "./states";
import "./appraisal-numbers";
import type { Evaluation } from "../types";

const FORMULA_WORDS: Record<string, (weight: number | null | undefined) => string> = {
  mean: () => "the mean of the evaluator's score and the self-appraisal's",
  weighted: (weight) =>
    `the evaluator's score and the self-appraisal's, the self-appraisal counting for ${formatScore((weight ?? 0) * 100)} %`,
};

const STATUS_WORDS: Record<string, string> = {
  draft: "Draft",
  submitted: "Submitted",
  acknowledged: "Acknowledged",
};

export class EvaluationCard extends LitElement {
  static styles = [
    shared,
    css`
      article {
        border: 1px solid var(--border, #e5e7eb);
        border-radius: 8px;
        padding: 0.75rem;
      }
      h3 {
        margin: 0 0 0.25rem;
      }
      .summary {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem 1rem;
        align-items: baseline;
        margin: 0 0 0.5rem;
      }
      .score {
        font-size: 1.5rem;
        font-weight: 700;
        font-variant-numeric: tabular-nums;
      }
      details > summary {
        cursor: pointer;
        min-height: var(--target, 44px);
        display: flex;
        align-items: center;
        font-weight: 600;
        color: var(--link, #1d4ed8);
      }
      dl {
        margin: 0.25rem 0 0.75rem;
        display: grid;
        gap: 0.5rem;
      }
      dl > div {
        border-bottom: 1px solid var(--border, #e5e7eb);
        padding-bottom: 0.4rem;
      }
      dt {
        font-weight: 600;
      }
      dd {
        margin: 0.1rem 0 0;
        overflow-wrap: anywhere;
      }
      .scale {
        color: var(--muted, #4b5563);
        font-size: 0.9rem;
      }
      .comment {
        white-space: pre-wrap;
      }
      form {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: end;
      }
      form > div {
        flex: 1 1 14rem;
      }
      form input {
        width: 100%;
      }
      details.numbers {
        margin: 0 0 0.75rem;
      }
    `,
  ];

  static properties = {
    evaluation: { attribute: false },
    own: { type: Boolean },
    folded: { type: Boolean },
    full: { state: true },
    busy: { state: true },
    error: { state: true },
  };
  declare evaluation: Evaluation;
  /** The reader is the evaluated technician: a submitted evaluation can be acknowledged. */
  declare own: boolean;
  /** Waiting, but under another that waits: shown closed, so a phone's page stays short; read on opening. */
  declare folded: boolean;
  declare full: { value?: Evaluation; error?: unknown } | null;
  declare busy: boolean;
  declare error: unknown;

  constructor() {
    super();
    this.own = false;
    this.folded = false;
    this.full = null;
    this.busy = false;
    this.error = null;
  }

  /** The score the evaluation ends with: the final score where the self-appraisal counts in it. */
  private get headline(): number | null | undefined {
    const evaluation = this.evaluation;
    const combined = evaluation.final_formula === "mean" || evaluation.final_formula === "weighted";
    return combined ? evaluation.final_score : evaluation.score;
  }

  /** Waiting for the reader's acknowledgement: shown open, read in full before the button. */
  private get pending(): boolean {
    return this.own && this.evaluation.status === "submitted";
  }

  private get shownOpen(): boolean {
    return this.pending && !this.folded;
  }

  protected willUpdate(changed: PropertyValues): void {
    // Another evaluation in this card: what was read of the previous one is not this one's.
    const before = changed.get("evaluation") as Evaluation | undefined;
    if (before && before.id !== this.evaluation.id) this.full = null;
    if (changed.has("evaluation") && this.pending && !this.folded && !this.full) void this.read();
  }

  private reading: number | null = null;

  /** The evaluation with the form it was made on (listings leave the form out), once per evaluation. */
  private async read(): Promise<void> {
    const id = this.evaluation.id;
    if (this.full?.value?.id === id || this.reading === id) return;
    this.reading = id;
    this.full = null;
    try {
      const value = await api.get<Evaluation>(`/api/v1/evaluations/${id}`);
      if (this.evaluation.id === id) this.full = { value };
    } catch (error) {
      if (this.evaluation.id === id) this.full = { error };
    } finally {
      if (this.reading === id) this.reading = null;
    }
  }

  private async acknowledge(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy) return;
    const comment = String(new FormData(event.target as HTMLFormElement).get("comment") || "").trim() || null;
    this.busy = true;
    this.error = null;
    try {
      const done = await api.post<Evaluation>(`/api/v1/evaluations/${this.evaluation.id}/acknowledge`, { comment });
      this.evaluation = done;
      this.dispatchEvent(new CustomEvent("acknowledged", { detail: done, bubbles: true, composed: true }));
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
    }
  }

  render(): TemplateResult {
    const evaluation = this.evaluation;
    const period = `${formatDate(evaluation.period_start)} – ${formatDate(evaluation.period_end)}`;
    const status = this.pending ? "Waiting for your acknowledgement" : (STATUS_WORDS[evaluation.status] ?? evaluation.status);
    return html`<article data-evaluation=${evaluation.id} aria-labelledby="title-${evaluation.id}">
      <h3 id="title-${evaluation.id}">Evaluation of ${period}</h3>
      <p class="summary">
        <span><span class="score" data-score=${evaluation.score ?? ""}>${formatScore(this.headline)}</span> / 100</span>
        ${this.headline !== evaluation.score ? html`<span class="hint">Final score, with the self-appraisal</span>` : ""}
        <span class="badge">${status}</span>
        ${evaluation.submitted_at ? html`<span class="hint">Submitted ${formatStamp(evaluation.submitted_at)}</span>` : ""}
        ${evaluation.revision > 1 ? html`<span class="hint">Revision ${evaluation.revision}</span>` : ""}
      </p>
      <details ?open=${this.shownOpen} @toggle=${(e: Event) => (e.target as HTMLDetailsElement).open && this.read()}>
        <summary>${this.shownOpen ? "The evaluation" : "Read the evaluation"}</summary>
        ${this.answers()}
      </details>
      ${this.acknowledgement()}
    </article>`;
  }

  private answers(): TemplateResult {
    if (!this.full) return loading("Loading the evaluation");
    if (this.full.error) return failed(this.full.error, () => void this.read());
    const full = this.full.value!;
    const questions = full.form_snapshot ?? [];
    return html`<dl class="answers">
      ${questions.map(
        (question) => html`<div data-answer=${question.key}>
          <dt>${question.label}</dt>
          <dd>${answerWords(question, full.answers[question.key])}</dd>
        </div>`,
      )}
      <div>
        <dt>Score</dt>
        <dd><strong>${formatScore(full.score)}</strong> out of 100: the weighted mean of the answers above</dd>
      </div>
      ${this.finalScore(full)}
    </dl>
    ${full.kpi_snapshot
      ? html`<details class="numbers">
          <summary>The numbers the evaluator saw</summary>
          <kpi-appraisal-numbers .numbers=${full.kpi_snapshot} kept></kpi-appraisal-numbers>
        </details>`
      : ""}`;
  }

  private finalScore(full: Evaluation): TemplateResult | string {
    const words = full.final_formula ? FORMULA_WORDS[full.final_formula] : undefined;
    if (!words || full.final_score === null || full.final_score === undefined) return "";
    return html`<div data-final>
      <dt>Final score</dt>
      <dd>
        <strong>${formatScore(full.final_score)}</strong> out of 100: ${words(full.self_weight)} (self-appraisal
        ${formatScore(full.self_score)})
      </dd>
    </div>`;
  }

  private acknowledgement(): TemplateResult | string {
    const evaluation = this.evaluation;
    if (evaluation.status === "acknowledged") {
      return html`<p class="hint">
        Acknowledged ${formatStamp(evaluation.acknowledged_at)}${evaluation.technician_comment
          ? html`, with the comment: <span class="comment">${evaluation.technician_comment}</span>`
          : ""}
      </p>`;
    }
    if (!this.pending) return "";
    if (!this.full) return html`<p class="hint" data-read-first>Read the evaluation to acknowledge it.</p>`;
    const id = evaluation.id;
    return html`${this.error ? failed(this.error) : ""}
      <form @submit=${this.acknowledge} aria-label="Acknowledge this evaluation">
        <div>
          <label for="comment-${id}">Your comment (optional)</label>
          <input id="comment-${id}" name="comment" maxlength="2000" aria-describedby="ack-hint-${id}" />
          <p class="hint" id="ack-hint-${id}">Acknowledging says you have read it, not that you agree.</p>
        </div>
        <button type="submit" ?disabled=${this.busy || !this.full?.value}>Acknowledge</button>
      </form>`;
  }
}

customElements.define("kpi-evaluation-card", EvaluationCard);
