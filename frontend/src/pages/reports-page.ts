// Reports: request one (PDF, CSV, ... from the report-format plugins), follow its progress,
// download it; the list of earlier reports; and the report schedules.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api, download, request } from "../api";
import { catalog } from "../catalog";
import { addDays, defaultFilters } from "../filters";
import { companySettings, formatCount, formatStamp, zoneName } from "../format";
import { MONTHDAYS, WEEKDAYS, cronFromWords, describeCron, type Frequency } from "../schedule-words";
import { shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { KpiDefinition, Me, Report, ReportFormat, Schedule, Team, Technician } from "../types";

const POLL_MS = 1000;
/** A report's state as its reader says it. */
const STATUS_WORDS: Record<string, string> = { queued: "Waiting", running: "Being made", finished: "Ready", failed: "Failed" };
const ROWS_BY: [string, string][] = [
  ["technician", "Technician"],
  ["team", "Team"],
  ["category", "Job category"],
  ["company", "Whole company (one row per period)"],
];
const PERIODS: [string, string][] = [
  ["week", "Week"],
  ["month", "Month"],
  ["quarter", "Quarter"],
  ["year", "Year"],
];

export class ReportsPage extends LitElement {
  static styles = [
    shared,
    css`
      .sections {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      form .row {
        margin-bottom: 0.9rem;
      }
      .row > .field {
        flex: 1 1 9rem;
      }
      .row > .field:has(button) {
        flex: 0 0 auto;
      }
      .row > .field:has(select[multiple]) {
        flex-basis: 16rem;
      }
      .row select,
      .row input {
        width: 100%;
      }
      /* A list of choices as tall as its options, up to about seven of them. */
      select[multiple] {
        field-sizing: content;
        max-height: 10rem;
      }
      td button + button {
        margin-left: 0.5rem;
      }
      td:has(button) {
        white-space: nowrap;
      }
    `,
  ];

  static properties = {
    params: { attribute: false },
    user: { attribute: false },
    kpis: { state: true },
    teams: { state: true },
    technicians: { state: true },
    formats: { state: true },
    reports: { state: true },
    schedules: { state: true },
    current: { state: true },
    error: { state: true },
    problem: { state: true },
    scheduleError: { state: true },
    frequency: { state: true },
  };
  declare params: URLSearchParams;
  declare user: Me;
  declare kpis: KpiDefinition[];
  declare teams: Team[];
  declare technicians: Technician[];
  declare formats: ReportFormat[];
  declare reports: Report[] | null;
  declare schedules: Schedule[] | null;
  declare current: Report | null;
  declare error: unknown;
  declare problem: unknown;
  declare scheduleError: unknown;
  declare frequency: Frequency;
  private timer = 0;

  constructor() {
    super();
    new TableBoxes(this);
    this.kpis = [];
    this.teams = [];
    this.technicians = [];
    this.formats = [];
    this.frequency = "monthly";
    this.reports = null;
    this.schedules = null;
    this.current = null;
    this.error = null;
    this.problem = null;
    this.scheduleError = null;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.timer);
  }

  private async load(): Promise<void> {
    this.problem = null;
    catalog.kpis().then((kpis) => (this.kpis = kpis), () => {});
    catalog.teams().then((teams) => (this.teams = teams), () => {});
    catalog.technicians().then((people) => (this.technicians = people), () => {});
    // Named by their labels ("PDF report"), never by their keys.
    api
      .get<ReportFormat[]>("/api/v1/reports/formats")
      .then((formats) => (this.formats = formats))
      .catch(() => {});
    try {
      this.reports = (await api.page<Report>("/api/v1/reports", { page_size: 20 })).items;
    } catch (error) {
      this.problem = error;
    }
    try {
      this.schedules = (await api.all<Schedule>("/api/v1/schedules")).filter((s) => s.kind === "report");
    } catch {
      this.schedules = [];
    }
  }

  private spec(form: HTMLFormElement): Record<string, unknown> {
    const data = new FormData(form);
    const ids = (name: string) => data.getAll(name).map(Number).filter(Boolean);
    const last = String(data.get("last") || "");
    return {
      format: data.get("format"),
      title: data.get("title") || undefined,
      kpis: data.getAll("kpis").map(String),
      group_by: data.get("group_by"),
      period: data.get("period"),
      start: data.get("start") || undefined,
      end: last ? addDays(last, 1) : undefined,
      filters: { team: ids("team"), technician: ids("technician"), category: [] },
    };
  }

  private async create(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    this.error = null;
    try {
      this.current = await api.post<Report>("/api/v1/reports", this.spec(event.target as HTMLFormElement));
      this.poll();
    } catch (error) {
      this.error = error;
    }
  }

  private poll(): void {
    clearTimeout(this.timer);
    const report = this.current;
    if (!report || report.status === "finished" || report.status === "failed") {
      void this.load();
      return;
    }
    this.timer = window.setTimeout(async () => {
      try {
        this.current = await api.get<Report>(`/api/v1/reports/${report.id}`);
      } catch (error) {
        this.error = error;
        return;
      }
      this.poll();
    }, POLL_MS);
  }

  private async fetchFile(report: Report): Promise<void> {
    try {
      await download(report.download_url ?? `/api/v1/reports/${report.id}/download`, report.file_name ?? `report-${report.id}`);
    } catch (error) {
      this.error = error;
    }
  }

  private async deleteReport(report: Report): Promise<void> {
    try {
      await request("DELETE", `/api/v1/reports/${report.id}`);
      void this.load();
    } catch (error) {
      this.error = error;
    }
  }

  private async schedule(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const reportForm = this.renderRoot.querySelector<HTMLFormElement>("form.report")!;
    const { start: _start, end: _end, ...spec } = this.spec(reportForm);
    this.scheduleError = null;
    // Chosen in words, stored as cron, read in the company's time zone (the API's default).
    const cron = cronFromWords({
      frequency: this.frequency,
      weekday: Number(data.get("weekday") ?? 1),
      monthday: Number(data.get("monthday") ?? 1),
      time: String(data.get("time") || "07:00"),
    });
    try {
      await api.post("/api/v1/schedules", {
        name: data.get("name"),
        kind: "report",
        cron,
        report_spec: { ...spec, last_periods: Number(data.get("last_periods")) || 1 },
      });
      form.reset();
      void this.load();
    } catch (error) {
      this.scheduleError = error;
    }
  }

  private scheduleErr(path: string): TemplateResult | string {
    const message = fieldError(this.scheduleError, path);
    return message ? html`<p class="field-error">${message}</p>` : "";
  }

  private formatLabel(key: string): string {
    return this.formats.find((format) => format.key === key)?.label ?? "Report";
  }

  private err(path: string): TemplateResult | string {
    const message = fieldError(this.error, path);
    return message ? html`<p class="field-error">${message}</p>` : "";
  }

  private progress(): TemplateResult | string {
    const report = this.current;
    if (!report) return "";
    const eta = report.eta_seconds !== null && report.eta_seconds !== undefined ? ` · about ${formatCount(report.eta_seconds)} s left` : "";
    return html`<div class="card report-progress" aria-live="polite">
      <p id="report-status">
        <strong>${report.title}</strong> (${this.formatLabel(report.format)}):
        ${STATUS_WORDS[report.status] ?? report.status}${report.status === "running" ? `${eta}` : ""}
        ${report.message ? html` — ${report.message}` : ""}
      </p>
      <progress aria-labelledby="report-status" max="100" .value=${report.progress}></progress>
      ${report.status === "finished"
        ? html`<p><button @click=${() => this.fetchFile(report)}>Download ${report.file_name ?? ""}</button></p>`
        : ""}
      ${report.status === "failed" ? html`<p class="state error" role="alert">${report.error}</p>` : ""}
    </div>`;
  }

  render(): TemplateResult {
    const defaults = defaultFilters();
    return html`<h1>Reports</h1>
      <div class="sections">
        <section class="card" aria-labelledby="new-title">
          <h2 id="new-title">New report</h2>
          ${this.error instanceof Error ? html`<div class="state error" role="alert">${this.error.message}</div>` : ""}
          <form class="report" @submit=${this.create} novalidate>
            <div class="row">
              <div class="field">
                <label for="title">Title</label>
                <input id="title" name="title" value="KPI report" maxlength="120" />${this.err("title")}
              </div>
              <div class="field">
                <label for="format">Format</label>
                <select id="format" name="format">
                  ${this.formats.map((format) => html`<option value=${format.key}>${format.label}</option>`)}
                </select>
                ${this.err("format")}
              </div>
              <div class="field">
                <label for="group_by">Rows by</label>
                <select id="group_by" name="group_by">
                  ${ROWS_BY.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
                </select>
              </div>
              <div class="field">
                <label for="r-period">Period</label>
                <select id="r-period" name="period">
                  ${PERIODS.map(([value, label]) => html`<option value=${value} ?selected=${value === "month"}>${label}</option>`)}
                </select>
              </div>
              <div class="field">
                <label for="r-start">From</label>
                <input id="r-start" name="start" type="date" value=${defaults.start} />${this.err("start")}
              </div>
              <div class="field">
                <label for="r-last">To</label>
                <input id="r-last" name="last" type="date" value=${addDays(defaults.end, -1)} />${this.err("end")}
              </div>
            </div>
            <div class="row">
              <div class="field">
                <label for="kpis">KPIs (none chosen: all)</label>
                <select id="kpis" name="kpis" multiple>
                  ${this.kpis.map((kpi) => html`<option value=${kpi.key}>${kpi.label}</option>`)}
                </select>
                ${this.err("kpis")}
              </div>
              ${this.user.role === "technician"
                ? ""
                : html`<div class="field">
                      <label for="r-team">Teams (none: all)</label>
                      <select id="r-team" name="team" multiple>
                        ${this.teams.map((team) => html`<option value=${team.id}>${team.name}</option>`)}
                      </select>
                    </div>
                    <div class="field">
                      <label for="r-technician">Technicians (none: all)</label>
                      <select id="r-technician" name="technician" multiple>
                        ${this.technicians.map((person) => html`<option value=${person.id}>${person.name}</option>`)}
                      </select>
                    </div>`}
            </div>
            <button type="submit">Generate report</button>
          </form>
        </section>
        ${this.progress()}
        <section class="card" aria-labelledby="list-title">
          <h2 id="list-title">Earlier reports</h2>
          ${this.problem
            ? failed(this.problem, () => this.load())
            : !this.reports
              ? loading("Loading reports")
              : !this.reports.length
                ? empty(
                    "No reports yet.",
                    "Choose what a report covers in New report above and generate it: it is listed here, ready to download, once it is made.",
                  )
                : html`<div class="table-wrap cards">
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Title</th>
                          <th scope="col">Format</th>
                          <th scope="col">Requested</th>
                          <th scope="col">Status</th>
                          <th scope="col" class="num">Size (KB)</th>
                          <th scope="col">Actions</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${this.reports.map(
                          (report) => html`<tr>
                            <td>${report.title}</td>
                            <td>${this.formatLabel(report.format)}</td>
                            <td>${formatStamp(report.created_at)}</td>
                            <td>${STATUS_WORDS[report.status] ?? report.status}${report.status === "running" ? ` (${report.progress} %)` : ""}</td>
                            <td class="num">${report.size_bytes ? formatCount(report.size_bytes / 1024) : "–"}</td>
                            <td>
                              ${report.status === "finished"
                                ? html`<button class="secondary" @click=${() => this.fetchFile(report)}>Download</button>`
                                : ""}
                              <button class="danger" @click=${() => this.deleteReport(report)} aria-label="Delete ${report.title}">Delete</button>
                            </td>
                          </tr>`,
                        )}
                      </tbody>
                    </table>
                  </div>`}
        </section>
        ${this.scheduleSection()}
      </div>`;
  }

  private scheduleSection(): TemplateResult {
    const schedules = this.schedules;
    return html`<section class="card" aria-labelledby="schedules-title">
      <h2 id="schedules-title">Scheduled reports</h2>
      ${!schedules
        ? loading("Loading schedules")
        : !schedules.length
          ? empty(
              "No reports are scheduled.",
              this.user.role === "admin"
                ? "Fill in New report above, then schedule it below: it is then made every day, week or month on its own and listed under Earlier reports."
                : "An admin can schedule a report to be made every day, week or month; it is then listed under Earlier reports.",
            )
          : html`<div class="table-wrap cards">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">When</th>
                    <th scope="col">Next report</th>
                    <th scope="col">Status</th>
                  </tr>
                </thead>
                <tbody>
                  ${schedules.map(
                    (s) => html`<tr>
                      <td>${s.name}</td>
                      <td class="schedule-when">
                        ${describeCron(s.cron)}${s.timezone === companySettings().timezone ? "" : ` (${s.timezone} time)`}
                      </td>
                      <td>${formatStamp(s.next_fire_at)}</td>
                      <td>${s.enabled ? "On" : "Paused"}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>`}
      ${this.user.role === "admin"
        ? html`<h3>Schedule the report above</h3>
            ${this.scheduleError instanceof Error ? html`<div class="state error" role="alert">${this.scheduleError.message}</div>` : ""}
            <p class="hint" id="s-zone">Times are in the company's time zone (${zoneName()}).</p>
            <form class="row schedule" @submit=${this.schedule} novalidate>
              <div class="field">
                <label for="s-name">Name</label>
                <input id="s-name" name="name" required />${this.scheduleErr("name")}
              </div>
              <div class="field">
                <label for="s-frequency">How often</label>
                <select
                  id="s-frequency"
                  name="frequency"
                  @change=${(event: Event) => (this.frequency = (event.target as HTMLSelectElement).value as Frequency)}
                >
                  <option value="daily" ?selected=${this.frequency === "daily"}>Every day</option>
                  <option value="weekly" ?selected=${this.frequency === "weekly"}>Every week</option>
                  <option value="monthly" ?selected=${this.frequency === "monthly"}>Every month</option>
                </select>
              </div>
              ${this.frequency === "weekly"
                ? html`<div class="field">
                    <label for="s-weekday">On</label>
                    <select id="s-weekday" name="weekday">
                      ${WEEKDAYS.map((day, index) => html`<option value=${index} ?selected=${index === 1}>${day}</option>`)}
                    </select>
                  </div>`
                : ""}
              ${this.frequency === "monthly"
                ? html`<div class="field">
                    <label for="s-monthday">On day</label>
                    <select id="s-monthday" name="monthday">
                      ${MONTHDAYS.map((day) => html`<option value=${day}>${day}</option>`)}
                    </select>
                  </div>`
                : ""}
              <div class="field">
                <label for="s-time">At</label>
                <input id="s-time" name="time" type="time" value="07:00" required aria-describedby="s-zone" />
                ${this.scheduleErr("cron")}
              </div>
              <div class="field">
                <label for="s-last">Periods it covers (the latest complete ones)</label>
                <input id="s-last" name="last_periods" type="number" min="1" value="1" />
              </div>
              <div class="field"><button type="submit">Add schedule</button></div>
            </form>`
        : ""}
    </section>`;
  }
}

customElements.define("kpi-reports-page", ReportsPage);
