// Administration: users, teams, targets and weights, plugins (with their load errors and
// settings), background jobs and integration tokens (admin-tokens.ts). Each tab is its own URL
// (/admin/<tab>).
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, ApiError, request } from "../api";
import { catalog } from "../catalog";
import { ROLES, companySettings, formatNumber, formatRole, formatRunStatus, formatStamp, isMoney, wordsOf } from "../format";
import { shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import { describeCron } from "../schedule-words";
import "./admin-tokens";
import type { BackgroundJob, JobRun, Me, MetricTargets, PluginList, PluginSetting, Team, User } from "../types";

const TABS: [string, string][] = [
  ["users", "Users"],
  ["teams", "Teams"],
  ["targets", "Targets"],
  ["plugins", "Plugins"],
  ["jobs", "Background jobs"],
  ["tokens", "Integration tokens"],
];

/** What a plugin adds, counted in words ("3 KPIs, 2 dashboard widgets"), never by hook or key. */
const CONTRIBUTION_NOUNS: Record<string, [string, string]> = {
  kpi_metrics: ["KPI", "KPIs"],
  kpi_form_fields: ["evaluation question", "evaluation questions"],
  kpi_report_formats: ["report format", "report formats"],
  kpi_jobs: ["background job", "background jobs"],
  kpi_widgets: ["dashboard widget", "dashboard widgets"],
  kpi_settings: ["setting", "settings"],
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
      .with-unit {
        display: inline-flex;
        align-items: center;
        gap: 0.3rem;
      }
      .targets .field {
        margin-bottom: 0;
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
    rowErrors: { state: true },
    rowSaved: { state: true },
  };
  declare tab: string;
  declare user: Me;
  declare data: Record<string, unknown> | null;
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;
  /** Targets form: each row's problems by field (green, amber, weight), and the row just saved. */
  declare rowErrors: Map<string, Record<string, string>>;
  declare rowSaved: string;

  constructor() {
    super();
    new TableBoxes(this);
    this.tab = "users";
    this.data = null;
    this.problem = null;
    this.error = null;
    this.notice = "";
    this.rowErrors = new Map();
    this.rowSaved = "";
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
          this.data = { targets: await api.get<MetricTargets[]>("/api/v1/targets") };
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
        return this.targets(this.data!.targets as MetricTargets[]);
      case "plugins":
        return this.plugins(this.data!.listing as PluginList, this.data!.settings as PluginSetting[] | null);
      case "jobs":
        return this.jobs(this.data!.jobs as BackgroundJob[], this.data!.runs as JobRun[]);
      case "tokens":
        return html`<kpi-admin-tokens></kpi-admin-tokens>`;
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
              <tr><th scope="col">Username</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Disabled</th><th scope="col">Last login</th></tr>
            </thead>
            <tbody>
              ${users.map(
                (u) => html`<tr>
                  <td>${u.username}</td><td>${u.display_name ?? "–"}</td><td>${formatRole(u.role)}</td><td>${u.disabled ? "Yes" : "No"}</td>
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

  private targets(targets: MetricTargets[]): TemplateResult {
    return html`<section class="card">
      <h2>Company targets and weights</h2>
      <p class="hint">
        Per KPI: the value from which it is on target (green), the value past which it is off target (amber; in
        between it is close), and its weight in the scorecard (0 leaves it out of the score). Rates are entered in
        per cent.
      </p>
      <div class="table-wrap cards">
        <table class="targets">
          <thead>
            <tr>
              <th scope="col">KPI</th>
              <th scope="col">Green: on target from</th>
              <th scope="col">Amber: off target past</th>
              <th scope="col">Weight</th>
              <th scope="col">Set by</th>
              <th scope="col"><span class="visually-hidden">Save</span></th>
            </tr>
          </thead>
          <tbody>
            ${targets.map((metric) => this.targetRow(metric))}
          </tbody>
        </table>
      </div>
    </section>`;
  }

  private targetRow(metric: MetricTargets): TemplateResult {
    const key = metric.metric_key;
    const form = `target-${key}`;
    const rate = metric.unit === "ratio";
    const errors = this.rowErrors.get(key) ?? {};
    // A rate's thresholds are shown (and typed) in per cent; a weight is a plain number.
    const shown = (value: number | undefined, percent: boolean) =>
      value === undefined ? "" : percent ? String(Number((value * 100).toFixed(6))) : String(value);
    const input = (name: "green" | "amber" | "weight", label: string, value: number | undefined) => {
      const id = `${name[0]}-${key}`;
      const error = errors[name];
      const percent = rate && name !== "weight";
      const unit = name === "weight" ? "" : rate ? "%" : isMoney(metric) ? companySettings().currency : metric.unit;
      return html`<td class=${error ? "field invalid" : "field"}>
        <label class="visually-hidden" for=${id}>${label} for ${metric.label}${rate && name !== "weight" ? ", in per cent" : ""}</label>
        <span class="with-unit">
          <input id=${id} name=${name} form=${form} type="text" inputmode="decimal" autocomplete="off" .value=${shown(value, percent)}
            aria-invalid=${error ? "true" : "false"} aria-describedby=${error ? `${id}-error` : ""} />
          ${unit ? html`<span class="unit" aria-hidden="true">${unit}</span>` : ""}
        </span>
        ${error ? html`<p class="field-error" id="${id}-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
      </td>`;
    };
    const saved = this.rowSaved === key;
    return html`<tr data-target=${key}>
      <td>
        <form id=${form} @submit=${(e: SubmitEvent) => this.saveTarget(e, metric)} novalidate></form>
        <strong>${metric.label}</strong>
        <div class="hint">${metric.direction === "lower" ? "Lower is better" : "Higher is better"}</div>
      </td>
      ${input("green", "Green", metric.company?.green)} ${input("amber", "Amber", metric.company?.amber)}
      ${input("weight", "Weight", metric.company?.weight)}
      <td>${metric.company?.source === "stored" ? "An admin" : "The default"}</td>
      <td>
        <button type="submit" form=${form}>Save<span class="visually-hidden"> ${metric.label}</span></button>
        ${saved ? html`<p class="hint" role="status">Saved.</p>` : ""}
      </td>
    </tr>`;
  }

  /** The row's numbers as the API takes them (rates typed in % become 0-1), or each field's problem. */
  private targetBody(metric: MetricTargets, data: FormData): { body?: Record<string, number>; errors: Record<string, string> } {
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
    if (Object.keys(errors).length) return { errors };
    const share = (value: number) => (rate ? Number((value / 100).toFixed(8)) : value);
    return { body: { green: share(green), amber: share(amber), weight }, errors };
  }

  private async saveTarget(event: SubmitEvent, metric: MetricTargets): Promise<void> {
    event.preventDefault();
    const key = metric.metric_key;
    const { body, errors } = this.targetBody(metric, new FormData(event.target as HTMLFormElement));
    this.rowSaved = "";
    this.rowErrors = new Map(this.rowErrors).set(key, errors);
    if (!body) return this.focusFirstError(key);
    const etag = metric.company?.source === "stored" ? metric.company.etag : null;
    try {
      await request("PUT", `/api/v1/targets/${encodeURIComponent(key)}`, { json: body, headers: etag ? { "If-Match": etag } : {} });
      catalog.forget("targets");
      this.data = { targets: await api.get<MetricTargets[]>("/api/v1/targets") };
      this.rowSaved = key;
    } catch (error) {
      const fields = error instanceof ApiError ? error.fields : {};
      const named = Object.fromEntries(["green", "amber", "weight"].filter((name) => fields[name]).map((name) => [name, fields[name]]));
      // A problem the API names on no field of the row (the ETag, a lost connection) goes beside Save.
      if (!Object.keys(named).length) named.weight = error instanceof Error ? error.message : String(error);
      this.rowErrors = new Map(this.rowErrors).set(key, named);
      this.focusFirstError(key);
    }
  }

  private async focusFirstError(key: string): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`tr[data-target="${key}"] [aria-invalid="true"]`)?.focus();
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
