// The evaluation form, built from the form fields every plugin declares (GET /api/v1/evaluations/form).
// The server validates and names every problem at once: each message is shown beside its field, and
// a summary on top (GOV.UK's error summary) links to each. Each filling of the form sends one
// Idempotency-Key, so a double click or a retry after a timeout saves one evaluation, not two.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api, ApiError, request } from "../api";
import { catalog } from "../catalog";
import { addMonths, isoDay } from "../filters";
import { formatDate, formatNumber, formatScore } from "../format";
import { shared } from "../styles";
import { failed, fieldError, loading } from "../components/states";
import type { Evaluation, EvaluationForm, FormField, Me, Technician } from "../types";

export class EvaluationPage extends LitElement {
  static styles = [
    shared,
    css`
      form {
        max-width: 48rem;
      }
      /* A question with choices reads like any other field: its legend above, no frame. */
      fieldset {
        border: 0;
        padding: 0;
        margin: 0;
        min-width: 0;
      }
      legend {
        font-weight: 600;
        padding: 0;
        margin-bottom: 0.35rem;
      }
      .choices {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
      }
      /* Each choice is a tile of at least 44 px: the whole tile is the radio button's target.
         The five points of a rating share one line, even on a phone. */
      .choices label {
        flex: 1 1 0;
        max-width: 5.5rem;
        font-weight: 400;
        display: inline-flex;
        gap: 0.4rem;
        align-items: center;
        justify-content: center;
        min-height: var(--target);
        min-width: var(--target);
        padding: 0.25rem 0.5rem;
        border: 1px solid var(--control-border);
        border-radius: 8px;
        background: var(--control-bg);
        cursor: pointer;
      }
      .choices label:has(input:checked) {
        border-color: var(--accent);
        box-shadow: inset 0 0 0 1px var(--accent);
        background: var(--selected-bg);
        font-weight: 600;
      }
      .choices label:has(input:focus-visible) {
        outline: 3px solid var(--focus);
        outline-offset: 2px;
      }
      .required {
        color: var(--muted);
        font-weight: 400;
        font-size: 0.9rem;
      }
      /* What the ends of a rating scale mean, above its buttons (and to screen readers at 1 and 5). */
      .scale {
        color: var(--muted);
        font-size: 0.9rem;
        margin: 0.2rem 0 0.4rem;
      }
      .error-summary {
        border: 4px solid var(--red-ink, #b91c1c);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin-bottom: 1rem;
        background: var(--surface, #fff);
      }
      .error-summary h2 {
        margin-top: 0;
      }
      .error-summary ul {
        margin: 0;
        padding-left: 1.25rem;
      }
      .error-summary li {
        margin: 0.35rem 0;
      }
      .error-summary a {
        color: var(--red-ink, #b91c1c);
        font-weight: 600;
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
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
      textarea {
        width: 100%;
        min-height: 5rem;
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
  };
  declare params: URLSearchParams;
  declare user: Me;
  declare form: EvaluationForm | null;
  declare technicians: Technician[];
  declare problem: unknown;
  declare error: unknown;
  declare saved: Evaluation | null;
  declare busy: boolean;
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
    }
  }

  private answers(data: FormData): Record<string, unknown> {
    const answers: Record<string, unknown> = {};
    for (const field of this.form!.fields) {
      const raw = data.get(`answer:${field.key}`);
      if (raw === null || raw === "") continue;
      if (field.type === "rating" || field.type === "number") answers[field.key] = Number(raw);
      else if (field.type === "yes_no") answers[field.key] = raw === "yes";
      else answers[field.key] = String(raw);
    }
    return answers;
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
          answers: this.answers(data),
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

  private field(field: FormField): TemplateResult {
    const name = `answer:${field.key}`;
    const path = `answers.${field.key}`;
    const invalid = !!fieldError(this.error, path);
    const [low, high] = field.scale_labels ?? [];
    const scaled = !!(low && high);
    const describedBy = [invalid ? `error-${path}` : "", field.help_text ? `help-${field.key}` : "", scaled ? `scale-${field.key}` : ""]
      .filter(Boolean)
      .join(" ");
    const required = field.required ? html`<span class="required">(required to submit)</span>` : "";
    const legend = html`${field.label} ${required}`;
    const hint = field.help_text ? html`<p class="hint" id="help-${field.key}">${field.help_text}</p>` : "";
    let control: TemplateResult;
    switch (field.type) {
      case "rating":
        control = html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
          <legend>${legend}</legend>
          ${hint}
          ${this.errorOf(path)}
          ${scaled ? html`<p class="scale" id="scale-${field.key}">1 = ${low}, 5 = ${high}</p>` : ""}
          <div class="choices rating">
            ${[1, 2, 3, 4, 5].map(
              (value) => html`<label
                ><input type="radio" id="${name}-${value}" name=${name} value=${value} />${value}${scaled && value === 1
                  ? html`<span class="visually-hidden">(${low})</span>`
                  : scaled && value === 5
                    ? html`<span class="visually-hidden">(${high})</span>`
                    : ""}</label
              >`,
            )}
          </div>
        </fieldset>`;
        break;
      case "yes_no":
        control = html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
          <legend>${legend}</legend>
          ${hint}
          ${this.errorOf(path)}
          <div class="choices">
            <label><input type="radio" id="${name}-yes" name=${name} value="yes" />Yes</label>
            <label><input type="radio" id="${name}-no" name=${name} value="no" />No</label>
          </div>
        </fieldset>`;
        break;
      case "choice":
        control = html`<label for=${name}>${legend}</label>
          ${hint}
          ${this.errorOf(path)}
          <select id=${name} name=${name} aria-describedby=${describedBy} aria-invalid=${invalid}>
            <option value="">Choose…</option>
            ${(field.choices ?? []).map((choice) => html`<option value=${choice}>${choice}</option>`)}
          </select>`;
        break;
      case "number":
        control = html`<label for=${name}>${legend}</label>
          ${hint}
          ${this.errorOf(path)}
          ${scaled
            ? html`<p class="scale" id="scale-${field.key}">
                ${formatNumber(field.minimum)} = ${low}, ${formatNumber(field.maximum)} = ${high}
              </p>`
            : ""}
          <input id=${name} name=${name} type="number" step="any" inputmode="decimal" min=${field.minimum ?? ""}
            max=${field.maximum ?? ""} aria-describedby=${describedBy} aria-invalid=${invalid} />`;
        break;
      default:
        control = html`<label for=${name}>${legend}</label>
          ${hint}
          ${this.errorOf(path)}
          <textarea id=${name} name=${name} maxlength="2000" aria-describedby=${describedBy} aria-invalid=${invalid}></textarea>`;
    }
    return html`<div class="field ${invalid ? "invalid" : ""}" data-field=${field.key}>${control}</div>`;
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
    const today = new Date();
    const firstOfMonth = isoDay(new Date(Date.UTC(today.getFullYear(), today.getMonth(), 1)));
    return html`<h1>New evaluation</h1>
      ${this.errorSummary()}
      <form class="card" novalidate @submit=${this.submit} aria-label="Evaluation" aria-busy=${this.busy}>
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
        <p class="hint">Questions marked “required to submit” may be left empty in a draft.</p>
        ${this.form.fields.map((field) => this.field(field))}
        <div class="row">
          <button type="submit" value="submitted" ?disabled=${this.busy}>${this.busy ? "Sending…" : "Submit evaluation"}</button>
          <button type="submit" value="draft" class="secondary" ?disabled=${this.busy}>Save draft</button>
        </div>
      </form>`;
  }
}

/** The id of the control a field's error links to: its input, or the first of its radio buttons. */
function controlId(field: FormField): string {
  const name = `answer:${field.key}`;
  if (field.type === "rating") return `${name}-1`;
  if (field.type === "yes_no") return `${name}-yes`;
  return name;
}

/** A random key (a UUID where the browser makes one: crypto.randomUUID needs a secure context). */
function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

customElements.define("kpi-evaluation-page", EvaluationPage);
