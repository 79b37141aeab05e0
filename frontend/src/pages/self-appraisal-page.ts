// /self-appraisal: a technician answers the evaluation's questions about themselves for a month
// (GET /api/v1/self-appraisals/form: the questions asked of technicians), beside their own numbers for
// it. A draft can be saved and finished later; once submitted it is final, and their manager sees it
// beside their own answers when evaluating the same month. Errors follow GOV.UK's pattern: a summary
// on top linking to each field, each message beside its field.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api, ApiError, request } from "../api";
import { addMonths, companyToday, isoDay } from "../filters";
import { formatDate, formatPeriod, formatScore, formatStamp } from "../format";
import { shared } from "../styles";
import { answerWords, answersOf, controlId, questionControl, questionStyles } from "../components/questions";
import { failed, fieldError, loading } from "../components/states";
import { wide } from "../components/appraisal-numbers";
import type { AppraisalNumbers, EvaluationForm, Me, SelfAppraisal, SelfAppraisalSummary } from "../types";

const MONTHS_OFFERED = 12;
const SELF = "/api/v1/self-appraisals";

interface Period {
  start: string;
  end: string;
  current: boolean;
}

export class SelfAppraisalPage extends LitElement {
  static styles = [
    shared,
    questionStyles,
    css`
      .layout {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
        align-items: start;
        max-width: 84rem;
      }
      @media (min-width: 64rem) {
        .layout {
          grid-template-columns: minmax(0, 1fr) 21rem;
        }
        .layout aside {
          grid-column: 2;
          grid-row: 1;
          position: sticky;
          top: 0.5rem;
        }
      }
      aside,
      .card {
        min-width: 0;
      }
      .confirmation {
        border: 4px solid var(--green-ink);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin-bottom: 1rem;
      }
      .confirmation h2 {
        margin-top: 0;
      }
      dl {
        margin: 0;
        display: grid;
        gap: 0.5rem;
      }
      dl > div {
        border-bottom: 1px solid var(--border);
        padding-bottom: 0.4rem;
      }
      dt {
        font-weight: 600;
      }
      dd {
        margin: 0.1rem 0 0;
        overflow-wrap: anywhere;
      }
      .comment {
        white-space: pre-wrap;
      }
      #period {
        width: 100%;
        max-width: 20rem;
      }
    `,
  ];

  static properties = {
    user: { attribute: false },
    form: { state: true },
    problem: { state: true },
    period: { state: true },
    mine: { state: true },
    numbers: { state: true },
    error: { state: true },
    busy: { state: true },
    notice: { state: true },
  };
  declare user: Me;
  declare form: EvaluationForm | null;
  declare problem: unknown;
  declare period: Period;
  /** The self-appraisal of the period (undefined while reading it, null: none yet). */
  declare mine: SelfAppraisal | null | undefined;
  declare numbers: { value?: AppraisalNumbers; error?: unknown } | null;
  declare error: unknown;
  declare busy: boolean;
  declare notice: string;
  private etag = "";

  constructor() {
    super();
    this.form = null;
    this.problem = null;
    this.period = months()[1]; // the last whole month
    this.mine = undefined;
    this.numbers = null;
    this.error = null;
    this.busy = false;
    this.notice = "";
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      this.form = await api.get<EvaluationForm>(`${SELF}/form`);
    } catch (error) {
      this.problem = error;
      return;
    }
    await this.readPeriod();
  }

  /** The self-appraisal and the numbers of the period chosen. */
  private async readPeriod(): Promise<void> {
    const period = this.period;
    const query = { period_start: period.start, period_end: period.end };
    this.mine = undefined;
    this.numbers = null;
    this.error = null;
    const technician = this.user.technician_id;
    const [found, numbers] = await Promise.allSettled([
      api.get<SelfAppraisalSummary[]>(SELF, query).then(async (listed) => {
        if (!listed.length) return null;
        const answer = await request<SelfAppraisal>("GET", `${SELF}/${listed[0].id}`);
        this.etag = answer.headers.get("ETag") ?? "";
        return answer.data;
      }),
      api.get<AppraisalNumbers>("/api/v1/evaluations/kpi-values", { technician: technician ?? 0, ...query }),
    ]);
    if (this.period !== period) return; // another period chosen since
    if (found.status === "rejected") this.problem = found.reason;
    else this.mine = found.value;
    this.numbers = numbers.status === "fulfilled" ? { value: numbers.value } : { error: numbers.reason };
  }

  private choose(event: Event): void {
    const value = (event.target as HTMLSelectElement).value;
    this.period = months().find((period) => period.start === value) ?? this.period;
    this.notice = "";
    void this.readPeriod();
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy) return;
    const submitter = event.submitter as HTMLButtonElement | null;
    const data = new FormData(event.target as HTMLFormElement);
    const status = submitter?.value === "draft" ? "draft" : "submitted";
    const body = {
      answers: answersOf(this.questions(), data),
      comment: String(data.get("comment") ?? "").trim() || null,
      status,
    };
    this.busy = true;
    this.error = null;
    try {
      let answer;
      if (this.mine) {
        answer = await request<SelfAppraisal>("PATCH", `${SELF}/${this.mine.id}`, {
          json: body,
          headers: { "If-Match": this.etag },
        });
      } else {
        answer = await request<SelfAppraisal>("POST", SELF, {
          json: { ...body, period_start: this.period.start, period_end: this.period.end },
        });
      }
      this.mine = answer.data;
      this.etag = answer.headers.get("ETag") ?? "";
      this.notice = status === "draft" ? "Draft saved. You can finish it later." : "Self-appraisal submitted.";
      await this.updateComplete;
      (this.renderRoot.querySelector("#saved") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      (this.renderRoot.querySelector("#error-summary") as HTMLElement | null)?.focus();
    } finally {
      this.busy = false;
    }
  }

  /** The questions to answer: a draft's own form, else today's. */
  private questions() {
    return this.mine?.form_snapshot ?? this.form?.fields ?? [];
  }

  private problems(): { message: string; target: string }[] {
    if (!(this.error instanceof ApiError)) return [];
    const fields = this.error.fields;
    const order: [string, string][] = [
      ["period_start", "period"],
      ["period_end", "period"],
      ...this.questions().map((field): [string, string] => [`answers.${field.key}`, controlId(field)]),
      ["comment", "comment"],
    ];
    const known = new Set(order.map(([path]) => path));
    return [
      ...order.filter(([path]) => fields[path]).map(([path, target]) => ({ message: fields[path], target })),
      ...Object.keys(fields)
        .filter((path) => !known.has(path))
        .map((path) => ({ message: fields[path], target: "" })),
    ];
  }

  private goTo(event: Event, target: string): void {
    event.preventDefault();
    const control = this.renderRoot.querySelector<HTMLElement>(`[id="${target}"]`);
    control?.scrollIntoView({ block: "center" });
    control?.focus();
  }

  private errorSummary(): TemplateResult | string {
    if (!this.error) return "";
    const problems = this.problems();
    if (!problems.length) {
      return html`<div class="error-summary" id="error-summary" role="alert" tabindex="-1">
        <h2>Your self-appraisal was not saved</h2>
        <p>${this.error instanceof Error ? this.error.message : String(this.error)}</p>
        <p>Your answers are still here: send them again when you are ready.</p>
      </div>`;
    }
    return html`<div class="error-summary" id="error-summary" role="alert" tabindex="-1" aria-labelledby="error-title">
      <h2 id="error-title">There ${problems.length === 1 ? "is a problem" : `are ${problems.length} problems`}</h2>
      <ul>
        ${problems.map(({ message, target }) =>
          target
            ? html`<li><a href="#${target}" @click=${(e: Event) => this.goTo(e, target)}>${message}</a></li>`
            : html`<li>${message}</li>`,
        )}
      </ul>
    </div>`;
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => void this.load());
    if (!this.form) return loading("Loading the questions");
    const periodError = fieldError(this.error, "period_end", "period_start");
    return html`<h1>Your self-appraisal</h1>
      <p>
        Answer the questions your manager answers about you, for a month of your work. Your manager sees your answers
        beside theirs when they evaluate you for the same month.
      </p>
      ${this.errorSummary()}
      <div class="field ${periodError ? "invalid" : ""}">
        <label for="period">Month</label>
        ${periodError ? html`<p class="field-error" id="error-period"><span class="visually-hidden">Error:</span> ${periodError}</p>` : ""}
        <select id="period" @change=${this.choose} aria-describedby=${periodError ? "error-period" : ""}>
          ${months().map(
            (period) => html`<option value=${period.start} ?selected=${period.start === this.period.start}>
              ${formatPeriod(period.start, "month")}${period.current ? " (not over yet)" : ""}
            </option>`,
          )}
        </select>
      </div>
      <div class="layout">
        ${this.aside()}
        <div class="card">${this.body()}</div>
      </div>`;
  }

  private aside(): TemplateResult {
    if (!this.numbers) return html`<aside class="card">${loading("Loading your numbers")}</aside>`;
    if (this.numbers.error) return html`<aside class="card">${failed(this.numbers.error)}</aside>`;
    return html`<aside class="card" aria-label="Your numbers">
      <kpi-appraisal-numbers .numbers=${this.numbers.value} heading="Your numbers" ?folded=${!wide()}></kpi-appraisal-numbers>
    </aside>`;
  }

  private body(): TemplateResult {
    if (this.mine === undefined) return loading("Loading your self-appraisal");
    const mine = this.mine;
    const period = `${formatDate(this.period.start)} – ${formatDate(this.period.end)}`;
    if (mine?.status === "submitted") return this.submitted(mine, period);
    return html`${this.notice
        ? html`<div class="confirmation" id="saved" role="status" tabindex="-1"><h2>${this.notice}</h2></div>`
        : ""}
      <form novalidate @submit=${this.submit} aria-label="Self-appraisal" aria-busy=${this.busy}>
        <h2>${mine ? "Your draft" : "Your answers"} for ${period}</h2>
        <p class="hint">Questions marked “required to submit” may be left empty in a draft.</p>
        ${this.questions().map((field) => {
          const invalid = !!fieldError(this.error, `answers.${field.key}`);
          return html`<div class="field ${invalid ? "invalid" : ""}" data-field=${field.key}>
            ${questionControl(field, this.error, mine?.answers[field.key])}
          </div>`;
        })}
        <div class="field ${fieldError(this.error, "comment") ? "invalid" : ""}">
          <label for="comment">Your comment (optional)</label>
          <p class="hint" id="comment-hint">Anything you want your manager to know about the month, in your own words.</p>
          <textarea id="comment" name="comment" maxlength="2000" aria-describedby="comment-hint" .value=${mine?.comment ?? ""}></textarea>
        </div>
        <div class="row">
          <button type="submit" value="submitted" ?disabled=${this.busy}>${this.busy ? "Sending…" : "Submit self-appraisal"}</button>
          <button type="submit" value="draft" class="secondary" ?disabled=${this.busy}>Save draft</button>
        </div>
      </form>`;
  }

  private submitted(mine: SelfAppraisal, period: string): TemplateResult {
    return html`${this.notice
        ? html`<div class="confirmation" id="saved" role="status" tabindex="-1">
            <h2>${this.notice}</h2>
            <p>Your manager can now read it beside their own answers.</p>
          </div>`
        : ""}
      <h2>Your self-appraisal for ${period}</h2>
      <p>
        Submitted ${formatStamp(mine.submitted_at)}: score <strong data-score=${mine.score ?? ""}>${formatScore(mine.score)}</strong>
        out of 100. It is final.
      </p>
      <dl>
        ${(mine.form_snapshot ?? []).map(
          (question) => html`<div data-answer=${question.key}>
            <dt>${question.label}</dt>
            <dd>${answerWords(question, mine.answers[question.key])}</dd>
          </div>`,
        )}
        ${mine.comment
          ? html`<div>
              <dt>Your comment</dt>
              <dd class="comment">${mine.comment}</dd>
            </div>`
          : ""}
      </dl>`;
  }
}

/** The months offered, newest first: the month under way, then the last twelve whole months. */
function months(): Period[] {
  const first = `${companyToday().slice(0, 7)}-01`;
  const offered: Period[] = [];
  for (let back = 0; back <= MONTHS_OFFERED; back++) {
    const start = addMonths(first, -back);
    offered.push({ start, end: lastDay(start), current: back === 0 });
  }
  return offered;
}

function lastDay(start: string): string {
  return isoDay(new Date(Date.parse(`${addMonths(start, 1)}T00:00:00Z`) - 86_400_000));
}

customElements.define("kpi-self-appraisal-page", SelfAppraisalPage);
