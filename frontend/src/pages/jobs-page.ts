// Jobs: the list (filtered, paginated), the CSV import with its progress and row errors, and
// /jobs/behind: the jobs (or evaluations) behind one KPI value, which add up to it.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { rowErrorsTable } from "../components/row-errors";
import { api, ApiError, download, upload, type Pagination } from "../api";
import { catalog } from "../catalog";
import {
  JOB_STATUSES,
  companySettings,
  formatCount,
  formatDate,
  formatJobStatus,
  formatKpi,
  formatKpiPart,
  formatNumber,
  formatPeriod,
  formatShare,
  formatStamp,
  kpiName,
} from "../format";
import { addDays, scopeName } from "../filters";
import { navigate } from "../router";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { pager } from "../components/pager";
import { TableBoxes } from "../components/tables";
import "../components/download";
import "./import-mapping";
import "./job-page";
import { crewLine, crewWords } from "../components/crew";
import { fileName, periodSlug, round, unitLabel, type Download } from "../components/download";
import { callbackActions } from "../components/disputes";
import type { Callback, DrilldownRow, DrilldownSummary, ImportColumn, ImportResult, Job, KpiDefinition, KpiValue, Me, Technician } from "../types";

type ImportKind = "jobs" | "feedback";

/** How one fact counts in the value, in words (with the KPI's note on it, if it has one). */
function outcomeWords(row: DrilldownRow, mean: boolean): string {
  if (row.outcome === "excluded") return `Left out: ${row.reason_label ?? "not in this KPI"}`;
  const note = row.reason_label ? `: ${row.reason_label}` : "";
  if (row.outcome === "numerator") return `${mean ? "In the average" : "Counted"}${note}`;
  return `In the sample, not counted${note}`;
}

export class JobsPage extends LitElement {
  static styles = [
    shared,
    css`
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      form.row > .field {
        flex: 1 1 9rem;
      }
      form.row > .field:has(input[type="file"]) {
        flex-basis: 16rem;
      }
      form.row > .field:has(button),
      form.row > .field:has(input[type="checkbox"]) {
        flex: 0 0 auto;
      }
      form.row select,
      form.row input:not([type="checkbox"]) {
        width: 100%;
      }
      .hint + form {
        margin-top: 0.75rem;
      }
      form + details {
        margin-top: 0.75rem;
      }
      .totals {
        font-weight: 600;
      }
      /* The list's Download control, apart from the filters' Show button above it. */
      form + kpi-download-menu {
        margin: 1rem 0 0.25rem;
      }
      /* A row error on a phone is a card headed by its row: "Row 3". */
      @container (max-width: 36rem) {
        .cards table.row-errors tr > td:first-child[data-label]::before {
          content: "Row ";
          display: inline;
          font-size: inherit;
          font-weight: inherit;
          color: inherit;
        }
      }
      .progress-label {
        display: flex;
        justify-content: space-between;
        font-size: 0.9rem;
      }
      /* A return visit counted against a job, beside how the job counts: its dispute, or the Dispute action. */
      .callback {
        display: flex;
        flex-wrap: wrap;
        gap: 0.35rem 0.75rem;
        align-items: center;
        margin-top: 0.35rem;
      }
      .callback .hint {
        margin: 0;
      }
    `,
  ];

  static properties = {
    sub: { attribute: false },
    params: { attribute: false },
    user: { attribute: false },
    jobs: { state: true },
    pagination: { state: true },
    problem: { state: true },
    technicians: { state: true },
    importState: { state: true },
    progress: { state: true },
    importResult: { state: true },
    importError: { state: true },
    importKind: { state: true },
    columns: { state: true },
    kpi: { state: true },
    value: { state: true },
    rows: { state: true },
    summary: { state: true },
    callbacks: { state: true },
  };
  declare sub: string;
  declare params: URLSearchParams;
  declare user: Me;
  declare jobs: Job[] | null;
  declare pagination: Pagination | null;
  declare problem: unknown;
  declare technicians: Technician[];
  declare importState: "idle" | "uploading" | "processing" | "done";
  declare progress: number;
  declare importResult: ImportResult | null;
  declare importError: unknown;
  declare importKind: ImportKind;
  declare columns: Partial<Record<ImportKind, ImportColumn[]>>;
  declare kpi: KpiDefinition | null;
  declare value: KpiValue | null;
  declare rows: DrilldownRow[] | null;
  declare summary: DrilldownSummary | null;
  declare callbacks: Map<number, Callback[]>;

  constructor() {
    super();
    new TableBoxes(this);
    this.sub = "";
    this.params = new URLSearchParams();
    this.jobs = null;
    this.pagination = null;
    this.problem = null;
    this.technicians = [];
    this.importState = "idle";
    this.progress = 0;
    this.importResult = null;
    this.importError = null;
    this.importKind = "jobs";
    this.columns = {};
    this.kpi = null;
    this.value = null;
    this.rows = null;
    this.callbacks = new Map();
  }

  connectedCallback(): void {
    super.connectedCallback();
    catalog.technicians().then((people) => (this.technicians = people), () => {});
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("user") && this.user && this.user.role !== "technician") void this.loadColumns(this.importKind);
    if (changed.has("params") || changed.has("sub")) void this.load();
  }

  private get page(): number {
    return Number(this.params.get("page")) || 1;
  }

  /** /jobs/<id>: one job's page (kpi-job-page) rather than the list. */
  private get jobId(): number | null {
    return /^\d+$/.test(this.sub) ? Number(this.sub) : null;
  }

  private async load(): Promise<void> {
    this.problem = null;
    if (this.jobId !== null) return;
    try {
      if (this.sub === "behind") await this.loadBehind();
      else await this.loadJobs();
    } catch (error) {
      this.problem = error;
    }
  }

  private async loadJobs(): Promise<void> {
    this.jobs = null;
    const query = Object.fromEntries(this.params.entries());
    const answer = await api.page<Job>("/api/v1/jobs", { sort: "-scheduled_start", page_size: 25, ...query });
    this.jobs = answer.items;
    this.pagination = answer.pagination;
  }

  private async loadBehind(): Promise<void> {
    this.rows = null;
    const params = this.params;
    const key = params.get("kpi") ?? "";
    const filters = {
      team: params.get("team") ?? undefined,
      technician: params.get("technician") ?? undefined,
      category: params.get("category") ?? undefined,
    };
    const cell = {
      group_by: params.get("group_by") ?? "company",
      group_id: params.get("group_id") ?? undefined,
      period: params.get("period") ?? "month",
      period_start: params.get("period_start") ?? "",
    };
    // The value itself (for the totals to check against), and the page of facts behind it.
    const periodEnd = params.get("end") ?? "";
    const drilldown = `/api/v1/kpis/${encodeURIComponent(key)}/drilldown`;
    const cellQuery = { ...cell, ...filters, start: params.get("start") ?? undefined, end: periodEnd || undefined };
    const [kpis, values, answer, summary] = await Promise.all([
      catalog.kpiMap(),
      api.get<KpiValue[]>("/api/v1/kpis/values", {
        kpi: key,
        group_by: cell.group_by,
        period: cell.period,
        start: (params.get("start") ?? "") > cell.period_start ? params.get("start") : cell.period_start,
        end: periodEnd,
        ...filters,
      }),
      api.page<DrilldownRow>(drilldown, { ...cellQuery, page: this.page, page_size: 100 }),
      // Why this number: every fact in scope, counted per outcome and per reason left out.
      api.get<DrilldownSummary>(`${drilldown}/summary`, cellQuery),
    ]);
    this.summary = summary;
    this.kpi = kpis.get(key) ?? null;
    this.value =
      values.find((row) => row.period_start === cell.period_start && (!cell.group_id || row.group_id === cell.group_id)) ??
      null;
    this.rows = answer.items;
    this.pagination = answer.pagination;
    void this.loadCallbacks(answer.items);
  }

  /** The return visits of the counted jobs that carry a note (a first-time fix's "called back"), each with
   * its disputes: what the Dispute action beside a job reads. Help, not the list: without it the list stands. */
  private async loadCallbacks(rows: DrilldownRow[]): Promise<void> {
    this.callbacks = new Map();
    const noted = rows.filter((row) => row.outcome !== "excluded" && row.reason && row.external_ref !== null);
    if (!noted.length) return;
    try {
      const found = await api.get<Callback[]>("/api/v1/callbacks", { original: noted.map((row) => row.id), page_size: 100 });
      const byJob = new Map<number, Callback[]>();
      for (const callback of found) byJob.set(callback.original_job_id, [...(byJob.get(callback.original_job_id) ?? []), callback]);
      this.callbacks = byJob;
    } catch {
      // the Dispute action is missing, nothing else
    }
  }

  private goPage(page: number): void {
    const params = new URLSearchParams(this.params);
    params.set("page", String(page));
    navigate(`${window.location.pathname}?${params}`);
  }

  private filter(event: Event): void {
    event.preventDefault();
    const form = new FormData((event.target as HTMLElement).closest("form")!);
    const params = new URLSearchParams();
    for (const [key, value] of form.entries()) if (value) params.set(key, String(value));
    navigate(`/jobs?${params}`);
  }

  private async import(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
    const kind = this.importKind;
    const dryRun = (form.elements.namedItem("dry_run") as HTMLInputElement).checked;
    const create = (form.elements.namedItem("create_technicians") as HTMLInputElement | null)?.checked ?? false;
    this.importResult = null;
    this.importError = null;
    if (!file) {
      this.importError = new ApiError(422, "Choose a CSV or JSON Lines file first.", { form: { file: ["Choose a file."] } });
      this.importState = "done";
      return;
    }
    this.importState = "uploading";
    this.progress = 0;
    const query = kind === "jobs" && create ? { dry_run: dryRun, create_technicians: true } : { dry_run: dryRun };
    try {
      await api.get("/api/v1/auth/me"); // refreshes an expired token before the upload starts
      this.importResult = await upload<ImportResult>(`/api/v1/imports/${kind}`, file, query, (fraction) => {
        this.progress = fraction;
        if (fraction >= 1) this.importState = "processing";
      });
      this.importResult.kind = kind;
      if (!dryRun) void this.loadJobs();
    } catch (error) {
      this.importError = error;
    } finally {
      this.importState = "done";
    }
  }

  private async loadColumns(kind: ImportKind): Promise<void> {
    if (this.columns[kind]) return;
    try {
      const columns = await api.get<ImportColumn[]>(`/api/v1/imports/${kind}/columns`);
      this.columns = { ...this.columns, [kind]: columns };
    } catch {
      // the list is help, not the import: without it the form still works
    }
  }

  private chooseKind(event: Event): void {
    this.importKind = (event.target as HTMLSelectElement).value as ImportKind;
    void this.loadColumns(this.importKind);
  }

  private async downloadTemplate(): Promise<void> {
    try {
      await download(`/api/v1/imports/${this.importKind}/template.csv`, `${this.importKind}-import-template.csv`);
    } catch (error) {
      this.importError = error;
    }
  }

  /** Where the imported jobs are: the list filtered to the days they are scheduled on. */
  private importedLink(result: ImportResult): TemplateResult | string {
    if (result.dry_run || result.kind !== "jobs" || !(result.created + result.updated + result.unchanged)) return "";
    if (!result.first_scheduled || !result.last_scheduled) {
      return html`<a href="/jobs?sort=-created_at">Show the newest jobs</a>`;
    }
    const params = new URLSearchParams({ from: result.first_scheduled, to: addDays(result.last_scheduled, 1) });
    const days =
      result.first_scheduled === result.last_scheduled
        ? formatDate(result.first_scheduled)
        : `${formatDate(result.first_scheduled)} – ${formatDate(result.last_scheduled)}`;
    return html`<a class="imported-link" href="/jobs?${params}">Show the imported jobs (scheduled ${days})</a>`;
  }

  private importProgress(): TemplateResult | string {
    // A failed import shows no bar at all (a full bar reads as done): it says so in words below.
    if (this.importState === "done" && this.importResult) {
      return html`<div class="import-progress">
        <div class="progress-label"><span id="progress-label">${this.importResult.dry_run ? "Check" : "Import"} finished</span></div>
        <progress aria-labelledby="progress-label" max="100" value="100"></progress>
      </div>`;
    }
    if (this.importState === "uploading") {
      return html`<div class="import-progress">
        <div class="progress-label">
          <span id="progress-label">Uploading the file</span><span>${Math.round(this.progress * 100)} %</span>
        </div>
        <progress aria-labelledby="progress-label" max="100" value=${this.progress * 100}></progress>
      </div>`;
    }
    if (this.importState === "processing") {
      return html`<div class="import-progress">
        <div class="progress-label"><span id="progress-label">Checking and importing the rows</span></div>
        <progress aria-labelledby="progress-label" max="100"></progress>
      </div>`;
    }
    return "";
  }

  private columnList(): TemplateResult {
    const columns = this.columns[this.importKind];
    const what = this.importKind === "jobs" ? "jobs" : "feedback";
    return html`<details class="import-columns">
      <summary>What a ${what} file holds: its columns, and a template</summary>
      <p>
        <button type="button" class="secondary" @click=${this.downloadTemplate}>Download a template (CSV)</button>
        <span class="hint">A header row and an example row to fill in.</span>
      </p>
      ${!columns
        ? loading("Loading the columns")
        : html`<div class="table-wrap cards">
            <table class="import-columns-table">
              <caption class="visually-hidden">Columns of a ${what} file</caption>
              <thead>
                <tr>
                  <th scope="col">Column</th>
                  <th scope="col">Holds</th>
                  <th scope="col">Needed</th>
                  <th scope="col">Example</th>
                </tr>
              </thead>
              <tbody>
                ${columns.map(
                  (column) => html`<tr>
                    <td><code>${column.name}</code></td>
                    <td>${column.type}. <span class="hint">${column.description}</span></td>
                    <td>${column.required ? "Required" : "Optional"}</td>
                    <td>${column.example ? html`<code>${column.example}</code>` : "–"}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
    </details>`;
  }

  private importForm(): TemplateResult {
    if (this.user.role === "technician") return html``;
    const busy = this.importState === "uploading" || this.importState === "processing";
    const result = this.importResult;
    return html`<section class="card" aria-labelledby="import-title">
      <h2 id="import-title">Import jobs or feedback</h2>
      <p class="hint">
        A CSV file (comma or semicolon, with a header row) or JSON Lines. A file with any invalid row changes nothing;
        importing the same file again changes nothing. Times without an offset are read in the company's time zone.
      </p>
      <form @submit=${this.import} class="row">
        <div class="field">
          <label for="kind">What</label>
          <select id="kind" name="kind" @change=${this.chooseKind}>
            <option value="jobs" ?selected=${this.importKind === "jobs"}>Jobs</option>
            <option value="feedback" ?selected=${this.importKind === "feedback"}>Customer feedback</option>
          </select>
        </div>
        <div class="field">
          <label for="file">File</label>
          <input id="file" name="file" type="file" accept=".csv,.jsonl,.ndjson,text/csv" />
        </div>
        <div class="field">
          <label><input type="checkbox" name="dry_run" /> Check only (import nothing)</label>
        </div>
        ${this.importKind === "jobs" && this.user.role === "admin"
          ? html`<div class="field">
              <label><input type="checkbox" name="create_technicians" /> Create technicians that are not on file yet</label>
            </div>`
          : ""}
        <div class="field"><button type="submit" ?disabled=${busy}>Import</button></div>
      </form>
      ${this.columnList()} ${this.importProgress()}
      ${result && this.importState === "done"
        ? html`<p role="status" class="import-result">
            ${result.dry_run ? "Checked, nothing was written" : "Imported"}: ${formatCount(result.rows)}
            row${result.rows === 1 ? "" : "s"} — ${formatCount(result.created)} ${result.dry_run ? "would be " : ""}created,
            ${formatCount(result.updated)} ${result.dry_run ? "would be " : ""}updated, ${formatCount(result.unchanged)}
            unchanged. ${this.importedLink(result)}
          </p>`
        : ""}
      ${this.importError && this.importState === "done" ? this.importErrors(this.importError) : ""}
    </section>`;
  }

  /** Another system's export, read through a column mapping (its own card, for jobs). */
  private mappingPanel(): TemplateResult | string {
    if (this.user.role === "technician" || !this.columns.jobs) return "";
    return html`<kpi-import-mapping
      .fields=${this.columns.jobs}
      ?admin=${this.user.role === "admin"}
      @imported=${() => void this.loadJobs()}
    ></kpi-import-mapping>`;
  }

  private importErrors(error: unknown): TemplateResult {
    if (!(error instanceof ApiError) || !error.rows.length) {
      const message = error instanceof Error ? error.message : String(error);
      return html`<div class="state error import-failed" role="alert">
        <strong>Import failed. Nothing was imported:</strong> ${message}
      </div>`;
    }
    return html`<div class="state error import-failed" role="alert">
        <strong>Import failed. Nothing was imported:</strong> ${formatCount(error.errorCount)}
        problem${error.errorCount === 1 ? "" : "s"} in the file, listed below. Correct them and import the file again.
      </div>
      ${rowErrorsTable(error.rows)}`;
  }

  private jobList(): TemplateResult {
    const linked = new Set(this.technicians.map((person) => person.id));
    const params = this.params;
    return html`<section class="card" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      <form class="row" @submit=${this.filter} aria-label="Job filters">
        ${this.user.role === "technician"
          ? ""
          : html`<div class="field">
              <label for="f-technician">Technician</label>
              <select id="f-technician" name="technician">
                <option value="">All</option>
                ${this.technicians.map(
                  (p) => html`<option value=${p.id} ?selected=${params.get("technician") === String(p.id)}>${p.name}</option>`,
                )}
              </select>
            </div>`}
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">All</option>
            ${JOB_STATUSES.map(
              (status) => html`<option value=${status} ?selected=${params.get("status") === status}>${formatJobStatus(status)}</option>`,
            )}
          </select>
        </div>
        <div class="field">
          <label for="f-from">From</label>
          <input id="f-from" name="from" type="date" .value=${params.get("from") ?? ""} />
        </div>
        <div class="field">
          <label for="f-to">To</label>
          <input id="f-to" name="to" type="date" .value=${params.get("to") ?? ""} />
        </div>
        <div class="field"><button type="submit">Show</button></div>
      </form>
      ${this.problem
        ? failed(this.problem, () => this.load())
        : !this.jobs
          ? loading("Loading jobs")
          : !this.jobs.length
            ? this.noJobs()
            : html`<kpi-download-menu worded align="start" label="the jobs listed" .download=${this.jobsDownload()}></kpi-download-menu>
                <div class="table-wrap cards">
                  <table class="jobs">
                    <thead>
                      <tr>
                        <th scope="col">Reference</th>
                        <th scope="col">Crew</th>
                        <th scope="col">Category</th>
                        <th scope="col">Status</th>
                        <th scope="col">Scheduled</th>
                        <th scope="col">Completed</th>
                        <th scope="col" class="num">Estimate (min)</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${this.jobs.map(
                        (job) => html`<tr>
                          <td><a href="/jobs/${job.id}">${job.external_ref}</a></td>
                          <td class="crew" data-crew=${job.technicians.map((member) => member.technician_id).join(" ")}>${crewLine(job.technicians, linked)}</td>
                          <td>${job.category}</td>
                          <td data-status=${job.status}>${formatJobStatus(job.status)}</td>
                          <td>${formatStamp(job.scheduled_start)}</td>
                          <td>${formatStamp(job.completed_at)}</td>
                          <td class="num">${formatNumber(job.estimated_minutes)}</td>
                        </tr>`,
                      )}
                    </tbody>
                  </table>
                </div>
                ${pager(this.pagination, (page) => this.goPage(page))}`}
    </section>`;
  }

  /** Which of the list's filters are set (a page or a sort order is not a filter). */
  private get filtered(): boolean {
    return ["technician", "status", "from", "to"].some((name) => !!this.params.get(name));
  }

  /** No jobs to list: a filter that matches none, or none imported yet (and who imports them). */
  private noJobs(): TemplateResult {
    if (this.filtered) {
      return empty("No jobs match these filters.", "Choose other dates or another status, or show every job.", {
        href: "/jobs",
        label: "Show every job",
      });
    }
    if (this.user.role === "technician") {
      return empty("No jobs of yours yet.", "Your jobs are listed here once the office imports them.");
    }
    return empty("No jobs yet.", "Import a file of jobs with the form above; its template shows the columns it needs.");
  }

  /** The list as CSV: every job the filters match (every page, not only the one on screen). */
  private jobsDownload(): Download {
    const query = Object.fromEntries([...this.params.entries()].filter(([name]) => name !== "page" && name !== "page_size"));
    const status = this.params.get("status");
    return {
      name: fileName("jobs", status ? formatJobStatus(status) : null, this.params.get("from"), this.params.get("to") ? `to ${this.params.get("to")}` : null),
      table: async () => {
        const jobs = await api.all<Job>("/api/v1/jobs", { sort: "-scheduled_start", ...query }, Infinity);
        return {
          header: [
            "Reference",
            "Technician",
            "Crew",
            "Category",
            "Status",
            "Scheduled",
            "Arrived",
            "Completed",
            "Estimate (minutes)",
            `Revenue (${companySettings().currency})`,
          ],
          rows: jobs.map((job) => [
            job.external_ref,
            job.technicians.find((member) => member.role === "lead")?.technician ?? "",
            crewWords(job.technicians),
            job.category,
            formatJobStatus(job.status),
            job.scheduled_start ? formatStamp(job.scheduled_start) : null,
            job.arrived_at ? formatStamp(job.arrived_at) : null,
            job.completed_at ? formatStamp(job.completed_at) : null,
            job.estimated_minutes ?? null,
            job.revenue === null || job.revenue === undefined ? null : round(Number(job.revenue), 2),
          ]),
        };
      },
    };
  }

  /** The drill-down as CSV: every page of it (not only the one on screen), in the columns shown. */
  private behindDownload(): Download {
    const params = this.params;
    const key = params.get("kpi") ?? "";
    const kpi = this.kpi;
    const evaluations = kpi?.source === "evaluations";
    const period = params.get("period") ?? "month";
    const periodStart = params.get("period_start") ?? "";
    const query = {
      group_by: params.get("group_by") ?? "company",
      group_id: params.get("group_id") ?? undefined,
      period,
      period_start: periodStart,
      team: params.get("team") ?? undefined,
      technician: params.get("technician") ?? undefined,
      category: params.get("category") ?? undefined,
      start: params.get("start") ?? undefined,
      end: params.get("end") || undefined,
    };
    const unit = kpi?.kind === "mean" ? unitLabel(kpi) : "";
    const counted = kpi?.kind === "mean" ? `Amount${unit && unit !== "%" ? ` (${unit})` : ""}` : "Counted";
    const group = params.get("group_by") === "company" ? null : this.value?.group_label;
    return {
      name: fileName(kpiName(key, kpi), evaluations ? "evaluations" : "jobs", group, periodSlug(periodStart, period)),
      table: async () => {
        const rows = await api.all<DrilldownRow>(`/api/v1/kpis/${encodeURIComponent(key)}/drilldown`, query);
        const header = evaluations
          ? ["Evaluation", "Technician", "From", "To", "Score", counted, "Out of"]
          : ["Job", "Crew", "Category", "Status", "Scheduled", "Arrived", "Completed", "Rating", counted, "Out of"];
        return {
          header,
          rows: rows.map((row) => [
            row.external_ref ?? `#${row.id}`,
            row.crew.length ? crewWords(row.crew) : row.technician,
            ...(evaluations
              ? [row.evaluation_period_start, row.evaluation_period_end, round(row.score, 1)]
              : [
                  row.category,
                  formatJobStatus(row.status),
                  row.scheduled_start ? formatStamp(row.scheduled_start) : null,
                  row.arrived_at ? formatStamp(row.arrived_at) : null,
                  row.completed_at ? formatStamp(row.completed_at) : null,
                  row.rating,
                ]),
            round(row.numerator, 2),
            round(row.denominator, 2),
          ]),
        };
      },
    };
  }

  private behind(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.rows) return loading("Loading the jobs behind this value");
    const params = this.params;
    const kpi = this.kpi;
    const evaluations = kpi?.source === "evaluations";
    const numerator = this.rows.reduce((sum, row) => sum + row.numerator, 0);
    const denominator = this.rows.reduce((sum, row) => sum + row.denominator, 0);
    const onePage = (this.pagination?.total_pages ?? 1) <= 1;
    const back = `${window.location.pathname}${window.location.search}`;
    // What each row adds to the value, in words: a rate counts jobs out of jobs, a mean adds values up.
    const [counted, outOf] = kpi?.kind === "mean" ? ["Amount", "Out of"] : ["Counted", "Out of"];
    return html`<h1>${kpiName(params.get("kpi") ?? "", kpi)}: the ${evaluations ? "evaluations" : "jobs"} behind the value</h1>
      <p>
        ${formatPeriod(params.get("period_start") ?? "", params.get("period") ?? "month")} ·
        ${params.get("group_by") === "company" ? scopeName(this.user?.role) : (this.value?.group_label ?? params.get("group_id"))}
        ${params.get("team") || params.get("technician") || params.get("category") ? " · filtered" : ""}
      </p>
      ${kpi ? html`<p class="hint">${kpi.formula}</p>` : ""}
      ${this.value
        ? html`<p class="totals" data-numerator=${this.value.numerator} data-denominator=${this.value.denominator}>
            ${formatKpi(this.value.value, kpi)}:
            ${kpi?.kind === "mean"
              ? `${formatKpiPart(this.value.numerator, kpi)} in total, over ${formatNumber(this.value.denominator)}`
              : `${formatNumber(this.value.numerator)} counted out of ${formatNumber(this.value.denominator)}`}
          </p>`
        : ""}
      ${this.summary ? this.whyThisNumber(this.summary, evaluations ? "evaluations" : "jobs") : ""}
      ${!this.rows.length
        ? empty("Nothing was counted in this value.")
        : html`<div class="card">
            <kpi-download-menu
              worded
              align="start"
              label="the ${evaluations ? "evaluations" : "jobs"} behind this value"
              .download=${this.behindDownload()}
            ></kpi-download-menu>
            <div class="table-wrap cards">
              <table class="drilldown">
                <thead>
                  <tr>
                    <th scope="col">${evaluations ? "Evaluation" : "Job"}</th>
                    <th scope="col">${evaluations ? "Technician" : "Crew"}</th>
                    ${evaluations
                      ? html`<th scope="col">Period</th>
                          <th scope="col" class="num">Score</th>`
                      : html`<th scope="col">Category</th>
                          <th scope="col">Status</th>
                          <th scope="col">Scheduled</th>
                          <th scope="col">Arrived</th>
                          <th scope="col">Completed</th>
                          <th scope="col" class="num">Rating</th>`}
                    <th scope="col">How it counts</th>
                    <th scope="col" class="num">${counted}</th>
                    <th scope="col" class="num">${outOf}</th>
                  </tr>
                </thead>
                <tbody>
                  ${this.rows.map(
                    (row) => html`<tr>
                      <td>${row.external_ref ?? `#${row.id}`}</td>
                      <td class="crew">${row.crew.length ? crewWords(row.crew) : row.technician}</td>
                      ${evaluations
                        ? html`<td>${formatDate(row.evaluation_period_start)} – ${formatDate(row.evaluation_period_end)}</td>
                            <td class="num">${formatNumber(row.score)}</td>`
                        : html`<td>${row.category ?? "–"}</td>
                            <td>${formatJobStatus(row.status)}</td>
                            <td>${formatStamp(row.scheduled_start)}</td>
                            <td>${formatStamp(row.arrived_at)}</td>
                            <td>${formatStamp(row.completed_at)}</td>
                            <td class="num">${formatNumber(row.rating)}</td>`}
                      <td data-outcome=${row.outcome}>
                        ${outcomeWords(row, kpi?.kind === "mean")}
                        ${row.share < 0.9995
                          ? html`<span class="share" data-share=${row.share}>
                              (counts as ${formatShare(row.share)} of a job: the crew's credit is shared)</span
                            >`
                          : ""}
                        ${callbackActions(this.callbacks.get(row.id), back)}
                      </td>
                      <td class="num">${formatKpiPart(row.numerator, kpi)}</td>
                      <td class="num">${formatNumber(row.denominator)}</td>
                    </tr>`,
                  )}
                </tbody>
                ${onePage
                  ? html`<tfoot>
                      <tr class="totals">
                        <th scope="row" colspan=${evaluations ? 5 : 9}>Total</th>
                        <td class="num" data-sum-numerator=${numerator}>${formatKpiPart(numerator, kpi)}</td>
                        <td class="num" data-sum-denominator=${denominator}>${formatNumber(denominator)}</td>
                      </tr>
                    </tfoot>`
                  : ""}
              </table>
            </div>
            ${pager(this.pagination, (page) => this.goPage(page))}
          </div>`}
      <p><button class="secondary" @click=${() => history.back()}>Back</button></p>`;
  }

  /** "170 jobs: 157 counted, 13 not counted, 4 left out (no arrival time recorded: 4)". */
  private whyThisNumber(summary: DrilldownSummary, noun: string): TemplateResult {
    const mean = this.kpi?.kind === "mean";
    return html`<p class="why" data-facts=${summary.facts} data-excluded=${summary.excluded}>
      ${formatCount(summary.facts)} ${noun} in this group and period:
      ${formatCount(summary.numerator)} ${mean ? "in the average" : "counted"}${mean
        ? ""
        : html`, ${formatCount(summary.denominator_only)} in the sample but not counted`}${summary.excluded
        ? html`, ${formatCount(summary.excluded)} left out
            (${summary.reasons.map((reason, index) => html`${index ? "; " : ""}<span data-reason=${reason.code}
                  >${reason.label}: ${formatCount(reason.facts)}</span
                >`)})`
        : ""}.
    </p>`;
  }

  render(): TemplateResult {
    if (this.jobId !== null) return html`<kpi-job-page .jobId=${this.jobId} .user=${this.user}></kpi-job-page>`;
    if (this.sub === "behind") return this.behind();
    return html`<h1>${this.user.role === "technician" ? "My jobs" : "Jobs and import"}</h1>
      <div class="grid">${this.importForm()} ${this.mappingPanel()} ${this.jobList()}</div>`;
  }
}

customElements.define("kpi-jobs-page", JobsPage);
