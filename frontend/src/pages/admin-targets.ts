// The admin page's "Targets" tab (/admin/targets): each KPI's company target (green, amber, weight)
// and the day a new one starts. A target is never rewritten: saving adds a version in force from the
// day given, earlier periods keep being judged by the version in force on their first day, and the
// history of each KPI lists every version with the way back to any of them (a new version too).
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { catalog } from "../catalog";
import { companySettings, formatDate, formatDayOf, formatKpi, isMoney, localDay } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { EffectiveTarget, MetricTargets, TargetVersion } from "../types";

const TARGETS = "/api/v1/targets";
const FIELDS: [string, string][] = [
  ["green", "Green"],
  ["amber", "Amber"],
  ["weight", "Weight"],
  ["valid_from", "In force from"],
];

export class AdminTargets extends LitElement {
  static styles = [
    shared,
    css`
      td input {
        width: 6.5rem;
      }
      td input[type="date"] {
        width: 10rem;
      }
      .with-unit {
        display: inline-flex;
        align-items: center;
        gap: 0.3rem;
      }
      .targets .field {
        margin-bottom: 0;
      }
      .history-row > td {
        background: var(--bg);
      }
      .versions {
        list-style: none;
        padding: 0;
        margin: 0.25rem 0 0;
      }
      .versions li {
        border-top: 1px solid var(--border);
        padding: 0.5rem 0;
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem 0.75rem;
        align-items: center;
      }
      .versions li:first-child {
        border-top: 0;
      }
      .versions .what {
        flex: 1 1 16rem;
        min-width: 0;
      }
      .versions .what .hint {
        display: block;
        margin: 0.1rem 0 0;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
    `,
  ];

  static properties = {
    targets: { state: true },
    problem: { state: true },
    rowErrors: { state: true },
    rowSaved: { state: true },
    savedWords: { state: true },
    open: { state: true },
    histories: { state: true },
  };
  declare targets: MetricTargets[] | null;
  declare problem: unknown;
  /** Each row's problems by field (green, amber, weight, valid_from), and the row just saved. */
  declare rowErrors: Map<string, Record<string, string>>;
  declare rowSaved: string;
  /** What the row just saved says: "Saved: in force from Mar 1, 2026." */
  declare savedWords: string;
  /** The KPIs whose history is shown, and the histories loaded. */
  declare open: Set<string>;
  declare histories: Map<string, TargetVersion[] | Error>;

  constructor() {
    super();
    new TableBoxes(this);
    this.targets = null;
    this.problem = null;
    this.rowErrors = new Map();
    this.rowSaved = "";
    this.savedWords = "";
    this.open = new Set();
    this.histories = new Map();
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.targets = await api.get<MetricTargets[]>(TARGETS);
      this.problem = null;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.targets) return loading();
    const today = localDay(new Date());
    return html`<section class="card">
      <h2>Company targets and weights</h2>
      ${this.summary()}
      <p class="hint">
        Per KPI: the value from which it is on target (green), the value past which it is off target (amber; in
        between it is close), and its weight in the scorecard (0 leaves it out of the score). Rates are entered in
        per cent.
      </p>
      <p class="hint">
        A change starts on the day you choose (today unless you say otherwise) and never rewrites the targets before
        it: each month, week or day is judged against the target in force on its first day. A closed month keeps the
        target it was closed with. "History" lists every target a KPI has had, and can bring back any of them.
      </p>
      <div class="table-wrap cards">
        <table class="targets">
          <thead>
            <tr>
              <th scope="col">KPI</th>
              <th scope="col">Green: on target from</th>
              <th scope="col">Amber: off target past</th>
              <th scope="col">Weight</th>
              <th scope="col">In force from</th>
              <th scope="col">Set by</th>
              <th scope="col"><span class="visually-hidden">Save</span></th>
            </tr>
          </thead>
          <tbody>
            ${this.targets.map((metric) => this.row(metric, today))}
          </tbody>
        </table>
      </div>
    </section>`;
  }

  /** GOV.UK's error summary: every problem of every row, each linking to its field. */
  private summary(): TemplateResult | string {
    const problems = [...this.rowErrors.entries()].flatMap(([key, errors]) =>
      FIELDS.filter(([name]) => errors[name]).map(([name, label]) => ({ key, name, label, message: errors[name] })),
    );
    if (!problems.length) return "";
    const labels = new Map(this.targets!.map((metric) => [metric.metric_key, metric.label]));
    return html`<div class="error-summary" role="alert" tabindex="-1">
      <h3>There is a problem</h3>
      <ul>
        ${problems.map(
          (problem) =>
            html`<li><a href="#${this.inputId(problem.name, problem.key)}" @click=${(event: Event) => this.focusField(event, problem.name, problem.key)}
              >${labels.get(problem.key)}, ${problem.label.toLowerCase()}: ${problem.message}</a></li>`,
        )}
      </ul>
    </div>`;
  }

  private inputId(name: string, key: string): string {
    return `${name === "valid_from" ? "f" : name[0]}-${key}`;
  }

  private focusField(event: Event, name: string, key: string): void {
    event.preventDefault();
    this.renderRoot.querySelector<HTMLElement>(`[id="${this.inputId(name, key)}"]`)?.focus();
  }

  private row(metric: MetricTargets, today: string): TemplateResult[] {
    const key = metric.metric_key;
    const form = `target-${key}`;
    const rate = metric.unit === "ratio";
    const errors = this.rowErrors.get(key) ?? {};
    // A rate's thresholds are shown (and typed) in per cent; a weight is a plain number.
    const shown = (value: number | undefined, percent: boolean) =>
      value === undefined ? "" : percent ? String(Number((value * 100).toFixed(6))) : String(value);
    const described = (id: string, error: string | undefined) => (error ? `${id}-error` : "");
    const problem = (id: string, error: string | undefined) =>
      error ? html`<p class="field-error" id="${id}-error"><span class="visually-hidden">Error:</span> ${error}</p>` : "";
    const input = (name: "green" | "amber" | "weight", label: string, value: number | undefined) => {
      const id = this.inputId(name, key);
      const error = errors[name];
      const percent = rate && name !== "weight";
      const unit = name === "weight" ? "" : rate ? "%" : isMoney(metric) ? companySettings().currency : metric.unit;
      return html`<td class=${error ? "field invalid" : "field"}>
        <label class="visually-hidden" for=${id}>${label} for ${metric.label}${percent ? ", in per cent" : ""}</label>
        <span class="with-unit">
          <input id=${id} name=${name} form=${form} type="text" inputmode="decimal" autocomplete="off" .value=${shown(value, percent)}
            aria-invalid=${error ? "true" : "false"} aria-describedby=${described(id, error)} />
          ${unit ? html`<span class="unit" aria-hidden="true">${unit}</span>` : ""}
        </span>
        ${problem(id, error)}
      </td>`;
    };
    const fromId = this.inputId("valid_from", key);
    const fromError = errors.valid_from;
    const open = this.open.has(key);
    const saved = this.rowSaved === key;
    const row = html`<tr data-target=${key}>
      <td>
        <form id=${form} @submit=${(e: SubmitEvent) => this.save(e, metric)} novalidate></form>
        <strong>${metric.label}</strong>
        <div class="hint">${metric.direction === "lower" ? "Lower is better" : "Higher is better"}</div>
        <button type="button" class="secondary" aria-expanded=${String(open)} aria-controls="history-${key}"
          @click=${() => this.toggle(key)}>History<span class="visually-hidden"> of ${metric.label}'s targets</span></button>
      </td>
      ${input("green", "Green", metric.company?.green)} ${input("amber", "Amber", metric.company?.amber)}
      ${input("weight", "Weight", metric.company?.weight)}
      <td class=${fromError ? "field invalid" : "field"}>
        <label class="visually-hidden" for=${fromId}>In force from, for ${metric.label}</label>
        <input id=${fromId} name="valid_from" form=${form} type="date" .value=${today}
          aria-invalid=${fromError ? "true" : "false"} aria-describedby=${described(fromId, fromError)} />
        ${problem(fromId, fromError)}
      </td>
      <td>${this.setBy(metric)}</td>
      <td>
        <button type="submit" form=${form}>Save<span class="visually-hidden"> ${metric.label}</span></button>
        ${saved ? html`<p class="hint" role="status">${this.savedWords}</p>` : ""}
      </td>
    </tr>`;
    if (!open) return [row];
    return [
      row,
      html`<tr class="history-row" id="history-${key}" data-history=${key}>
        <td colspan="7">${this.history(metric)}</td>
      </tr>`,
    ];
  }

  private setBy(metric: MetricTargets): string {
    const company = metric.company;
    if (!company || company.source !== "stored") return "The default";
    return company.valid_from ? `An admin, from ${formatDate(company.valid_from)}` : "An admin";
  }

  private async toggle(key: string): Promise<void> {
    const open = new Set(this.open);
    if (open.has(key)) open.delete(key);
    else open.add(key);
    this.open = open;
    if (open.has(key)) await this.loadHistory(key);
  }

  private async loadHistory(key: string): Promise<void> {
    try {
      const versions = await api.get<TargetVersion[]>(`${TARGETS}/${encodeURIComponent(key)}/history`);
      this.histories = new Map(this.histories).set(key, versions);
    } catch (error) {
      this.histories = new Map(this.histories).set(key, error instanceof Error ? error : new Error(String(error)));
    }
  }

  private history(metric: MetricTargets): TemplateResult {
    const found = this.histories.get(metric.metric_key);
    if (found === undefined) return loading("Loading the history");
    if (found instanceof Error) return failed(found, () => this.loadHistory(metric.metric_key));
    const company = found.filter((version) => version.team_id === null);
    if (!company.length) return empty(`${metric.label} has always had its default target.`, "Save a target above to start its history.");
    const byId = new Map(found.map((version) => [version.id, version]));
    return html`<h3 class="visually-hidden">History of ${metric.label}'s targets</h3>
      <ul class="versions" aria-label="History of ${metric.label}'s targets">
        ${company.map((version) => html`<li data-version=${version.id}>
          <span class="what">
            <strong>${version.valid_from ? `From ${formatDate(version.valid_from)}` : "From the beginning"}:</strong>
            ${this.describe(version, metric)}
            ${version.reverts_id ? html`<span class="hint">(back to the target from ${this.fromWords(byId.get(version.reverts_id))})</span>` : ""}
            <span class="hint">Set by ${version.created_by ?? "the system"} on ${formatDayOf(version.created_at)}.</span>
            ${version.replaced ? html`<span class="hint">Replaced by a later change for the same day.</span>` : ""}
          </span>
          ${version.in_force ? html`<span class="badge green">In force today</span>` : ""}
          <span class="actions">
            <button type="button" class="secondary" @click=${() => this.revert(metric, version)}>Use this again<span class="visually-hidden">: ${this.describe(version, metric)}</span></button>
          </span>
        </li>`)}
      </ul>
      <p class="hint">"Use this again" adds a new target equal to that one, in force from the day in the row's "In force from".</p>`;
  }

  private fromWords(version: TargetVersion | undefined): string {
    if (!version) return "an earlier day";
    return version.valid_from ? formatDate(version.valid_from) : "the beginning";
  }

  private describe(version: TargetVersion, metric: MetricTargets): string {
    if (version.removed) return "no target of its own: the plugin's default applies";
    const unit = { unit: metric.unit };
    return `green ${formatKpi(version.green, unit)}, amber ${formatKpi(version.amber, unit)}, weight ${version.weight}`;
  }

  private fromField(key: string): string {
    return this.renderRoot.querySelector<HTMLInputElement>(`[id="${this.inputId("valid_from", key)}"]`)?.value ?? "";
  }

  private async revert(metric: MetricTargets, version: TargetVersion): Promise<void> {
    const key = metric.metric_key;
    const from = this.fromField(key);
    const etag = metric.company?.etag;
    this.rowSaved = "";
    this.rowErrors = new Map(this.rowErrors).set(key, {});
    try {
      await request("POST", `${TARGETS}/${encodeURIComponent(key)}/versions/${version.id}/revert`, {
        json: from ? { valid_from: from } : {},
        headers: etag ? { "If-Match": etag } : {},
      });
      await this.afterChange(key, from || localDay(new Date()));
    } catch (error) {
      this.showError(key, error);
    }
  }

  /** The row's numbers as the API takes them (rates typed in % become 0-1), or each field's problem. */
  private body(metric: MetricTargets, data: FormData): { body?: Record<string, number | string>; errors: Record<string, string> } {
    const rate = metric.unit === "ratio";
    const errors: Record<string, string> = {};
    const read = (name: string) => {
      const raw = String(data.get(name) ?? "").trim().replace(/\s*%$/, "").replace(",", ".");
      return raw === "" ? NaN : Number(raw);
    };
    const [green, amber, weight] = [read("green"), read("amber"), read("weight")];
    for (const [name, value, word] of [["green", green, "green"], ["amber", amber, "amber"]] as const) {
      if (!Number.isFinite(value)) errors[name] = rate ? `Enter the ${word} threshold in per cent, such as 90` : `Enter the ${word} threshold as a number`;
      else if (rate && (value < 0 || value > 100)) errors[name] = `Enter a ${word} threshold between 0 % and 100 %`;
    }
    if (!Number.isFinite(weight) || weight < 0) errors.weight = "Enter a weight of 0 or more (0 leaves the KPI out of the score)";
    if (!errors.green && !errors.amber) {
      const unit = rate ? " %" : "";
      if (metric.direction === "lower" && green > amber) errors.green = `Green must be at most amber (${amber}${unit}): lower is better`;
      if (metric.direction !== "lower" && green < amber) errors.green = `Green must be at least amber (${amber}${unit}): higher is better`;
    }
    const from = String(data.get("valid_from") ?? "").trim();
    if (from && !/^\d{4}-\d{2}-\d{2}$/.test(from)) errors.valid_from = "Enter the day it starts, such as 2026-03-01";
    if (Object.keys(errors).length) return { errors };
    const share = (value: number) => (rate ? Number((value / 100).toFixed(8)) : value);
    const body: Record<string, number | string> = { green: share(green), amber: share(amber), weight };
    if (from) body.valid_from = from;
    return { body, errors };
  }

  private async save(event: SubmitEvent, metric: MetricTargets): Promise<void> {
    event.preventDefault();
    const key = metric.metric_key;
    const { body, errors } = this.body(metric, new FormData(event.target as HTMLFormElement));
    this.rowSaved = "";
    this.rowErrors = new Map(this.rowErrors).set(key, errors);
    if (!body) return this.focusFirstError(key);
    const etag = metric.company?.etag;
    try {
      const stored = await request<EffectiveTarget>("PUT", `${TARGETS}/${encodeURIComponent(key)}`, {
        json: body,
        headers: etag ? { "If-Match": etag } : {},
      });
      await this.afterChange(key, stored.data?.valid_from);
    } catch (error) {
      this.showError(key, error);
    }
  }

  private async afterChange(key: string, from?: string | null): Promise<void> {
    catalog.forget("targets");
    this.targets = await api.get<MetricTargets[]>(TARGETS);
    this.rowSaved = key;
    this.savedWords = from ? `Saved: in force from ${formatDate(from)}.` : "Saved.";
    if (this.open.has(key)) await this.loadHistory(key);
  }

  private showError(key: string, error: unknown): void {
    const fields = error instanceof ApiError ? error.fields : {};
    const named = Object.fromEntries(FIELDS.map(([name]) => name).filter((name) => fields[name]).map((name) => [name, fields[name]]));
    // A problem the API names on no field of the row (the ETag, a lost connection) goes beside Save.
    if (!Object.keys(named).length) named.weight = error instanceof Error ? error.message : String(error);
    this.rowErrors = new Map(this.rowErrors).set(key, named);
    void this.focusFirstError(key);
  }

  private async focusFirstError(key: string): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`tr[data-target="${key}"] [aria-invalid="true"]`)?.focus();
  }
}

customElements.define("kpi-admin-targets", AdminTargets);
