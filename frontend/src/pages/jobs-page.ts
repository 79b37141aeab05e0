// Jobs: the list (filtered, paginated), the CSV import with its progress and row errors, and
// /jobs/behind: the jobs (or evaluations) behind one KPI value, which add up to it.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, ApiError, upload, type Pagination } from "../api";
import { catalog } from "../catalog";
import { formatCount, formatDate, formatKpi, formatNumber, formatPeriod, formatStamp } from "../format";
import { navigate } from "../router";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { pager } from "../components/pager";
import type { DrilldownRow, Job, KpiDefinition, KpiValue, Me, Technician } from "../types";

interface ImportResult {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  dry_run: boolean;
}

export class JobsPage extends LitElement {
  static styles = [
    shared,
    css`
      .grid {
        display: grid;
        gap: 1rem;
      }
      .totals {
        font-weight: 600;
      }
      .progress-label {
        display: flex;
        justify-content: space-between;
        font-size: 0.9rem;
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
    kpi: { state: true },
    value: { state: true },
    rows: { state: true },
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
  declare kpi: KpiDefinition | null;
  declare value: KpiValue | null;
  declare rows: DrilldownRow[] | null;

  constructor() {
    super();
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
    this.kpi = null;
    this.value = null;
    this.rows = null;
  }

  connectedCallback(): void {
    super.connectedCallback();
    catalog.technicians().then((people) => (this.technicians = people), () => {});
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("params") || changed.has("sub")) void this.load();
  }

  private get page(): number {
    return Number(this.params.get("page")) || 1;
  }

  private async load(): Promise<void> {
    this.problem = null;
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
    const [kpis, values, answer] = await Promise.all([
      catalog.kpiMap(),
      api.get<KpiValue[]>("/api/v1/kpis/values", {
        kpi: key,
        group_by: cell.group_by,
        period: cell.period,
        start: (params.get("start") ?? "") > cell.period_start ? params.get("start") : cell.period_start,
        end: periodEnd,
        ...filters,
      }),
      api.page<DrilldownRow>(`/api/v1/kpis/${encodeURIComponent(key)}/drilldown`, {
        ...cell,
        ...filters,
        start: params.get("start") ?? undefined,
        end: periodEnd || undefined,
        page: this.page,
        page_size: 100,
      }),
    ]);
    this.kpi = kpis.get(key) ?? null;
    this.value =
      values.find((row) => row.period_start === cell.period_start && (!cell.group_id || row.group_id === cell.group_id)) ??
      null;
    this.rows = answer.items;
    this.pagination = answer.pagination;
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
    const kind = (form.elements.namedItem("kind") as HTMLSelectElement).value;
    const dryRun = (form.elements.namedItem("dry_run") as HTMLInputElement).checked;
    this.importResult = null;
    this.importError = null;
    if (!file) {
      this.importError = new ApiError(422, "Choose a CSV or JSON Lines file first.", { form: { file: ["Choose a file."] } });
      return;
    }
    this.importState = "uploading";
    this.progress = 0;
    try {
      await api.get("/api/v1/auth/me"); // refreshes an expired token before the upload starts
      this.importResult = await upload<ImportResult>(`/api/v1/imports/${kind}`, file, { dry_run: dryRun }, (fraction) => {
        this.progress = fraction;
        if (fraction >= 1) this.importState = "processing";
      });
      if (!dryRun) void this.loadJobs();
    } catch (error) {
      this.importError = error;
    } finally {
      this.importState = "done";
    }
  }

  private importForm(): TemplateResult {
    if (this.user.role === "technician") return html``;
    const busy = this.importState === "uploading" || this.importState === "processing";
    return html`<section class="card" aria-labelledby="import-title">
      <h2 id="import-title">Import jobs or feedback</h2>
      <p class="hint">
        CSV (comma or semicolon, header row) or JSON Lines. A file with any invalid row changes nothing; importing the same
        file again changes nothing.
      </p>
      <form @submit=${this.import} class="row">
        <div class="field">
          <label for="kind">What</label>
          <select id="kind" name="kind">
            <option value="jobs">Jobs</option>
            <option value="feedback">Customer feedback</option>
          </select>
        </div>
        <div class="field">
          <label for="file">File</label>
          <input id="file" name="file" type="file" accept=".csv,.jsonl,.ndjson,text/csv" />
        </div>
        <div class="field">
          <label><input type="checkbox" name="dry_run" /> Check only (dry run)</label>
        </div>
        <div class="field"><button type="submit" ?disabled=${busy}>Import</button></div>
      </form>
      ${this.importState !== "idle"
        ? html`<div class="import-progress">
            <div class="progress-label">
              <span id="progress-label"
                >${this.importState === "uploading"
                  ? "Uploading"
                  : this.importState === "processing"
                    ? "Checking and importing the rows"
                    : this.importError
                      ? "Import failed"
                      : "Import finished"}</span
              ><span>${Math.round(this.progress * 100)} %</span>
            </div>
            ${this.importState === "processing"
              ? html`<progress aria-labelledby="progress-label" max="100"></progress>`
              : html`<progress aria-labelledby="progress-label" max="100" value=${this.progress * 100}></progress>`}
          </div>`
        : ""}
      ${this.importResult
        ? html`<p role="status" class="import-result">
            ${this.importResult.dry_run ? "Checked (nothing written)" : "Imported"}: ${formatCount(this.importResult.rows)} rows —
            ${formatCount(this.importResult.created)} created, ${formatCount(this.importResult.updated)} updated,
            ${formatCount(this.importResult.unchanged)} unchanged.
          </p>`
        : ""}
      ${this.importError ? this.importErrors(this.importError) : ""}
    </section>`;
  }

  private importErrors(error: unknown): TemplateResult {
    if (!(error instanceof ApiError) || !error.rows.length) return failed(error);
    return html`<div class="state error" role="alert">
        <strong>Nothing was imported:</strong> ${formatCount(error.errorCount)} problem${error.errorCount === 1 ? "" : "s"} in
        the file.
      </div>
      <div class="table-wrap">
        <table class="row-errors">
          <caption class="visually-hidden">Errors by row</caption>
          <thead>
            <tr>
              <th scope="col" class="num">Row</th>
              <th scope="col">Column</th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            ${error.rows.map(
              (row) => html`<tr>
                <td class="num">${row.row}</td>
                <td>${row.column ?? "–"}</td>
                <td>${row.message}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
  }

  private jobList(): TemplateResult {
    const names = new Map(this.technicians.map((person) => [person.id, person.name]));
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
            ${["scheduled", "completed", "cancelled"].map(
              (status) => html`<option value=${status} ?selected=${params.get("status") === status}>${status}</option>`,
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
            ? empty("No jobs match.")
            : html`<div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Reference</th>
                        <th scope="col">Technician</th>
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
                          <td>${job.external_ref}</td>
                          <td><a href="/technicians/${job.technician_id}">${names.get(job.technician_id) ?? job.technician_id}</a></td>
                          <td>${job.category}</td>
                          <td>${job.status}</td>
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

  private behind(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.rows) return loading("Loading the jobs behind this value");
    const params = this.params;
    const kpi = this.kpi;
    const evaluations = kpi?.source === "evaluations";
    const numerator = this.rows.reduce((sum, row) => sum + row.numerator, 0);
    const denominator = this.rows.reduce((sum, row) => sum + row.denominator, 0);
    const onePage = (this.pagination?.total_pages ?? 1) <= 1;
    return html`<h1>${kpi?.label ?? params.get("kpi")}: the ${evaluations ? "evaluations" : "jobs"} behind the value</h1>
      <p>
        ${formatPeriod(params.get("period_start") ?? "", params.get("period") ?? "month")} ·
        ${params.get("group_by") === "company" ? "whole company" : (this.value?.group_label ?? params.get("group_id"))}
        ${params.get("team") || params.get("technician") || params.get("category") ? " · filtered" : ""}
      </p>
      ${kpi ? html`<p class="hint">${kpi.formula}</p>` : ""}
      ${this.value
        ? html`<p class="totals" data-numerator=${this.value.numerator} data-denominator=${this.value.denominator}>
            Value ${formatKpi(this.value.value, kpi)} = ${formatNumber(this.value.numerator)} /
            ${formatNumber(this.value.denominator)} (sample ${formatCount(this.value.denominator)})
          </p>`
        : ""}
      ${!this.rows.length
        ? empty("Nothing was counted in this value.")
        : html`<div class="card">
            <div class="table-wrap">
              <table class="drilldown">
                <thead>
                  <tr>
                    <th scope="col">${evaluations ? "Evaluation" : "Job"}</th>
                    <th scope="col">Technician</th>
                    ${evaluations
                      ? html`<th scope="col">Period</th>
                          <th scope="col" class="num">Score</th>`
                      : html`<th scope="col">Category</th>
                          <th scope="col">Status</th>
                          <th scope="col">Scheduled</th>
                          <th scope="col">Arrived</th>
                          <th scope="col">Completed</th>
                          <th scope="col" class="num">Rating</th>`}
                    <th scope="col" class="num">Numerator</th>
                    <th scope="col" class="num">Denominator</th>
                  </tr>
                </thead>
                <tbody>
                  ${this.rows.map(
                    (row) => html`<tr>
                      <td>${row.external_ref ?? `#${row.id}`}</td>
                      <td>${row.technician}</td>
                      ${evaluations
                        ? html`<td>${formatDate(row.evaluation_period_start)} – ${formatDate(row.evaluation_period_end)}</td>
                            <td class="num">${formatNumber(row.score)}</td>`
                        : html`<td>${row.category ?? "–"}</td>
                            <td>${row.status}</td>
                            <td>${formatStamp(row.scheduled_start)}</td>
                            <td>${formatStamp(row.arrived_at)}</td>
                            <td>${formatStamp(row.completed_at)}</td>
                            <td class="num">${formatNumber(row.rating)}</td>`}
                      <td class="num">${formatNumber(row.numerator)}</td>
                      <td class="num">${formatNumber(row.denominator)}</td>
                    </tr>`,
                  )}
                </tbody>
                ${onePage
                  ? html`<tfoot>
                      <tr class="totals">
                        <th scope="row" colspan=${evaluations ? 4 : 8}>Total</th>
                        <td class="num" data-sum-numerator=${numerator}>${formatNumber(numerator)}</td>
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

  render(): TemplateResult {
    if (this.sub === "behind") return this.behind();
    return html`<h1>${this.user.role === "technician" ? "My jobs" : "Jobs and import"}</h1>
      <div class="grid">${this.importForm()} ${this.jobList()}</div>`;
  }
}

customElements.define("kpi-jobs-page", JobsPage);
