// The evaluation form, built from the form fields every plugin declares (GET /api/v1/evaluations/form).
// The server validates and names every problem at once: each message is shown beside its field, and
// a summary on top (GOV.UK's error summary) links to each. Each filling of the form sends one
// Idempotency-Key, so a double click or a retry after a timeout saves one evaluation, not two.
// Beside the questions: the technician's KPI numbers for the period (read-only; the evaluation keeps
// them when submitted) and, where the technician appraised themselves for the same period, their own
// answer beside each question — side by side on a desktop, one under the other on a phone.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api, ApiError, request } from "../api";
import { catalog } from "../catalog";
import { addMonths, companyToday, isoDay } from "../filters";
import { formatDate, formatScore } from "../format";
import { shared } from "../styles";
import { failed, fieldError, loading } from "../components/states";
import { answerWords, answersOf, controlId, questionControl, questionStyles } from "../components/questions";
import { wide } from "../components/appraisal-numbers";
import type {
  AppraisalNumbers,
  Evaluation,
  EvaluationForm,
  FormField,
  Me,
  SelfAppraisal,
  SelfAppraisalSummary,
  Technician,
} from "../types";

const FORMULA_WORDS: Record<string, string> = {
  mean: "the mean of your score and the technician's self-appraisal",
  weighted: "your score and the technician's self-appraisal, weighted by the company's setting",
};

export class EvaluationPage extends LitElement {
  static styles = [
    shared,
    questionStyles,
    css`
      form {
        max-width: 48rem;
      }
      form.wide {
        max-width: 84rem;
      }
      /* Phone first: the numbers above the questions. On a wide screen the questions and the numbers
         sit side by side, and so do each question and the technician's own answer to it. */
      .layout {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
        align-items: start;
        margin-top: 1rem;
      }
      aside {
        border: 1px solid var(--border);
        border-radius: 8px;
        padding: 0.75rem;
        min-width: 0;
      }
      @media (min-width: 64rem) {
        .layout.with-numbers {
          grid-template-columns: minmax(0, 1fr) 21rem;
        }
        .layout.with-numbers aside {
          grid-column: 2;
          grid-row: 1;
          position: sticky;
          top: 0.5rem;
        }
      }
      .question {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 0.5rem 1rem;
        margin-bottom: 0.9rem;
      }
      .question > .field {
        margin-bottom: 0;
      }
      @media (min-width: 48rem) {
        .question.paired {
          grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        }
      }
      .theirs {
        border-left: 4px solid var(--border);
        padding: 0.25rem 0 0.25rem 0.75rem;
        background: var(--surface-2);
        border-radius: 0 6px 6px 0;
        min-width: 0;
        overflow-wrap: anywhere;
      }
      .theirs h4 {
        font-size: 0.9rem;
        margin: 0 0 0.2rem;
        color: var(--muted);
      }
      .self-summary {
        margin: 0 0 1rem;
      }
      .comment {
        white-space: pre-wrap;
      }
      .error-summary li {
        margin: 0.35rem 0;
      }
      .confirmation {
        border: 4px solid var(--green-ink, #166534);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        max-width: 48rem;
      }
      .confirmation h2 {
        margin-top: 0;
      }
      .row > .field {
        flex: 1 1 12rem;
      }
      .row select,
      .row input {
        width: 100%;
      }
      .row:last-child {
        margin-top: 0.5rem;
      }
      .row + .hint {
        margin: 0.75rem 0 1rem;
      }
    `,
  ];

  static properties = {
    params: { attribute: false },
    user: { attribute: false },
    form: { state: true },
    technicians: { state: true },
    problem: { state: true },
    error: { state: true },
    saved: { state: true },
    busy: { state: true },
    numbers: { state: true },
    selfAppraisal: { state: true },
  };
  declare params: URLSearchParams;
  declare user: Me;
  declare form: EvaluationForm | null;
  declare technicians: Technician[];
  declare problem: unknown;
  declare error: unknown;
  declare saved: Evaluation | null;
  declare busy: boolean;
  /** The technician's numbers for the chosen period (or why they could not be read). */
  declare numbers: { value?: AppraisalNumbers; error?: unknown } | null;
  /** The technician's submitted self-appraisal of exactly the chosen period, if any. */
  declare selfAppraisal: SelfAppraisal | null;
  /** The technician and period the numbers and the self-appraisal are of. */
  private chosen = "";
  /** One key per filling of the form: a second click or a retry sends the same one (see the API). */
  private key = newKey();
  private sending = false;

  constructor() {
    super();
    this.params = new URLSearchParams();
    this.form = null;
    this.technicians = [];
    this.problem = null;
    this.error = null;
    this.saved = null;
    this.busy = false;
    this.numbers = null;
    this.selfAppraisal = null;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      [this.form, this.technicians] = await Promise.all([
        api.get<EvaluationForm>("/api/v1/evaluations/form"),
        catalog.technicians(),
      ]);
    } catch (error) {
      this.problem = error;
      return;
    }
    await this.updateComplete;
    void this.readBeside();
  }

  /** The technician, first day and last day the form holds now. */
  private choice(): { technician: number; start: string; end: string } | null {
    const value = (id: string) => (this.renderRoot.querySelector(`#${id}`) as HTMLInputElement | null)?.value ?? "";
    const technician = Number(value("technician_id"));
    const start = value("period_start");
    const end = value("period_end");
    return technician && start && end && start <= end ? { technician, start, end } : null;
  }

  /** Read the numbers and the self-appraisal of the technician and period chosen (once per choice). */
  private async readBeside(): Promise<void> {
    const choice = this.choice();
    const key = choice ? `${choice.technician}:${choice.start}:${choice.end}` : "";
    if (key === this.chosen) return;
    this.chosen = key;
    this.numbers = null;
    this.selfAppraisal = null;
    if (!choice) return;
    const period = { period_start: choice.start, period_end: choice.end };
    const [numbers, self] = await Promise.allSettled([
      api.get<AppraisalNumbers>("/api/v1/evaluations/kpi-values", { technician: choice.technician, ...period }),
      api
        .get<SelfAppraisalSummary[]>("/api/v1/self-appraisals", { technician: choice.technician, ...period, status: "submitted" })
        .then((found) => (found.length ? api.get<SelfAppraisal>(`/api/v1/self-appraisals/${found[0].id}`) : null)),
    ]);
    if (this.chosen !== key) return; // another choice since
    this.numbers = numbers.status === "fulfilled" ? { value: numbers.value } : { error: numbers.reason };
    this.selfAppraisal = self.status === "fulfilled" ? self.value : null;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    // Disabled buttons stop a second click; this stops a second Enter before the re-render.
    if (this.sending) return;
    this.sending = this.busy = true;
    const submitter = event.submitter as HTMLButtonElement | null;
    const data = new FormData(event.target as HTMLFormElement);
    this.error = null;
    try {
      const answer = await request<Evaluation>("POST", "/api/v1/evaluations", {
        json: {
          technician_id: Number(data.get("technician_id")) || undefined,
          period_start: data.get("period_start") || undefined,
          period_end: data.get("period_end") || undefined,
          status: submitter?.value === "draft" ? "draft" : "submitted",
          answers: answersOf(this.form!.fields, data),
        },
        headers: { "Idempotency-Key": this.key },
      });
      this.saved = answer.data;
      this.key = newKey();
      await this.updateComplete;
      (this.renderRoot.querySelector("#saved") as HTMLElement | null)?.focus();
    } catch (error) {
      if (fieldError(error, "Idempotency-Key")) this.key = newKey(); // the first sending was saved: see the message
      this.error = error;
      await this.updateComplete;
      // GOV.UK's pattern: the summary of every problem takes the focus; each links to its field.
      (this.renderRoot.querySelector("#error-summary") as HTMLElement | null)?.focus();
    } finally {
      this.sending = this.busy = false;
    }
  }

  private another(): void {
    this.saved = null;
    this.error = null;
    this.key = newKey();
    this.chosen = "";
    void this.updateComplete.then(() => this.readBeside());
  }

  /** The fields the API named, in the order of the form, each with its message and its control's id. */
  private problems(): { path: string; message: string; target: string }[] {
    if (!(this.error instanceof ApiError)) return [];
    const fields = this.error.fields;
    const order: [string, string][] = [
      ["technician_id", "technician_id"],
      ["period_start", "period_start"],
      ["period_end", "period_end"],
      ...this.form!.fields.map((field): [string, string] => [`answers.${field.key}`, controlId(field)]),
    ];
    const known = new Set(order.map(([path]) => path));
    const listed = order.filter(([path]) => fields[path]).map(([path, target]) => ({ path, message: fields[path], target }));
    const others = Object.keys(fields)
      .filter((path) => !known.has(path))
      .map((path) => ({ path, message: this.otherMessage(path, fields[path]), target: "" }));
    return [...listed, ...others];
  }

  private otherMessage(path: string, message: string): string {
    if (path === "Idempotency-Key") {
      return "This evaluation was already saved when you first sent it. Check the technician's page before sending it again.";
    }
    return message;
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
      const message = this.error instanceof Error ? this.error.message : String(this.error);
      const lost = this.error instanceof ApiError && this.error.status === 0;
      return html`<div class="error-summary" id="error-summary" role="alert" tabindex="-1">
        <h2>${lost ? "The connection was lost" : "The evaluation was not saved"}</h2>
        <p>${message}</p>
        <p>
          ${lost ? "It may have been saved already. " : ""}Your answers are still here: send them again when you are
          ready. The evaluation will be saved once, however often you send it.
        </p>
      </div>`;
    }
    return html`<div class="error-summary" id="error-summary" role="alert" tabindex="-1" aria-labelledby="error-summary-title">
      <h2 id="error-summary-title">There ${problems.length === 1 ? "is a problem" : `are ${problems.length} problems`}</h2>
      <ul>
        ${problems.map(({ message, target }) =>
          target
            ? html`<li><a href="#${target}" @click=${(e: Event) => this.goTo(e, target)}>${message}</a></li>`
            : html`<li>${message}</li>`,
        )}
      </ul>
    </div>`;
  }

  private errorOf(...paths: string[]): TemplateResult | string {
    const message = fieldError(this.error, ...paths);
    return message ? html`<p class="field-error" id="error-${paths[0]}"><span class="visually-hidden">Error:</span> ${message}</p>` : "";
  }

  /** A question, with the technician's own answer to it beside it when they appraised themselves. */
  private field(field: FormField): TemplateResult {
    const invalid = !!fieldError(this.error, `answers.${field.key}`);
    const control = html`<div class="field ${invalid ? "invalid" : ""}" data-field=${field.key}>
      ${questionControl(field, this.error)}
    </div>`;
    const own = this.selfAppraisal;
    if (!own) return html`<div class="question">${control}</div>`;
    const asked = (own.form_snapshot ?? []).find((question) => question.key === field.key);
    const who = this.personName(own.technician_id);
    return html`<div class="question paired">
      ${control}
      <div class="theirs" data-self-answer=${field.key}>
        <h4>${who}'s own answer</h4>
        ${asked
          ? answerWords(asked, own.answers[field.key], { scale: false })
          : html`<span class="hint">Not asked of technicians</span>`}
      </div>
    </div>`;
  }

  private personName(id: number): string {
    return this.technicians.find((person) => person.id === id)?.name ?? "The technician";
  }

  private selfSummary(): TemplateResult | string {
    const own = this.selfAppraisal;
    if (!own) {
      return this.chosen
        ? html`<p class="hint self-summary">No self-appraisal of this period from the technician.</p>`
        : "";
    }
    const who = this.personName(own.technician_id);
    return html`<div class="self-summary" data-self-appraisal=${own.id}>
      <p>
        ${who} appraised themselves for this period: score
        <strong data-self-score=${own.score ?? ""}>${formatScore(own.score)}</strong> out of 100. Their answers are beside
        yours below.
      </p>
      ${own.comment ? html`<p>${who}'s comment: <span class="comment">${own.comment}</span></p>` : ""}
    </div>`;
  }

  private aside(): TemplateResult | string {
    if (!this.numbers) return this.chosen ? html`<aside>${loading("Loading the numbers")}</aside>` : "";
    if (this.numbers.error) return html`<aside>${failed(this.numbers.error)}</aside>`;
    return html`<aside aria-label="The technician's numbers">
      <kpi-appraisal-numbers .numbers=${this.numbers.value} ?folded=${!wide()}></kpi-appraisal-numbers>
    </aside>`;
  }

  private confirmation(saved: Evaluation): TemplateResult {
    const person = this.technicians.find((t) => t.id === saved.technician_id);
    const what = saved.status === "draft" ? "Draft saved" : "Evaluation submitted";
    return html`<div class="confirmation" id="saved" role="status" tabindex="-1">
      <h2>${what}</h2>
      <p>
        ${person ? `${person.name}, ` : ""}${formatDate(saved.period_start)} – ${formatDate(saved.period_end)}${saved.score !== null
          ? html`: score <strong data-score=${saved.score}>${formatScore(saved.score)}</strong> out of 100`
          : ""}.
        ${saved.status === "submitted" ? "The technician can now read it and acknowledge it." : ""}
      </p>
      ${saved.final_formula && saved.final_formula !== "manager_only" && saved.final_score !== null
        ? html`<p>
            Final score <strong data-final-score=${saved.final_score ?? ""}>${formatScore(saved.final_score)}</strong> out
            of 100: ${FORMULA_WORDS[saved.final_formula] ?? saved.final_formula}.
          </p>`
        : ""}
      <p class="row">
        <a class="button" href="/technicians/${saved.technician_id}">See the technician's page</a>
        <button class="secondary" @click=${this.another}>Evaluate another technician</button>
      </p>
    </div>`;
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.form) return loading("Loading the form");
    if (this.saved) return html`<h1>New evaluation</h1>${this.confirmation(this.saved)}`;
    const chosen = Number(this.params.get("technician")) || null;
    // The month before the company's current one (its time zone, not the browser's).
    const firstOfMonth = `${companyToday().slice(0, 7)}-01`;
    return html`<h1>New evaluation</h1>
      ${this.errorSummary()}
      <form class="card ${this.chosen ? "wide" : ""}" novalidate @submit=${this.submit} @change=${this.changed} aria-label="Evaluation"
        aria-busy=${this.busy}>
        <div class="row">
          <div class="field ${fieldError(this.error, "technician_id") ? "invalid" : ""}">
            <label for="technician_id">Technician</label>
            ${this.errorOf("technician_id")}
            <select id="technician_id" name="technician_id">
              <option value="">Choose…</option>
              ${this.technicians.map(
                (person) => html`<option value=${person.id} ?selected=${person.id === chosen}>${person.name}</option>`,
              )}
            </select>
          </div>
          <div class="field ${fieldError(this.error, "period_start") ? "invalid" : ""}">
            <label for="period_start">Period from</label>
            ${this.errorOf("period_start")}
            <input id="period_start" name="period_start" type="date" .value=${addMonths(firstOfMonth, -1)} />
          </div>
          <div class="field ${fieldError(this.error, "period_end") ? "invalid" : ""}">
            <label for="period_end">Period to</label>
            ${this.errorOf("period_end")}
            <input id="period_end" name="period_end" type="date" .value=${isoDay(new Date(Date.parse(firstOfMonth) - 86_400_000))} />
          </div>
        </div>
        <div class="layout ${this.chosen ? "with-numbers" : ""}">
          ${this.aside()}
          <div class="questions">
            <p class="hint">Questions marked “required to submit” may be left empty in a draft.</p>
            ${this.selfSummary()}
            ${this.form.fields.map((field) => this.field(field))}
            <div class="row">
              <button type="submit" value="submitted" ?disabled=${this.busy}>${this.busy ? "Sending…" : "Submit evaluation"}</button>
              <button type="submit" value="draft" class="secondary" ?disabled=${this.busy}>Save draft</button>
            </div>
          </div>
        </div>
      </form>`;
  }

  private changed(event: Event): void {
    const id = (event.target as HTMLElement | null)?.id;
    if (id === "technician_id" || id === "period_start" || id === "period_end") void this.readBeside();
  }
}

/** A random key (a UUID where the browser makes one: crypto.randomUUID needs a secure context). */
function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

customElements.define("kpi-evaluation-page", EvaluationPage);
