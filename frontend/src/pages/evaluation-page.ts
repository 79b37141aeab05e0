// The evaluation form, built from the form fields every plugin declares (GET /api/v1/evaluations/form).
// The server validates: its messages are shown at the fields they name (answers.<key>, period_end, ...).
import { LitElement, css, html, type TemplateResult } from "lit";
import { api } from "../api";
import { catalog } from "../catalog";
import { addMonths, isoDay } from "../filters";
import { shared } from "../styles";
import { failed, fieldError, loading } from "../components/states";
import type { Evaluation, FormField, Me, Technician } from "../types";

interface Form {
  version: string;
  fields: FormField[];
}

export class EvaluationPage extends LitElement {
  static styles = [
    shared,
    css`
      form {
        max-width: 48rem;
      }
      fieldset {
        border: 1px solid #d1d5db;
        border-radius: 8px;
        padding: 0.5rem 0.75rem;
        margin: 0;
      }
      legend {
        font-weight: 600;
        padding: 0 0.25rem;
      }
      .choices {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem 1rem;
      }
      .choices label {
        font-weight: 400;
        display: inline-flex;
        gap: 0.3rem;
        align-items: center;
        min-height: 2rem;
      }
      .plugin {
        color: #6b7280;
        font-weight: 400;
        font-size: 0.8rem;
      }
      textarea {
        width: 100%;
        min-height: 5rem;
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
  declare form: Form | null;
  declare technicians: Technician[];
  declare problem: unknown;
  declare error: unknown;
  declare saved: Evaluation | null;
  declare busy: boolean;

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
        api.get<Form>("/api/v1/evaluations/form"),
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
    const submitter = event.submitter as HTMLButtonElement | null;
    const data = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = null;
    this.saved = null;
    try {
      this.saved = await api.post<Evaluation>("/api/v1/evaluations", {
        technician_id: Number(data.get("technician_id")) || undefined,
        period_start: data.get("period_start") || undefined,
        period_end: data.get("period_end") || undefined,
        status: submitter?.value === "draft" ? "draft" : "submitted",
        answers: this.answers(data),
      });
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      // Take the reader to the first field the server named.
      (this.renderRoot.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea") as HTMLElement | null)?.focus();
    } finally {
      this.busy = false;
    }
  }

  private errorOf(...paths: string[]): TemplateResult | string {
    const message = fieldError(this.error, ...paths);
    return message ? html`<p class="field-error" id="error-${paths[0]}">${message}</p>` : "";
  }

  private field(field: FormField): TemplateResult {
    const name = `answer:${field.key}`;
    const path = `answers.${field.key}`;
    const invalid = !!fieldError(this.error, path);
    const describedBy = `${invalid ? `error-${path} ` : ""}help-${field.key}`;
    const required = field.required ? html`<span aria-hidden="true"> *</span>` : "";
    const legend = html`${field.label}${required} <span class="plugin">(${field.plugin})</span>`;
    let control: TemplateResult;
    switch (field.type) {
      case "rating":
        control = html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
          <legend>${legend}</legend>
          <div class="choices">
            ${[1, 2, 3, 4, 5].map(
              (value) => html`<label><input type="radio" name=${name} value=${value} />${value}</label>`,
            )}
          </div>
        </fieldset>`;
        break;
      case "yes_no":
        control = html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
          <legend>${legend}</legend>
          <div class="choices">
            <label><input type="radio" name=${name} value="yes" />Yes</label>
            <label><input type="radio" name=${name} value="no" />No</label>
          </div>
        </fieldset>`;
        break;
      case "choice":
        control = html`<label for=${name}>${legend}</label>
          <select id=${name} name=${name} aria-describedby=${describedBy} aria-invalid=${invalid}>
            <option value="">Choose…</option>
            ${(field.choices ?? []).map((choice) => html`<option value=${choice}>${choice}</option>`)}
          </select>`;
        break;
      case "number":
        control = html`<label for=${name}>${legend}</label>
          <input id=${name} name=${name} type="number" step="any" min=${field.minimum ?? ""} max=${field.maximum ?? ""}
            aria-describedby=${describedBy} aria-invalid=${invalid} />`;
        break;
      default:
        control = html`<label for=${name}>${legend}</label>
          <textarea id=${name} name=${name} aria-describedby=${describedBy} aria-invalid=${invalid}></textarea>`;
    }
    return html`<div class="field ${invalid ? "invalid" : ""}" data-field=${field.key}>
      ${control}
      <p class="hint" id="help-${field.key}">${field.help_text ?? ""}</p>
      ${this.errorOf(path)}
    </div>`;
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.form) return loading("Loading the form");
    const chosen = Number(this.params.get("technician")) || null;
    const today = new Date();
    const firstOfMonth = isoDay(new Date(Date.UTC(today.getFullYear(), today.getMonth(), 1)));
    return html`<h1>New evaluation</h1>
      ${this.saved
        ? html`<p class="state" role="status">
            Evaluation ${this.saved.status}${this.saved.score !== null ? ` with a score of ${this.saved.score}` : ""}.
            <a href="/technicians/${this.saved.technician_id}">See the technician's page</a>
          </p>`
        : ""}
      ${this.error instanceof Error
        ? html`<div class="state error" role="alert">Not saved: ${this.error.message}</div>`
        : ""}
      <form class="card" novalidate @submit=${this.submit} aria-label="Evaluation">
        <div class="row">
          <div class="field ${fieldError(this.error, "technician_id") ? "invalid" : ""}">
            <label for="technician_id">Technician</label>
            <select id="technician_id" name="technician_id">
              <option value="">Choose…</option>
              ${this.technicians.map(
                (person) => html`<option value=${person.id} ?selected=${person.id === chosen}>${person.name}</option>`,
              )}
            </select>
            ${this.errorOf("technician_id")}
          </div>
          <div class="field ${fieldError(this.error, "period_start") ? "invalid" : ""}">
            <label for="period_start">Period from</label>
            <input id="period_start" name="period_start" type="date" .value=${addMonths(firstOfMonth, -1)} />
            ${this.errorOf("period_start")}
          </div>
          <div class="field ${fieldError(this.error, "period_end") ? "invalid" : ""}">
            <label for="period_end">Period to</label>
            <input id="period_end" name="period_end" type="date" .value=${isoDay(new Date(Date.parse(firstOfMonth) - 86_400_000))} />
            ${this.errorOf("period_end")}
          </div>
        </div>
        <p class="hint">Fields marked * are required to submit; a draft may leave them empty. Form version ${this.form.version}.</p>
        ${this.form.fields.map((field) => this.field(field))}
        <div class="row">
          <button type="submit" value="submitted" ?disabled=${this.busy}>Submit evaluation</button>
          <button type="submit" value="draft" class="secondary" ?disabled=${this.busy}>Save draft</button>
        </div>
      </form>`;
  }
}

customElements.define("kpi-evaluation-page", EvaluationPage);
