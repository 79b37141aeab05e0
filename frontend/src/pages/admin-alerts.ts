// The admin page's "Alert rules" tab (/admin/alerts): when an alert about a technician's KPI is raised
// and sent to their managers. Each rule in words; a rule added here may be removed, one that comes with a
// plugin only turned off (it would come back). The form asks one question per control and shows every
// problem at once, in a GOV.UK error summary linking to each field and beside the field.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { catalog } from "../catalog";
import { formatStamp } from "../format";
import { errorSummary, type Problem } from "../components/error-summary";
import { formLayout, shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { AlertRule, AlertRuleChange, KpiDefinition } from "../types";

const RULES = "/api/v1/alert-rules";
const KINDS: [AlertRule["kind"], string, string][] = [
  ["clearly_red", "Clearly off target for several periods in a row", "The value's margin of error lies wholly past the red threshold, period after period (rates only)."],
  ["changed", "Changed a lot against the period before", "The value moved by more than an amount you choose, on enough jobs in both periods."],
  ["callback_disputed", "A callback was disputed", "Someone says a return visit was not the crew's workmanship; a manager decides."],
];
/** The form's controls in order, with the API field each answers for (for the error summary). */
const FIELDS: [string, string, string][] = [
  ["kind", "ar-kind-clearly_red", "What raises the alert"],
  ["kpi", "ar-kpi", "KPI"],
  ["period", "ar-period", "Looked at by"],
  ["periods", "ar-periods", "How many in a row"],
  ["threshold", "ar-threshold", "By more than"],
  ["direction", "ar-direction-worse", "Which way"],
];

export class AdminAlerts extends LitElement {
  static styles = [
    shared,
    formLayout,
    css`
      .field input:not([type="radio"], [type="checkbox"]),
      .field select {
        width: 100%;
        max-width: 24rem;
      }
      .with-unit {
        display: flex;
        align-items: center;
        gap: 0.4rem;
        max-width: 24rem;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
      }
    `,
  ];

  static properties = {
    rules: { state: true },
    kpis: { state: true },
    kind: { state: true },
    kpi: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
    busy: { state: true },
  };
  declare rules: AlertRule[] | null;
  declare kpis: KpiDefinition[];
  declare kind: AlertRule["kind"];
  declare kpi: string;
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;
  declare busy: boolean;

  constructor() {
    super();
    new TableBoxes(this);
    this.rules = null;
    this.kpis = [];
    this.kind = "clearly_red";
    this.kpi = "";
    this.problem = null;
    this.error = null;
    this.notice = "";
    this.busy = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      const [rules, kpis] = await Promise.all([api.get<AlertRule[]>(RULES), catalog.kpis()]);
      this.rules = rules;
      this.kpis = kpis;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.rules) return loading();
    return html`<div class="grid">
      <section class="card">
        <h2>Alert rules</h2>
        <p class="hint">
          An alert tells a technician's managers (and admins) that their numbers need attention. Each rule raises at
          most one alert per technician and period. People choose on their Notifications page how alerts reach them.
        </p>
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""} ${this.list(this.rules)}
      </section>
      <section class="card">
        <h2>Add a rule</h2>
        ${this.form()}
      </section>
    </div>`;
  }

  private list(rules: AlertRule[]): TemplateResult {
    if (!rules.length) return empty("No alert rules yet.", "Add one below.");
    return html`<div class="table-wrap cards">
      <table>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Comes from</th>
            <th scope="col">State</th>
            <th scope="col"><span class="visually-hidden">Change</span></th>
          </tr>
        </thead>
        <tbody>
          ${rules.map(
            (rule) => html`<tr>
              <td data-label="Rule">${rule.description}</td>
              <td data-label="Comes from">${rule.source === "admin" ? `An admin, ${formatStamp(rule.created_at)}` : "A plugin"}</td>
              <td data-label="State">${rule.enabled ? "On" : "Off"}</td>
              <td>
                <div class="actions">
                  <button class="secondary" ?disabled=${this.busy} @click=${() => this.toggle(rule)}
                    aria-label="${rule.enabled ? "Turn off" : "Turn on"}: ${rule.description}">${rule.enabled ? "Turn off" : "Turn on"}</button>
                  ${rule.source === "admin"
                    ? html`<button class="danger" ?disabled=${this.busy} @click=${() => this.removeRule(rule)}
                        aria-label="Remove: ${rule.description}">Remove</button>`
                    : ""}
                </div>
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  private async act(action: () => Promise<unknown>, notice: string): Promise<void> {
    this.busy = true;
    this.notice = "";
    try {
      await action();
      this.rules = await api.get<AlertRule[]>(RULES);
      this.notice = notice;
    } catch (error) {
      this.problem = error;
    } finally {
      this.busy = false;
    }
  }

  private toggle(rule: AlertRule): Promise<void> {
    const enabled = !rule.enabled;
    return this.act(
      () => request("PATCH", `${RULES}/${rule.id}`, { json: { enabled } }),
      enabled ? `On: ${rule.description}.` : `Off: ${rule.description}. Alerts already raised stay.`,
    );
  }

  private removeRule(rule: AlertRule): Promise<void> {
    return this.act(() => request("DELETE", `${RULES}/${rule.id}`), `Removed: ${rule.description}.`);
  }

  private err(field: string, id: string): TemplateResult | string {
    const message = fieldError(this.error, field);
    return message ? html`<p class="field-error" id="${id}-error"><span class="visually-hidden">Error:</span> ${message}</p>` : "";
  }

  private invalid(field: string): string {
    return fieldError(this.error, field) ? "field invalid" : "field";
  }

  private summary(): TemplateResult | string {
    const problems: Problem[] = FIELDS.filter(([field]) => fieldError(this.error, field)).map(([field, target, label]) => [
      `${label}: ${fieldError(this.error, field)}`,
      target,
    ]);
    return errorSummary(this.error, problems, { id: "ar-errors" });
  }

  private form(): TemplateResult {
    const chosen = this.kpis.find((kpi) => kpi.key === this.kpi);
    const rate = chosen?.unit === "ratio";
    const kpis = this.kind === "clearly_red" ? this.kpis.filter((kpi) => kpi.kind === "rate") : this.kpis;
    return html`${this.summary()}
      <form @submit=${this.submit} novalidate>
        <fieldset class=${this.invalid("kind")}>
          <legend>What raises the alert</legend>
          ${this.err("kind", "ar-kind")}
          ${KINDS.map(
            ([kind, label, hint]) => html`<div class="choice">
              <label><input type="radio" id="ar-kind-${kind}" name="kind" value=${kind} ?checked=${this.kind === kind}
                @change=${() => (this.kind = kind)} /> ${label}</label>
              <p class="hint">${hint}</p>
            </div>`,
          )}
        </fieldset>
        <div class=${this.invalid("kpi")}>
          <label for="ar-kpi">KPI${this.kind === "callback_disputed" ? " (optional)" : ""}</label>
          ${this.kind === "clearly_red" ? html`<p class="hint" id="ar-kpi-hint">Only rates have a margin of error, so only they are listed.</p>` : ""}
          ${this.err("kpi", "ar-kpi")}
          <select id="ar-kpi" name="kpi" aria-describedby=${this.kind === "clearly_red" ? "ar-kpi-hint" : ""} @change=${(event: Event) => (this.kpi = (event.target as HTMLSelectElement).value)}>
            <option value="">Choose a KPI</option>
            ${kpis.map((kpi) => html`<option value=${kpi.key} ?selected=${this.kpi === kpi.key}>${kpi.label}</option>`)}
          </select>
        </div>
        ${this.kind === "callback_disputed" ? "" : this.periodFields(rate, chosen)}
        <button type="submit" ?disabled=${this.busy}>Add the rule</button>
      </form>`;
  }

  private periodFields(rate: boolean, chosen: KpiDefinition | undefined): TemplateResult {
    return html`<div class=${this.invalid("period")}>
        <label for="ar-period">Looked at by</label>
        ${this.err("period", "ar-period")}
        <select id="ar-period" name="period">
          <option value="month">Month</option>
          <option value="week">Week</option>
        </select>
      </div>
      ${this.kind === "clearly_red"
        ? html`<div class=${this.invalid("periods")}>
            <label for="ar-periods">How many complete periods in a row</label>
            ${this.err("periods", "ar-periods")}
            <input id="ar-periods" name="periods" type="text" inputmode="numeric" value="2" autocomplete="off" />
          </div>`
        : html`<div class=${this.invalid("threshold")}>
              <label for="ar-threshold">By more than</label>
              <p class="hint" id="ar-threshold-hint">
                ${rate ? "In percentage points: 10 means from 90 % to 80 %, say." : `In the KPI's own unit${chosen ? ` (${chosen.unit})` : ""}.`}
              </p>
              ${this.err("threshold", "ar-threshold")}
              <span class="with-unit">
                <input id="ar-threshold" name="threshold" type="text" inputmode="decimal" autocomplete="off" aria-describedby="ar-threshold-hint" />
                ${rate ? html`<span aria-hidden="true">points</span>` : ""}
              </span>
            </div>
            <fieldset class=${this.invalid("direction")}>
              <legend>Which way</legend>
              ${this.err("direction", "ar-direction")}
              <div class="choice"><label><input type="radio" id="ar-direction-worse" name="direction" value="worse" checked /> Only a change for the worse</label></div>
              <div class="choice"><label><input type="radio" name="direction" value="either" /> A change either way</label></div>
            </fieldset>`}`;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const body: AlertRuleChange = { kind: this.kind, kpi: String(data.get("kpi") || "") || null };
    if (this.kind !== "callback_disputed") {
      body.period = String(data.get("period") || "month") as AlertRuleChange["period"];
      const number = (name: string) => {
        const raw = String(data.get(name) ?? "").trim().replace(",", ".");
        return raw === "" ? undefined : Number(raw);
      };
      const problems: Record<string, string[]> = {};
      if (!body.kpi) problems.kpi = ["Choose the KPI the alert watches"];
      if (this.kind === "clearly_red") {
        const periods = number("periods");
        if (periods === undefined || !Number.isInteger(periods)) problems.periods = ["Enter how many periods in a row, from 1 to 24"];
        else body.periods = periods;
      } else {
        const threshold = number("threshold");
        const rate = this.kpis.find((kpi) => kpi.key === body.kpi)?.unit === "ratio";
        if (threshold === undefined || !Number.isFinite(threshold)) problems.threshold = ["Enter by how much the value must change, as a number such as 10"];
        else body.threshold = rate ? Number((threshold / 100).toFixed(8)) : threshold;
        body.direction = String(data.get("direction") || "worse") as AlertRuleChange["direction"];
      }
      if (Object.keys(problems).length) {
        // Said like the API's own answer, so that the summary and the fields show it the same way.
        this.error = new ApiError(422, "There is a problem", { json: problems });
        await this.updateComplete;
        this.renderRoot.querySelector<HTMLElement>("#ar-errors")?.focus();
        return;
      }
    }
    this.busy = true;
    this.error = null;
    this.notice = "";
    try {
      const rule = await api.post<AlertRule>(RULES, body);
      form.reset();
      this.kind = "clearly_red";
      this.kpi = "";
      this.rules = await api.get<AlertRule[]>(RULES);
      this.notice = `Added: ${rule.description}.`;
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      if (error instanceof ApiError) this.renderRoot.querySelector<HTMLElement>("#ar-errors")?.focus();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("kpi-admin-alerts", AdminAlerts);
