// The admin page's "Integration tokens" tab (/admin/tokens): tokens that let a script or another
// system use the API without anyone's login. Each has a role (the whole company, or chosen teams),
// what it may do (a named choice in words, or permissions one by one) and an end date. A new token
// is shown once; the list says when each was last used and revokes it at once.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { formatStamp } from "../format";
import { errorSummary, type Problem } from "../components/error-summary";
import { formLayout, shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type {
  IntegrationToken,
  IntegrationTokenPermission,
  IntegrationTokenScopes,
  IssuedIntegrationToken,
  Team,
} from "../types";

const TOKENS = "/api/v1/integration-tokens";
const ONE_BY_ONE = "one-by-one";
const STATUS_WORDS: Record<string, string> = { active: "Active", expired: "Expired", revoked: "Revoked" };
const DEFAULT_DAYS = 90;
const MAX_DAYS = 365;

/** The local calendar day ``days`` from today, as an <input type="date"> value. */
function dayFromToday(days: number): string {
  const day = new Date();
  day.setDate(day.getDate() + days);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;
}

/** The form's controls in order, with the API field each one answers for (for the error summary). */
const FIELDS: [string, string, string][] = [
  ["name", "tk-name", "Name"],
  ["role", "tk-role-admin", "Works for"],
  ["teams", "tk-teams", "Teams"],
  ["preset", "tk-scope", "What it may do"],
  ["scope", "tk-scope", "What it may do"],
  ["expires_at", "tk-expires", "Stops working on"],
];

export class AdminTokens extends LitElement {
  static styles = [
    shared,
    formLayout,
    css`
      .field input:not([type="radio"], [type="checkbox"]) {
        width: 100%;
        max-width: 28rem;
      }
      .error-summary,
      .shown-once {
        border: 4px solid var(--red-ink);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin-bottom: 1rem;
      }
      .shown-once {
        border-color: var(--green-ink);
      }
      .error-summary h3,
      .shown-once h3 {
        margin-top: 0;
      }
      .secret {
        font-family: ui-monospace, monospace;
        width: 100%;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
        margin-top: 0.5rem;
      }
      td .actions {
        margin-top: 0;
      }
    `,
  ];

  static properties = {
    tokens: { state: true },
    scopes: { state: true },
    teams: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
    issued: { state: true },
    role: { state: true },
    choice: { state: true },
    confirming: { state: true },
    copied: { state: true },
    busy: { state: true },
  };
  declare tokens: IntegrationToken[] | null;
  declare scopes: IntegrationTokenScopes | null;
  declare teams: Team[];
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;
  /** The token just made, shown this once. */
  declare issued: IssuedIntegrationToken | null;
  declare role: "admin" | "manager";
  /** The chosen preset's key, or ONE_BY_ONE. */
  declare choice: string;
  /** The token whose revocation is being confirmed. */
  declare confirming: number | null;
  declare copied: boolean;
  declare busy: boolean;

  constructor() {
    super();
    new TableBoxes(this);
    this.tokens = null;
    this.scopes = null;
    this.teams = [];
    this.problem = null;
    this.error = null;
    this.notice = "";
    this.issued = null;
    this.role = "admin";
    this.choice = "imports";
    this.confirming = null;
    this.copied = false;
    this.busy = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      const [tokens, scopes, teams] = await Promise.all([
        api.get<IntegrationToken[]>(TOKENS),
        this.scopes ? Promise.resolve(this.scopes) : api.get<IntegrationTokenScopes>(`${TOKENS}/scopes`),
        api.all<Team>("/api/v1/teams", { sort: "name" }),
      ]);
      this.tokens = tokens;
      this.scopes = scopes;
      this.teams = teams;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.tokens || !this.scopes) return loading();
    return html`<div class="grid">
      <section class="card">
        <h2>Integration tokens</h2>
        <p class="hint">
          A token lets a script or another system (your field-service software, a spreadsheet, a reporting tool) use
          Handyman KPI without anyone's login. Each one may do only what it was made for, and stops working on its end
          date or as soon as it is revoked. Make one for each script, so that each can be stopped on its own.
        </p>
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""}
        ${this.issued ? this.shownOnce(this.issued) : ""} ${this.list(this.tokens)}
      </section>
      <section class="card">
        <h2>New integration token</h2>
        ${this.form(this.scopes)}
      </section>
    </div>`;
  }

  private list(tokens: IntegrationToken[]): TemplateResult {
    if (!tokens.length) return empty("No integration tokens yet.", "Make one below for each script or system that sends or reads data.");
    return html`<div class="table-wrap cards">
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">What it may do</th>
            <th scope="col">Works for</th>
            <th scope="col">State</th>
            <th scope="col">Stops working</th>
            <th scope="col">Last used</th>
            <th scope="col"><span class="visually-hidden">Revoke</span></th>
          </tr>
        </thead>
        <tbody>
          ${tokens.map(
            (token) => html`<tr>
              <td>${token.name}<br /><span class="hint">Begins kpi_${token.prefix}</span></td>
              <td>${this.mayDo(token)}</td>
              <td>${token.role === "admin" ? "The whole company" : token.teams.join(", ")}</td>
              <td>${STATUS_WORDS[token.status] ?? token.status}</td>
              <td>${token.revoked_at ? `Revoked ${formatStamp(token.revoked_at)}` : formatStamp(token.expires_at)}</td>
              <td>${token.last_used_at ? formatStamp(token.last_used_at) : "Never"}</td>
              <td>${token.status === "revoked" ? "" : this.revoke(token)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  /** What a token may do, in words: its preset's label, or its permissions described one by one. */
  private mayDo(token: IntegrationToken): TemplateResult | string {
    const preset = this.scopes!.presets.find((candidate) => candidate.key === token.preset);
    if (preset) return preset.label;
    const words = new Map(this.scopes!.permissions.map((permission) => [permission.key, permission.description]));
    return html`<ul>
      ${token.scope.map((key) => html`<li>${words.get(key) ?? key}</li>`)}
    </ul>`;
  }

  private revoke(token: IntegrationToken): TemplateResult {
    if (this.confirming !== token.id)
      return html`<button class="secondary" @click=${() => (this.confirming = token.id)} aria-label="Revoke ${token.name}">
        Revoke
      </button>`;
    return html`<div class="actions" role="group" aria-label="Revoke ${token.name}?">
      <span>Anything using it stops at once.</span>
      <button @click=${() => this.revokeNow(token)} ?disabled=${this.busy}>Revoke now</button>
      <button class="secondary" @click=${() => (this.confirming = null)}>Keep it</button>
    </div>`;
  }

  private async revokeNow(token: IntegrationToken): Promise<void> {
    this.busy = true;
    try {
      await request<IntegrationToken>("DELETE", `${TOKENS}/${token.id}`);
      this.notice = `${token.name} is revoked: anything using it is refused from now on.`;
      this.confirming = null;
      await this.load();
    } catch (error) {
      this.problem = error;
    } finally {
      this.busy = false;
    }
  }

  private shownOnce(issued: IssuedIntegrationToken): TemplateResult {
    const copy = async () => {
      await navigator.clipboard.writeText(issued.token);
      this.copied = true;
    };
    return html`<div class="shown-once" id="shown-once" tabindex="-1">
      <h3>Copy the token for ${issued.name} now</h3>
      <p>It is shown only this once: Handyman KPI keeps a fingerprint of it, not the token, so it cannot show it again. If it is lost, revoke it and make another.</p>
      <div class="field">
        <label for="tk-issued">Token</label>
        <input id="tk-issued" class="secret" readonly .value=${issued.token} @focus=${(event: FocusEvent) => (event.target as HTMLInputElement).select()} />
        <p class="hint">The script sends it in the header <code>Authorization: Bearer</code> followed by the token.</p>
      </div>
      <div class="actions">
        <button @click=${copy}>Copy the token</button>
        <button class="secondary" @click=${() => ((this.issued = null), (this.copied = false))}>I have copied it</button>
        <span role="status">${this.copied ? "Copied." : ""}</span>
      </div>
    </div>`;
  }

  private err(field: string): TemplateResult | string {
    const message = fieldError(this.error, field);
    return message ? html`<p class="field-error" id="${field}-error">${message}</p>` : "";
  }

  private invalid(...fields: string[]): string {
    return fields.some((field) => fieldError(this.error, field)) ? "field invalid" : "field";
  }

  private summary(): TemplateResult | string {
    const problems: Problem[] = FIELDS.filter(([field]) => fieldError(this.error, field)).map(([field, target, label]) => [
      `${label}: ${fieldError(this.error, field)}`,
      target,
    ]);
    return errorSummary(this.error, problems, { id: "tk-errors", title: "The token was not made" });
  }

  private permissionsFor(role: string): IntegrationTokenPermission[] {
    return this.scopes!.permissions.filter((permission) => permission.roles.includes(role));
  }

  private form(scopes: IntegrationTokenScopes): TemplateResult {
    const presets = scopes.presets.filter((preset) => (preset.permissions[this.role] ?? []).length);
    return html`${this.summary()}
      <form @submit=${this.submit} novalidate>
        <div class=${this.invalid("name")}>
          <label for="tk-name">Name</label>
          <p class="hint" id="tk-name-hint">What it is for, for example "Nightly job import from Housecall Pro".</p>
          ${this.err("name")}
          <input id="tk-name" name="name" maxlength="100" autocomplete="off" aria-describedby="tk-name-hint" />
        </div>
        <fieldset class=${this.invalid("role")}>
          <legend>Works for</legend>
          ${this.err("role")}
          <div class="choice">
            <label><input type="radio" id="tk-role-admin" name="role" value="admin" .checked=${this.role === "admin"} @change=${() => (this.role = "admin")} /> The whole company</label>
          </div>
          <div class="choice">
            <label><input type="radio" name="role" value="manager" .checked=${this.role === "manager"} @change=${() => (this.role = "manager")} /> Chosen teams only, as their manager would</label>
          </div>
        </fieldset>
        ${this.role === "manager"
          ? html`<fieldset class=${this.invalid("teams")} id="tk-teams" tabindex="-1">
              <legend>Teams</legend>
              <p class="hint">It sees only these teams' technicians, jobs and feedback.</p>
              ${this.err("teams")}
              ${this.teams.length
                ? this.teams.map((team) => html`<div class="choice"><label><input type="checkbox" name="teams" value=${team.name} /> ${team.name}</label></div>`)
                : html`<p>No teams yet: add one on the Teams tab first.</p>`}
            </fieldset>`
          : ""}
        <fieldset class=${this.invalid("preset", "scope")} id="tk-scope" tabindex="-1">
          <legend>What it may do</legend>
          ${this.err("preset")} ${this.err("scope")}
          ${presets.map(
            (preset) => html`<div class="choice">
              <label><input type="radio" name="choice" value=${preset.key} .checked=${this.choice === preset.key} @change=${() => (this.choice = preset.key)} /> ${preset.label}</label>
              <p class="hint">${preset.description}</p>
            </div>`,
          )}
          <div class="choice">
            <label><input type="radio" name="choice" value=${ONE_BY_ONE} .checked=${this.choice === ONE_BY_ONE} @change=${() => (this.choice = ONE_BY_ONE)} /> Choose one by one</label>
          </div>
          ${this.choice === ONE_BY_ONE
            ? html`<fieldset>
                <legend class="visually-hidden">Everything it may do</legend>
                ${this.permissionsFor(this.role).map(
                  (permission) => html`<div class="choice"><label><input type="checkbox" name="scope" value=${permission.key} /> ${permission.description}</label></div>`,
                )}
              </fieldset>`
            : ""}
        </fieldset>
        <div class=${this.invalid("expires_at")}>
          <label for="tk-expires">Stops working on</label>
          <p class="hint" id="tk-expires-hint">At most a year from today. Make a new one before then.</p>
          ${this.err("expires_at")}
          <input id="tk-expires" name="expires_at" type="date" min=${dayFromToday(1)} max=${dayFromToday(MAX_DAYS)} value=${dayFromToday(DEFAULT_DAYS)} aria-describedby="tk-expires-hint" />
        </div>
        <button type="submit" ?disabled=${this.busy}>Make the token</button>
      </form>`;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const day = String(data.get("expires_at") || "");
    const body: Record<string, unknown> = {
      name: String(data.get("name") || ""),
      role: this.role,
      // The end of the chosen day, where the browser is.
      expires_at: day ? new Date(`${day}T23:59:59`).toISOString() : undefined,
    };
    if (this.role === "manager") body.teams = data.getAll("teams").map(String);
    if (this.choice === ONE_BY_ONE) body.scope = data.getAll("scope").map(String);
    else body.preset = this.choice;
    this.busy = true;
    this.error = null;
    this.notice = "";
    try {
      this.issued = await api.post<IssuedIntegrationToken>(TOKENS, body);
      this.copied = false;
      form.reset();
      this.role = "admin";
      this.choice = "imports";
      await this.load();
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>("#shown-once")?.focus();
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      if (error instanceof ApiError) this.renderRoot.querySelector<HTMLElement>("#tk-errors")?.focus();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("kpi-admin-tokens", AdminTokens);
