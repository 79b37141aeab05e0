// Administration: users, teams, targets and weights, plugins (with their load errors and
// settings), background jobs, integration tokens (admin-tokens.ts), messages sent
// (admin-messages.ts), webhooks (admin-webhooks.ts), alert rules (admin-alerts.ts) and evaluators'
// calibration (admin-calibration.ts) and permissions (admin-permissions.ts). Each tab is its own URL (/admin/<tab>).
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, request } from "../api";
import { catalog } from "../catalog";
import { ROLES, formatNumber, formatRole, formatRunStatus, formatStamp, wordsOf } from "../format";
import { shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import { describeCron } from "../schedule-words";
import "./admin-alerts";
import "./admin-calibration";
import "./admin-messages";
import "./admin-periods";
import "./admin-permissions";
import "./admin-targets";
import "./admin-tokens";
import "./admin-webhooks";
import type { BackgroundJob, JobRun, Me, PluginList, PluginSetting, Team, User } from "../types";

const TABS: [string, string][] = [
  ["users", "Users"],
  ["teams", "Teams"],
  ["targets", "Targets"],
  ["months", "Closed months"],
  ["plugins", "Plugins"],
  ["permissions", "Permissions"],
  ["jobs", "Background jobs"],
  ["tokens", "Integration tokens"],
  ["messages", "Messages sent"],
  ["webhooks", "Webhooks"],
  ["alerts", "Alert rules"],
  ["calibration", "Evaluators"],
];

/** What a plugin adds, counted in words ("3 KPIs, 2 dashboard widgets"), never by hook or key. */
const CONTRIBUTION_NOUNS: Record<string, [string, string]> = {
  kpi_metrics: ["KPI", "KPIs"],
  kpi_form_fields: ["evaluation question", "evaluation questions"],
  kpi_report_formats: ["report format", "report formats"],
  kpi_jobs: ["background job", "background jobs"],
  kpi_widgets: ["dashboard widget", "dashboard widgets"],
  kpi_settings: ["setting", "settings"],
  kpi_notification_channels: ["way of sending messages", "ways of sending messages"],
  kpi_alert_rules: ["alert rule", "alert rules"],
};

function contributionsInWords(contributes: Record<string, string[]>): string {
  const parts = Object.entries(contributes)
    .filter(([, keys]) => keys.length)
    .map(([hook, keys]) => {
      const [one, many] = CONTRIBUTION_NOUNS[hook] ?? ["other addition", "other additions"];
      return `${keys.length} ${keys.length === 1 ? one : many}`;
    });
  return parts.length ? parts.join(", ") : "Nothing shown here";
}

/** Where loading a plugin failed, in words (the stages kpi_core/plugins.py reports). */
const STAGE_WORDS: Record<string, string> = {
  config: "The server's settings",
  compatibility: "Not made for this version",
  import: "Loading its code",
  register: "Registering it",
  declaration: "Reading what it adds",
  migrations: "Updating the database",
  duplicate: "A name another plugin uses",
  startup: "Starting up",
};

export class AdminPage extends LitElement {
  static styles = [
    shared,
    css`
      .tabs {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
        margin-bottom: 1rem;
        border-bottom: 2px solid var(--border);
      }
      .tabs a {
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
        padding: 0.5rem 0.8rem;
        text-decoration: none;
        border-radius: 6px 6px 0 0;
      }
      .tabs a[aria-current="page"] {
        background: var(--accent);
        color: var(--on-accent);
      }
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      .row > .field {
        flex: 1 1 12rem;
      }
      .row > .field:has(button) {
        flex: 0 0 auto;
      }
      .row > .field input,
      .row > .field select {
        width: 100%;
      }
      td input {
        width: 6.5rem;
      }
      td form.row {
        gap: 0.5rem;
        align-items: center;
      }
    `,
  ];

  static properties = {
    tab: { attribute: false },
    user: { attribute: false },
    data: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
  };
  declare tab: string;
  declare user: Me;
  declare data: Record<string, unknown> | null;
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;

  constructor() {
    super();
    new TableBoxes(this);
    this.tab = "users";
    this.data = null;
    this.problem = null;
    this.error = null;
    this.notice = "";
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("tab")) {
      this.error = null;
      this.notice = "";
      void this.load();
    }
  }

  private async load(): Promise<void> {
    this.data = null;
    this.problem = null;
    try {
      switch (this.tab) {
        case "teams":
          this.data = { teams: await api.all<Team>("/api/v1/teams", { sort: "name" }) };
          break;
        case "targets":
        case "months":
          this.data = {}; // the tab loads what it shows itself
          break;
        case "plugins": {
          const [listing, settings] = await Promise.all([
            api.get<PluginList>("/api/v1/plugins"),
            api.get<PluginSetting[]>("/api/v1/plugins/settings").catch(() => null),
          ]);
          this.data = { listing, settings };
          break;
        }
        case "jobs": {
          const [jobs, runs] = await Promise.all([
            api.get<BackgroundJob[]>("/api/v1/background-jobs"),
            api.page<JobRun>("/api/v1/job-runs", { page_size: 20 }),
          ]);
          this.data = { jobs, runs: runs.items };
          break;
        }
        case "tokens":
        case "messages":
        case "webhooks":
        case "alerts":
        case "calibration":
        case "permissions":
          this.data = {}; // the tab loads what it shows itself
          break;
        default:
          this.data = { users: await api.all<User>("/api/v1/users") };
      }
    } catch (error) {
      this.problem = error;
    }
  }

  /** Run a change; show the API's error (at the fields) or reload the tab. */
  private async change(action: () => Promise<unknown>, notice: string, form?: HTMLFormElement): Promise<void> {
    this.error = null;
    try {
      await action();
      this.notice = notice;
      form?.reset();
      catalog.forget();
      await this.load();
    } catch (error) {
      this.error = error;
    }
  }

  private err(path: string): TemplateResult | string {
    const message = fieldError(this.error, path);
    return message ? html`<p class="field-error">${message}</p>` : "";
  }

  render(): TemplateResult {
    if (this.user.role !== "admin") return html`<h1>Administration</h1><p class="state error" role="alert">Admins only.</p>`;
    return html`<h1>Administration</h1>
      <nav class="tabs" aria-label="Administration">
        ${TABS.map(([tab, label]) => html`<a href="/admin/${tab}" aria-current=${tab === this.tab ? "page" : "false"}>${label}</a>`)}
      </nav>
      ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""}
      ${this.error instanceof Error ? html`<div class="state error" role="alert">${this.error.message}</div>` : ""}
      ${this.problem ? failed(this.problem, () => this.load()) : !this.data ? loading() : this.body()}`;
  }

  private body(): TemplateResult {
    switch (this.tab) {
      case "teams":
        return this.teams(this.data!.teams as Team[]);
      case "targets":
        return html`<kpi-admin-targets></kpi-admin-targets>`;
      case "months":
        return html`<kpi-admin-periods></kpi-admin-periods>`;
      case "plugins":
        return this.plugins(this.data!.listing as PluginList, this.data!.settings as PluginSetting[] | null);
      case "jobs":
        return this.jobs(this.data!.jobs as BackgroundJob[], this.data!.runs as JobRun[]);
      case "tokens":
        return html`<kpi-admin-tokens></kpi-admin-tokens>`;
      case "messages":
        return html`<kpi-admin-messages></kpi-admin-messages>`;
      case "webhooks":
        return html`<kpi-admin-webhooks></kpi-admin-webhooks>`;
      case "alerts":
        return html`<kpi-admin-alerts></kpi-admin-alerts>`;
      case "calibration":
        return html`<kpi-admin-calibration></kpi-admin-calibration>`;
      case "permissions":
        return html`<kpi-admin-permissions></kpi-admin-permissions>`;
      default:
        return this.users(this.data!.users as User[]);
    }
  }

  private users(users: User[]): TemplateResult {
    const create = (event: SubmitEvent) => {
      event.preventDefault();
      const form = event.target as HTMLFormElement;
      const data = new FormData(form);
      const teams = String(data.get("teams") || "").split(",").map((t) => t.trim()).filter(Boolean);
      const body = {
        username: data.get("username"),
        password: data.get("password"),
        role: data.get("role"),
        display_name: data.get("display_name") || undefined,
        technician_ref: data.get("technician_ref") || undefined,
        email: data.get("email") || undefined,
        teams: teams.length ? teams : undefined,
        must_change_password: true,
      };
      void this.change(() => api.post("/api/v1/users", body), `User ${body.username} created.`, form);
    };
    return html`<div class="grid">
      <section class="card">
        <h2>Users</h2>
        <div class="table-wrap cards">
          <table>
            <thead>
              <tr><th scope="col">Username</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">E-mail</th><th scope="col">Disabled</th><th scope="col">Last login</th></tr>
            </thead>
            <tbody>
              ${users.map(
                (u) => html`<tr>
                  <td>${u.username}</td><td>${u.display_name ?? "–"}</td><td>${formatRole(u.role)}</td><td>${u.email ?? "–"}</td><td>${u.disabled ? "Yes" : "No"}</td>
                  <td>${formatStamp(u.last_login_at)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>
      </section>
      <section class="card">
        <h2>New user</h2>
        <form class="row" @submit=${create} novalidate>
          <div class="field"><label for="u-name">Username</label><input id="u-name" name="username" autocomplete="off" />${this.err("username")}</div>
          <div class="field"><label for="u-display">Name</label><input id="u-display" name="display_name" />${this.err("display_name")}</div>
          <div class="field"><label for="u-password">Temporary password</label><input id="u-password" name="password" type="password" autocomplete="new-password" />${this.err("password")}</div>
          <div class="field">
            <label for="u-role">Role</label>
            <select id="u-role" name="role">${ROLES.map((role) => html`<option value=${role}>${formatRole(role)}</option>`)}</select>${this.err("role")}
          </div>
          <div class="field"><label for="u-email">E-mail address (digests and alerts)</label><input id="u-email" name="email" type="email" autocomplete="off" />${this.err("email")}</div>
          <div class="field"><label for="u-tech">Technician reference</label><input id="u-tech" name="technician_ref" />${this.err("technician_ref")}${this.err("technician")}</div>
          <div class="field"><label for="u-teams">Teams managed (comma-separated)</label><input id="u-teams" name="teams" />${this.err("teams")}</div>
          <div class="field"><button type="submit">Create user</button></div>
        </form>
      </section>
    </div>`;
  }

  private teams(teams: Team[]): TemplateResult {
    const create = (event: SubmitEvent) => {
      event.preventDefault();
      const form = event.target as HTMLFormElement;
      const name = new FormData(form).get("name");
      void this.change(() => api.post("/api/v1/teams", { name }), `Team ${name} created.`, form);
    };
    return html`<section class="card">
      <h2>Teams</h2>
      ${teams.length
        ? html`<ul>${teams.map((team) => html`<li>${team.name}</li>`)}</ul>`
        : empty(
            "No teams yet.",
            "Add a team below. Managers then see the teams they manage, and technicians are compared with their team.",
          )}
      <form class="row" @submit=${create} novalidate>
        <div class="field"><label for="t-name">New team</label><input id="t-name" name="name" />${this.err("name")}</div>
        <div class="field"><button type="submit">Add team</button></div>
      </form>
    </section>`;
  }

  private plugins(listing: PluginList, settings: PluginSetting[] | null): TemplateResult {
    const saveSetting = (event: SubmitEvent, setting: PluginSetting) => {
      event.preventDefault();
      const raw = String(new FormData(event.target as HTMLFormElement).get("value") ?? "");
      const value = setting.type === "integer" || setting.type === "number" ? Number(raw) : setting.type === "boolean" ? raw === "true" : raw;
      void this.change(
        () => request("PUT", `/api/v1/plugins/settings/${encodeURIComponent(setting.key)}`, { json: { value } }),
        `${setting.label} saved.`,
      );
    };
    return html`<div class="grid">
      <section class="card">
        <h2>Load errors</h2>
        ${listing.problems.length
          ? html`<div class="table-wrap cards"><table class="problems">
              <thead><tr><th scope="col">Plugin</th><th scope="col">What failed</th><th scope="col">Reason</th></tr></thead>
              <tbody>${listing.problems.map((p) => html`<tr><td>${p.name}</td><td data-stage=${p.stage}>${STAGE_WORDS[p.stage] ?? wordsOf(p.stage)}</td><td>${p.reason}</td></tr>`)}</tbody>
            </table></div>`
          : empty("Every plugin loaded.")}
      </section>
      <section class="card">
        <h2>Installed plugins</h2>
        <div class="table-wrap cards">
          <table>
            <thead><tr><th scope="col">Plugin</th><th scope="col">Version</th><th scope="col">Contributes</th></tr></thead>
            <tbody>
              ${listing.plugins.map(
                (p) => html`<tr>
                  <td>${p.name}${p.builtin ? html` <span class="badge">built in</span>` : ""}</td>
                  <td>${p.version}</td>
                  <td>${contributionsInWords(p.contributes)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>
      </section>
      ${settings
        ? html`<section class="card">
            <h2>Plugin settings</h2>
            ${settings.length
              ? html`<div class="table-wrap cards"><table>
                  <thead><tr><th scope="col">Setting</th><th scope="col">Value</th><th scope="col">Default</th></tr></thead>
                  <tbody>
                    ${settings.map(
                      (s) => html`<tr>
                        <td>${s.label}<div class="hint">${s.description}</div>
                          ${s.problem ? html`<p class="field-error">${s.problem}</p>` : ""}</td>
                        <td>
                          <form class="row" @submit=${(e: SubmitEvent) => saveSetting(e, s)} novalidate>
                            <label class="visually-hidden" for="s-${s.key}">${s.label}</label>
                            ${s.choices.length
                              ? html`<select id="s-${s.key}" name="value">${s.choices.map((c) => html`<option ?selected=${c === s.value}>${c}</option>`)}</select>`
                              : html`<input id="s-${s.key}" name="value" .value=${String(s.value ?? "")} />`}
                            <span class="hint">${s.unit}</span>
                            <button type="submit">Save</button>
                          </form>
                        </td>
                        <td>${typeof s.default === "number" ? formatNumber(s.default) : String(s.default)} ${s.unit}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table></div>
                ${this.err("value")}`
              : empty("No plugin declares settings.")}
          </section>`
        : ""}
    </div>`;
  }

  private jobs(jobs: BackgroundJob[], runs: JobRun[]): TemplateResult {
    const run = (job: BackgroundJob) =>
      this.change(() => api.post("/api/v1/job-runs", { job_key: job.key }), `${job.label} queued.`);
    return html`<div class="grid">
      <section class="card">
        <h2>Background jobs</h2>
        ${jobs.length
          ? html`<div class="table-wrap cards"><table>
              <thead><tr><th scope="col">Job</th><th scope="col">Default schedule</th><th scope="col"></th></tr></thead>
              <tbody>
                ${jobs.map(
                  (job) => html`<tr>
                    <td>${job.label}</td><td>${job.schedule ? describeCron(job.schedule) : "–"}</td>
                    <td><button class="secondary" @click=${() => run(job)}>Run now</button></td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`
          : empty("No background jobs are declared.")}
      </section>
      <section class="card">
        <h2>Recent runs</h2>
        ${runs.length
          ? html`<div class="table-wrap cards"><table>
              <thead><tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col" class="num">Progress</th><th scope="col">Requested</th><th scope="col">Finished</th><th scope="col">Error</th></tr></thead>
              <tbody>
                ${runs.map(
                  (r) => html`<tr>
                    <td>${jobs.find((job) => job.key === r.job_key)?.label ?? "A job no longer installed"}</td><td>${formatRunStatus(r.status)}</td><td class="num">${r.progress} %</td>
                    <td>${formatStamp(r.created_at)}${r.requested_by ? ` by ${r.requested_by}` : ""}</td>
                    <td>${formatStamp(r.finished_at)}</td><td>${r.error ?? ""}</td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`
          : empty("No runs yet.")}
        <p><button class="secondary" @click=${() => this.load()}>Refresh</button></p>
      </section>
    </div>`;
  }
}

customElements.define("kpi-admin-page", AdminPage);
