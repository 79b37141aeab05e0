// The admin page's "Permissions" tab (/admin/permissions): what each role may do. The permissions
// installed extensions add can be given to, or taken from, managers and technicians (admins always
// have them); the built-in ones are fixed and listed for reference.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { formatRole } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { Permission } from "../types";

const PERMISSIONS = "/api/v1/permissions";
const CHOOSABLE = ["manager", "technician"] as const;

function rolesInWords(roles: readonly string[]): string {
  const ordered = ["admin", "manager", "technician"].filter((role) => roles.includes(role));
  return ordered.map((role) => `${formatRole(role)}s`).join(", ") || "Nobody";
}

export class AdminPermissions extends LitElement {
  static styles = [
    shared,
    css`
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      fieldset {
        border: 1px solid var(--line, #d0d7de);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin: 0 0 1rem;
        min-width: 0;
      }
      legend {
        font-weight: 600;
        padding: 0 0.25rem;
      }
      .roles {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem 1.5rem;
        align-items: center;
      }
      .roles label {
        display: inline-flex;
        align-items: center;
        gap: 0.5rem;
        min-height: var(--target);
      }
    `,
  ];

  static properties = {
    permissions: { state: true },
    problem: { state: true },
    errors: { state: true },
    notice: { state: true },
  };
  declare permissions: Permission[] | null;
  declare problem: unknown;
  declare errors: Map<string, string>;
  declare notice: string;

  constructor() {
    super();
    new TableBoxes(this);
    this.permissions = null;
    this.problem = null;
    this.errors = new Map();
    this.notice = "";
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.permissions = await api.get<Permission[]>(PERMISSIONS);
      this.problem = null;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.permissions) return loading();
    const added = this.permissions.filter((permission) => permission.editable);
    const builtIn = this.permissions.filter((permission) => !permission.editable);
    return html`<div class="grid">
      <section class="card">
        <h2>Added by installed extensions</h2>
        ${this.summary(added)}
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""}
        <p class="hint">Admins always have these. Choose who else does; a change applies at each person's next page.</p>
        ${added.length
          ? added.map((permission, index) => this.editable(permission, index))
          : empty("No installed extension adds a permission.", "Extensions that add pages or data of their own can add one.")}
      </section>
      <section class="card">
        <h2>Built in</h2>
        <p class="hint">These are fixed: each role has what its work needs.</p>
        <details>
          <summary>What each role may do (${builtIn.length} permissions)</summary>
          <div class="table-wrap cards">
            <table>
              <thead><tr><th scope="col">What it allows</th><th scope="col">Who has it</th></tr></thead>
              <tbody>
                ${builtIn.map((permission) => html`<tr>
                  <td>${permission.label}</td>
                  <td>${rolesInWords(permission.roles)}</td>
                </tr>`)}
              </tbody>
            </table>
          </div>
        </details>
      </section>
    </div>`;
  }

  /** GOV.UK's error summary: every problem, each a link to its permission's first box. */
  private summary(added: Permission[]): TemplateResult | string {
    if (!this.errors.size) return "";
    return html`<div class="error-summary" role="alert" tabindex="-1">
      <h3>There is a problem</h3>
      <ul>
        ${added.map((permission, index) => {
          const message = this.errors.get(permission.key);
          return message
            ? html`<li><a href="#p-${index}-manager" @click=${(event: Event) => this.focusField(event, `p-${index}-manager`)}>${permission.label}: ${message}</a></li>`
            : "";
        })}
      </ul>
    </div>`;
  }

  private editable(permission: Permission, index: number): TemplateResult {
    const error = this.errors.get(permission.key);
    return html`<form @submit=${(event: SubmitEvent) => this.save(event, permission)} novalidate>
      <fieldset aria-describedby="p-${index}-hint${error ? ` p-${index}-error` : ""}" class=${error ? "invalid" : ""}>
        <legend>${permission.label}</legend>
        <p class="hint" id="p-${index}-hint">As installed: ${rolesInWords(permission.default_roles)}.</p>
        ${error ? html`<p class="field-error" id="p-${index}-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
        <div class="roles">
          ${CHOOSABLE.map((role) => html`<label>
            <input type="checkbox" id="p-${index}-${role}" name="roles" value=${role} .checked=${permission.roles.includes(role)} />
            ${formatRole(role)}s
          </label>`)}
          <button type="submit" class="secondary">Save<span class="visually-hidden"> who may ${permission.label.toLowerCase()}</span></button>
        </div>
      </fieldset>
    </form>`;
  }

  private focusField(event: Event, target: string): void {
    event.preventDefault();
    this.renderRoot.querySelector<HTMLElement>(`#${target}`)?.focus();
  }

  private async save(event: SubmitEvent, permission: Permission): Promise<void> {
    event.preventDefault();
    const roles = new FormData(event.target as HTMLFormElement).getAll("roles").map(String);
    const errors = new Map(this.errors);
    errors.delete(permission.key);
    this.notice = "";
    try {
      await request("PUT", `${PERMISSIONS}/${encodeURIComponent(permission.key)}`, { json: { roles } });
      this.errors = errors;
      this.notice = `Saved: ${rolesInWords(["admin", ...roles])} may ${permission.label.toLowerCase()}.`;
      await this.load();
    } catch (error) {
      const fields = error instanceof ApiError ? error.fields : {};
      errors.set(permission.key, fields.roles ?? (error instanceof Error ? error.message : String(error)));
      this.errors = errors;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(".error-summary")?.focus();
    }
  }
}

customElements.define("kpi-admin-permissions", AdminPermissions);
