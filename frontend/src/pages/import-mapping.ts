// Importing another system's export: choose the file, see its columns with sample values, check the
// mapping proposed from their names (or start from a preset or a saved mapping), preview the first rows
// as they would be imported with their problems, then import. Nothing is written before "Import".

import { LitElement, css, html, type TemplateResult } from "lit";
import { rowErrorsTable } from "../components/row-errors";
import { api, ApiError, request } from "../api";
import { JOB_STATUSES, formatCount, formatJobStatus, formatStamp } from "../format";
import { shared } from "../styles";
import type {
  ImportColumn,
  ImportFieldRule,
  ImportFileDescription,
  ImportMapping,
  ImportPreset,
  ImportPreview,
  ImportResult,
  SavedImportMapping,
} from "../types";

type Kind = "" | "column" | "fixed" | "value_map" | "date_time" | "minus_minutes";
/** One field's rule as the form edits it (what the API calls kind, column, value, values, time_column, base). */
interface Draft {
  how: Kind;
  source: string;
  fixed: string;
  words: [string, string][];
  clock: string;
  from: string;
}

const KINDS: [Kind, string][] = [
  ["", "Not in the file"],
  ["column", "From a column"],
  ["fixed", "The same on every row"],
  ["value_map", "From a column, with its words translated"],
  ["date_time", "A date column and a time column"],
  ["minus_minutes", "Another time minus a number of minutes"],
];
const TIMES = new Set(["scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at"]);
const DATETIME_FORMATS: [string, string][] = [
  ["", "2026-03-02T14:30 (ISO 8601)"],
  ["%m/%d/%Y %I:%M %p", "03/02/2026 02:30 PM"],
  ["%m/%d/%Y %H:%M", "03/02/2026 14:30 (month first)"],
  ["%d/%m/%Y %H:%M", "02/03/2026 14:30 (day first)"],
  ["%d.%m.%Y %H:%M", "02.03.2026 14:30"],
  ["%Y-%m-%d %H:%M:%S", "2026-03-02 14:30:00"],
];
const DATE_FORMATS: [string, string][] = [
  ["", "2026-03-02"],
  ["%m/%d/%Y", "03/02/2026 (month first)"],
  ["%d/%m/%Y", "02/03/2026 (day first)"],
  ["%d.%m.%Y", "02.03.2026"],
];
const TIME_FORMATS: [string, string][] = [
  ["", "14:30"],
  ["%I:%M %p", "02:30 PM"],
];
const PREVIEW_FIELDS = ["external_ref", "technician_ref", "status", "scheduled_start", "started_at", "completed_at"];
/** A crew cell ("T1:lead;T2") as the preview shows it: "T1 (lead), T2". */
function crewWords(value: string): string {
  return value
    .split(";")
    .filter((item) => item.trim())
    .map((item) => {
      const [ref, role, share] = item.split(":").map((part) => part.trim());
      const notes = [role, share].filter(Boolean).join(", ");
      return notes ? `${ref} (${notes})` : ref;
    })
    .join(", ");
}

function draftOf(rule?: Partial<ImportFieldRule>): Draft {
  return {
    how: (rule?.kind as Kind) ?? "",
    source: rule?.column ?? "",
    fixed: rule?.value ?? "",
    words: Object.entries(rule?.values ?? {}),
    clock: rule?.time_column ?? "",
    from: rule?.base ?? "",
  };
}

function ruleOf(draft: Draft): ImportFieldRule {
  const rule: ImportFieldRule = { kind: draft.how as ImportFieldRule["kind"] };
  if (draft.how === "fixed") rule.value = draft.fixed;
  else if (draft.how) rule.column = draft.source || null;
  if (draft.how === "value_map") rule.values = Object.fromEntries(draft.words.filter(([word]) => word.trim()));
  if (draft.how === "date_time") rule.time_column = draft.clock || null;
  if (draft.how === "minus_minutes") rule.base = draft.from || null;
  return rule;
}

export class ImportMappingPanel extends LitElement {
  static styles = [
    shared,
    css`
      .step {
        border-top: 1px solid var(--line, #d4d4d8);
        padding-top: 0.75rem;
        margin-top: 1rem;
      }
      .rule {
        display: grid;
        grid-template-columns: minmax(12rem, 18rem) minmax(0, 36rem);
        gap: 0.5rem 1rem;
        padding: 0.6rem 0;
        border-bottom: 1px solid var(--line, #e4e4e7);
      }
      .rule .how {
        display: flex;
        flex-direction: column;
        gap: 0.5rem;
      }
      .pair {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        flex-wrap: wrap;
      }
      .samples {
        color: var(--muted);
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
        align-items: center;
        margin-top: 0.75rem;
      }
      @media (max-width: 40rem) {
        .rule {
          grid-template-columns: 1fr;
        }
      }
    `,
  ];

  static properties = {
    fields: { attribute: false },
    admin: { type: Boolean },
    file: { state: true },
    description: { state: true },
    presets: { state: true },
    saved: { state: true },
    drafts: { state: true },
    options: { state: true },
    preview: { state: true },
    result: { state: true },
    error: { state: true },
    busy: { state: true },
    note: { state: true },
  };
  declare fields: ImportColumn[];
  declare admin: boolean;
  declare file: File | null;
  declare description: ImportFileDescription | null;
  declare presets: ImportPreset[];
  declare saved: SavedImportMapping[];
  declare drafts: Record<string, Draft>;
  declare options: { timezone: string; datetime_format: string; date_format: string; time_format: string; sheet: string };
  declare preview: ImportPreview | null;
  declare result: ImportResult | null;
  declare error: unknown;
  declare busy: string;
  declare note: string;

  constructor() {
    super();
    this.fields = [];
    this.admin = false;
    this.file = null;
    this.description = null;
    this.presets = [];
    this.saved = [];
    this.drafts = {};
    this.options = { timezone: "", datetime_format: "", date_format: "", time_format: "", sheet: "" };
    this.preview = null;
    this.result = null;
    this.error = null;
    this.busy = "";
    this.note = "";
  }

  connectedCallback(): void {
    super.connectedCallback();
    api.get<ImportPreset[]>("/api/v1/imports/jobs/presets").then((found) => (this.presets = found), () => {});
    void this.loadSaved();
  }

  private async loadSaved(): Promise<void> {
    try {
      this.saved = await api.all<SavedImportMapping>("/api/v1/imports/mappings");
    } catch {
      // saved mappings are a shortcut: without them the page still maps by hand
    }
  }

  private get columns(): string[] {
    return (this.description?.columns ?? []).map((column) => column.name);
  }

  private mapping(): ImportMapping {
    const fields: Record<string, ImportFieldRule> = {};
    for (const [name, draft] of Object.entries(this.drafts)) if (draft.how) fields[name] = ruleOf(draft);
    const { timezone, datetime_format, date_format, time_format } = this.options;
    return {
      fields,
      timezone: timezone || null,
      datetime_format: datetime_format || null,
      date_format: date_format || null,
      time_format: time_format || null,
    };
  }

  private use(mapping: Partial<ImportMapping>): void {
    const drafts: Record<string, Draft> = {};
    for (const field of this.fields) drafts[field.name] = draftOf(mapping.fields?.[field.name]);
    this.drafts = drafts;
    this.options = {
      ...this.options,
      timezone: mapping.timezone ?? "",
      datetime_format: mapping.datetime_format ?? "",
      date_format: mapping.date_format ?? "",
      time_format: mapping.time_format ?? "",
    };
    this.preview = null;
  }

  /** The multipart body of a describe, preview or import: the file, and the mapping when it is used. */
  private body(withMapping: boolean): FormData {
    const form = new FormData();
    form.append("file", this.file!, this.file!.name);
    if (withMapping) form.append("mapping", JSON.stringify(this.mapping()));
    return form;
  }

  private query(create = false): Record<string, string | boolean | undefined> {
    return { sheet: this.options.sheet || undefined, create_technicians: create || undefined };
  }

  private async chooseFile(event: Event): Promise<void> {
    this.file = (event.target as HTMLInputElement).files?.[0] ?? null;
    this.options = { ...this.options, sheet: "" };
    await this.describe();
  }

  private async describe(): Promise<void> {
    this.description = this.preview = this.result = null;
    this.error = null;
    if (!this.file) return;
    this.busy = "Reading the file";
    try {
      const path = "/api/v1/imports/jobs/describe";
      this.description = (await request<ImportFileDescription>("POST", path, { body: this.body(false), query: this.query() })).data;
      const proposal = this.description.proposal as Partial<ImportMapping>;
      if (this.description.columns.length) this.use(proposal);
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = "";
    }
  }

  private chooseSheet(event: Event): void {
    this.options = { ...this.options, sheet: (event.target as HTMLSelectElement).value };
    void this.describe();
  }

  private startFrom(event: Event): void {
    const [kind, key] = (event.target as HTMLSelectElement).value.split(":", 2);
    if (kind === "preset") {
      const preset = this.presets.find((item) => item.key === key);
      if (preset) this.use(preset.mapping);
    } else if (kind === "saved") {
      const saved = this.saved.find((item) => String(item.id) === key);
      if (saved) this.use(saved.mapping);
    } else if (this.description) {
      this.use(this.description.proposal as Partial<ImportMapping>);
    }
  }

  private change(name: string, part: keyof Draft, value: unknown): void {
    this.drafts = { ...this.drafts, [name]: { ...this.drafts[name], [part]: value } };
    this.preview = null;
  }

  private async runPreview(): Promise<void> {
    this.error = this.result = null;
    this.busy = "Checking the first rows";
    try {
      const options = { body: this.body(true), query: this.query(this.createTechnicians) };
      this.preview = (await request<ImportPreview>("POST", "/api/v1/imports/jobs/preview", options)).data;
    } catch (error) {
      this.preview = null;
      this.error = error;
      await this.updateComplete;
      (this.renderRoot.querySelector("#map-errors") as HTMLElement | null)?.focus();
    } finally {
      this.busy = "";
    }
  }

  private get createTechnicians(): boolean {
    return (this.renderRoot.querySelector("#map-create") as HTMLInputElement | null)?.checked ?? false;
  }

  private async runImport(): Promise<void> {
    this.error = this.result = null;
    this.busy = "Checking and importing the rows";
    try {
      const options = { body: this.body(true), query: this.query(this.createTechnicians) };
      this.result = (await request<ImportResult>("POST", "/api/v1/imports/jobs", options)).data;
      this.dispatchEvent(new CustomEvent("imported", { bubbles: true, composed: true }));
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      (this.renderRoot.querySelector("#map-errors") as HTMLElement | null)?.focus();
    } finally {
      this.busy = "";
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const name = new FormData(event.target as HTMLFormElement).get("name")?.toString() ?? "";
    this.error = null;
    try {
      const saved = await api.post<SavedImportMapping>("/api/v1/imports/mappings", { name, mapping: this.mapping() });
      this.note = `Saved as “${saved.name}”.`;
      await this.loadSaved();
    } catch (error) {
      this.error = error;
    }
  }

  /** The problems the server named, each linked to the control it is about (GOV.UK error summary). */
  private errorSummary(): TemplateResult | string {
    const error = this.error;
    if (!error) return "";
    const items: [string, string][] = [];
    if (error instanceof ApiError) {
      for (const [path, message] of Object.entries(error.fields)) {
        // The field a path is about: the longest known field name it starts with (job fields from
        // plugins have dots in their names, "safety.ppe_checked"), else its first part.
        const rest = path.startsWith("mapping.fields.") ? path.slice("mapping.fields.".length) : null;
        const known = rest === null ? [] : this.fields.map((item) => item.name).filter((name) => rest === name || rest.startsWith(`${name}.`));
        const field = rest === null ? undefined : (known.sort((a, b) => b.length - a.length)[0] ?? rest.split(".")[0]);
        const label = this.fields.find((item) => item.name === field)?.label;
        if (field) items.push([`#map-${field.replaceAll(".", "-")}`, `${label ?? "A field"}: ${message}`]);
        else if (path === "name") items.push(["#map-name", message]);
        else if (path.startsWith("mapping.")) items.push(["#map-settings", message]);
      }
    }
    const message = error instanceof Error ? error.message : String(error);
    const missing = error instanceof ApiError && error.status === 422 && !items.length;
    return html`<div class="error-summary" id="map-errors" role="alert" tabindex="-1">
      <h3>There is a problem</h3>
      ${items.length
        ? html`<ul>
            ${items.map(([target, text]) => html`<li><a href=${target} @click=${this.focusTarget}>${text}</a></li>`)}
          </ul>`
        : html`<p>${missing ? message.replace(/^file: /, "") : message}</p>`}
      ${error instanceof ApiError && error.rows.length ? this.rowErrors(error.rows, error.errorCount) : ""}
    </div>`;
  }

  private focusTarget(event: Event): void {
    event.preventDefault();
    const target = (event.currentTarget as HTMLAnchorElement).getAttribute("href") ?? "";
    const control = this.renderRoot.querySelector(`${target} select, ${target} input, ${target}`) as HTMLElement | null;
    control?.focus();
  }

  private rowErrors(rows: Parameters<typeof rowErrorsTable>[0], count: number): TemplateResult {
    return html`<p>
        ${formatCount(count)} problem${count === 1 ? "" : "s"} in the rows${count > rows.length ? ` (the first ${formatCount(rows.length)} listed)` : ""}:
        correct them in the file, or change how the columns are read.
      </p>
      ${rowErrorsTable(rows)}`;
  }

  private fileColumns(): TemplateResult | string {
    const description = this.description;
    if (!description) return "";
    if (!description.columns.length && description.sheets.length) {
      return html`<div class="step field">
        <label for="map-sheet">Sheet</label>
        <span class="hint">The workbook has ${description.sheets.length} sheets: choose the one with the jobs.</span>
        <select id="map-sheet" @change=${this.chooseSheet}>
          <option value="">Choose a sheet</option>
          ${description.sheets.map((sheet) => html`<option value=${sheet}>${sheet}</option>`)}
        </select>
      </div>`;
    }
    return html`<div class="step">
      <h3>The file's columns</h3>
      ${description.sheet ? html`<p class="hint">Sheet “${description.sheet}”.</p>` : ""}
      <div class="table-wrap cards">
        <table class="file-columns">
          <caption class="visually-hidden">Columns of the file, with values from its first rows</caption>
          <thead>
            <tr>
              <th scope="col">Column</th>
              <th scope="col">Values in the first rows</th>
            </tr>
          </thead>
          <tbody>
            ${description.columns.map(
              (column) => html`<tr>
                <td>${column.name}</td>
                <td class="samples" data-label="Values">${column.samples.length ? column.samples.join(" · ") : "(empty)"}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </div>`;
  }

  private columnSelect(id: string, label: string, value: string, change: (value: string) => void): TemplateResult {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} @change=${(event: Event) => change((event.target as HTMLSelectElement).value)}>
        <option value="" ?selected=${!value}>Choose a column</option>
        ${this.columns.map((column) => html`<option value=${column} ?selected=${column === value}>${column}</option>`)}
      </select>
    </div>`;
  }

  private ruleControls(field: ImportColumn, draft: Draft): TemplateResult | string {
    const id = `map-${field.name}`;
    const set = (part: keyof Draft) => (value: unknown) => this.change(field.name, part, value);
    switch (draft.how) {
      case "column":
        return this.columnSelect(`${id}-column`, "Column", draft.source, set("source"));
      case "fixed":
        return field.name === "status"
          ? html`<div class="field">
              <label for="${id}-value">Value</label>
              <select id="${id}-value" @change=${(event: Event) => set("fixed")((event.target as HTMLSelectElement).value)}>
                <option value="">Choose</option>
                ${JOB_STATUSES.map((status) => html`<option value=${status} ?selected=${draft.fixed === status}>${formatJobStatus(status)}</option>`)}
              </select>
            </div>`
          : html`<div class="field">
              <label for="${id}-value">Value</label>
              <input id="${id}-value" .value=${draft.fixed} @change=${(event: Event) => set("fixed")((event.target as HTMLInputElement).value)} />
            </div>`;
      case "value_map":
        return html`${this.columnSelect(`${id}-column`, "Column", draft.source, set("source"))}
          <fieldset class="field">
            <legend>Words in the file, and what they become</legend>
            ${draft.words.map(
              ([from, to], index) => html`<div class="pair">
                <input aria-label="In the file" .value=${from}
                  @change=${(event: Event) => set("words")(draft.words.map((pair, at) => (at === index ? [(event.target as HTMLInputElement).value, pair[1]] : pair)))} />
                <span aria-hidden="true">→</span>
                ${field.name === "status"
                  ? html`<select aria-label="Becomes"
                      @change=${(event: Event) => set("words")(draft.words.map((pair, at) => (at === index ? [pair[0], (event.target as HTMLSelectElement).value] : pair)))}>
                      ${JOB_STATUSES.map((status) => html`<option value=${status} ?selected=${to === status}>${formatJobStatus(status)}</option>`)}
                    </select>`
                  : html`<input aria-label="Becomes" .value=${to}
                      @change=${(event: Event) => set("words")(draft.words.map((pair, at) => (at === index ? [pair[0], (event.target as HTMLInputElement).value] : pair)))} />`}
              </div>`,
            )}
            <button type="button" class="secondary" @click=${() => set("words")([...draft.words, ["", field.name === "status" ? "completed" : ""]])}>
              Add a word
            </button>
          </fieldset>`;
      case "date_time":
        return html`${this.columnSelect(`${id}-column`, "Date column", draft.source, set("source"))}
          ${this.columnSelect(`${id}-time`, "Time column", draft.clock, set("clock"))}`;
      case "minus_minutes":
        return html`<div class="field">
            <label for="${id}-base">Time</label>
            <select id="${id}-base" @change=${(event: Event) => set("from")((event.target as HTMLSelectElement).value)}>
              <option value="">Choose a time</option>
              ${this.fields
                .filter((other) => TIMES.has(other.name) && other.name !== field.name)
                .map((other) => html`<option value=${other.name} ?selected=${draft.from === other.name}>${other.label}</option>`)}
            </select>
          </div>
          ${this.columnSelect(`${id}-column`, "Minus the minutes in", draft.source, set("source"))}`;
      default:
        return "";
    }
  }

  private fieldRule(field: ImportColumn): TemplateResult {
    const draft = this.drafts[field.name] ?? draftOf();
    const kinds = KINDS.filter(([kind]) => {
      if (kind === "" && field.required) return false;
      if (kind === "date_time" || kind === "minus_minutes") return TIMES.has(field.name);
      if (kind === "value_map") return !TIMES.has(field.name);
      return true;
    });
    const error = this.error instanceof ApiError ? this.error.fields[`mapping.fields.${field.name}`] : undefined;
    return html`<div class="rule ${error ? "invalid" : ""}" id="map-${field.name}">
      <div class="field ${error ? "invalid" : ""}">
        <label for="map-${field.name}-kind">${field.label}${field.required ? "" : html` <span class="hint">(optional)</span>`}</label>
        <span class="hint">${field.description}</span>
        ${error ? html`<span class="field-error">${error}</span>` : ""}
        <select id="map-${field.name}-kind" @change=${(event: Event) => this.change(field.name, "how", (event.target as HTMLSelectElement).value)}>
          ${kinds.map(([kind, words]) => html`<option value=${kind} ?selected=${draft.how === kind}>${words}</option>`)}
        </select>
      </div>
      <div class="how">${this.ruleControls(field, draft)}</div>
    </div>`;
  }

  private formatSelect(id: string, label: string, option: "datetime_format" | "date_format" | "time_format", choices: [string, string][]): TemplateResult {
    const value = this.options[option];
    const known = choices.some(([format]) => format === value);
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} @change=${(event: Event) => (this.options = { ...this.options, [option]: (event.target as HTMLSelectElement).value })}>
        ${choices.map(([format, words]) => html`<option value=${format} ?selected=${format === value}>${words}</option>`)}
        ${known ? "" : html`<option value=${value} selected>${value}</option>`}
      </select>
    </div>`;
  }

  private mappingStep(): TemplateResult | string {
    if (!this.description?.columns.length) return "";
    const fits = new Map(this.description.presets.map((fit) => [fit.key, fit.missing]));
    return html`<div class="step">
      <h3>How each job field is read</h3>
      <div class="field">
        <label for="map-start">Start from</label>
        <span class="hint">Proposed from the column names; or the columns of a known export, or a mapping saved before.</span>
        <select id="map-start" @change=${this.startFrom}>
          <option value="proposal">Matched by column names</option>
          ${this.presets.map(
            (preset) => html`<option value="preset:${preset.key}">
              ${preset.label}${fits.get(preset.key)?.length ? ` (the file lacks ${fits.get(preset.key)!.length} of its columns)` : ""}
            </option>`,
          )}
          ${this.saved.map((saved) => html`<option value="saved:${saved.id}">Saved: ${saved.name}</option>`)}
        </select>
      </div>
      ${this.fields.map((field) => this.fieldRule(field))}
      <div class="row" id="map-settings">
        ${this.formatSelect("map-datetime", "How dates with times are written", "datetime_format", DATETIME_FORMATS)}
        ${this.formatSelect("map-date", "How dates alone are written", "date_format", DATE_FORMATS)}
        ${this.formatSelect("map-time", "How times alone are written", "time_format", TIME_FORMATS)}
        <div class="field">
          <label for="map-zone">Time zone of the file's times</label>
          <span class="hint">Such as America/Chicago. Leave empty for the company's.</span>
          <input id="map-zone" .value=${this.options.timezone}
            @change=${(event: Event) => (this.options = { ...this.options, timezone: (event.target as HTMLInputElement).value.trim() })} />
        </div>
      </div>
      <form class="row" @submit=${this.save} aria-label="Save the mapping">
        <div class="field" id="map-name">
          <label for="map-name-input">Save these choices as</label>
          <input id="map-name-input" name="name" required maxlength="200" />
        </div>
        <div class="field"><button type="submit" class="secondary">Save</button></div>
        ${this.note ? html`<p role="status">${this.note}</p>` : ""}
      </form>
      <div class="actions">
        ${this.admin
          ? html`<label><input type="checkbox" id="map-create" /> Create technicians that are not on file yet</label>`
          : ""}
        <button type="button" @click=${this.runPreview} ?disabled=${Boolean(this.busy)}>Preview the first rows</button>
        <button type="button" class="secondary" @click=${this.runImport} ?disabled=${Boolean(this.busy)}>Save the jobs</button>
      </div>
    </div>`;
  }

  private previewStep(): TemplateResult | string {
    const preview = this.preview;
    if (!preview) return "";
    const label = (name: string) => this.fields.find((field) => field.name === name)?.label ?? name;
    const shown = (name: string, value: unknown) =>
      value === null || value === undefined || value === ""
        ? "–"
        : TIMES.has(name)
          ? formatStamp(String(value))
          : name === "status"
            ? formatJobStatus(String(value))
            : name === "technicians"
              ? crewWords(String(value))
              : String(value);
    // The crew beside the technician when the mapping fills it (in its place when it fills only the crew).
    const crew = Boolean(this.drafts.technicians?.how);
    const technician = Boolean(this.drafts.technician_ref?.how) || !crew;
    const columns = PREVIEW_FIELDS.flatMap((name) =>
      name === "technician_ref" ? [...(technician ? [name] : []), ...(crew ? ["technicians"] : [])] : [name],
    );
    return html`<div class="step" aria-labelledby="map-preview-title">
      <h3 id="map-preview-title">The first ${formatCount(preview.rows.length)} rows, as they would be imported</h3>
      <p role="status">
        ${preview.error_count
          ? `${formatCount(preview.error_count)} problem${preview.error_count === 1 ? "" : "s"} in these rows: nothing will be imported until they are put right.`
          : "No problems in these rows. Nothing has been written yet."}
      </p>
      <div class="table-wrap cards">
        <table class="preview">
          <caption class="visually-hidden">The first rows as they would be imported</caption>
          <thead>
            <tr>
              <th scope="col" class="num">Row</th>
              ${columns.map((name) => html`<th scope="col">${label(name)}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${preview.rows.map(
              (row) => html`<tr>
                <td class="num" data-label="Row">${row.row}</td>
                ${columns.map((name) => html`<td data-label=${label(name)}>${shown(name, row.values[name])}</td>`)}
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${preview.errors.length ? this.rowErrors(preview.errors, preview.error_count) : ""}
    </div>`;
  }

  render(): TemplateResult {
    const result = this.result;
    return html`<section class="card" aria-labelledby="map-title">
      <h2 id="map-title">Import another system's export</h2>
      <p class="hint">
        A CSV or Excel file in other columns than ours, such as a job report from Housecall Pro. Choose how each job
        field is read from it, check the first rows, then save the jobs.
      </p>
      ${this.errorSummary()}
      <div class="field">
        <label for="map-file">Export file</label>
        <input id="map-file" type="file" accept=".csv,.xlsx,text/csv" @change=${this.chooseFile} />
      </div>
      ${this.busy ? html`<p role="status">${this.busy}…</p>` : ""} ${this.fileColumns()} ${this.mappingStep()}
      ${this.previewStep()}
      ${result
        ? html`<p role="status" class="import-result">
            Saved: ${formatCount(result.rows)} row${result.rows === 1 ? "" : "s"} — ${formatCount(result.created)} created,
            ${formatCount(result.updated)} updated, ${formatCount(result.unchanged)} unchanged.
          </p>`
        : ""}
    </section>`;
  }
}

customElements.define("kpi-import-mapping", ImportMappingPanel);
