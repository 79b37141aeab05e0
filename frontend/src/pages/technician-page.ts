// A technician's page: scorecard, trends (every value links to the jobs behind it) and
// evaluations, with acknowledge for the technician. /technicians alone lists technicians.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { repeat } from "lit/directives/repeat.js";
import { api, ApiError } from "../api";
import { catalog } from "../catalog";
import {
  RANGES,
  addDays,
  askedEnd,
  companyToday,
  filterQuery,
  filtersToParams,
  periodStartOf,
  rangeFilters,
  rangeOf,
  readFilters,
  type Filters,
  type Range,
} from "../filters";
import { navigate } from "../router";
import {
  formatCount,
  formatDate,
  formatInterval,
  formatKpi,
  formatPeriodSoFar,
  formatScore,
  formatSigned,
  formatTargetStatus,
  kpiName,
} from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import "../components/download";
import { fileName, kpiCell, rangeSlug, round, unitLabel, type Download } from "../components/download";
import type { Contribution, Evaluation, KpiDefinition, KpiValue, Me, ScorecardRow, Scorecards, Standing, Team, Technician } from "../types";
import "../components/evaluation-card";
import "../components/disputes";
import { drilldownHref, type DashboardData } from "../widgets/data";
import "../widgets/trend";

type Loaded<T> = { value?: T; error?: unknown };

const EVALUATIONS_SHOWN = 4;

export class TechnicianPage extends LitElement {
  static styles = [
    shared,
    css`
      /* Phone first: one column of cards, the headline score on top, tables as cards. */
      .sections {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      .sections {
        margin-top: 1rem;
      }
      .sections > .card {
        container-type: inline-size;
      }
      /* A KPI on a phone: its name and value on one line, the rest (weight, points) below. */
      @container (max-width: 36rem) {
        .score-table tr > :first-child {
          flex: 1 1 11rem;
        }
        .score-table tr > :nth-child(2) {
          flex: 0 0 auto;
          margin-left: auto;
          text-align: right;
          font-weight: 700;
          font-size: 1.05rem;
        }
        /* A line break after the value: the other facts (team, target, weight) start below. */
        .score-table tr::after {
          content: "";
          flex-basis: 100%;
          order: 1;
        }
        .score-table tr > :nth-child(n + 3) {
          order: 2;
        }
        .score-table tr > td:nth-child(2)[data-label]::before {
          content: none;
        }
        .score-table tr > :nth-child(n + 3) {
          font-size: 0.9rem;
        }
      }
      h1 + .hint {
        margin-bottom: 0.75rem;
      }
      .field.range {
        margin-bottom: 0;
      }
      /* The headline: the score, then its facts two by two on a phone, in one row when wide. */
      .facts {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 1fr));
        gap: 0.5rem;
        margin-bottom: 0.75rem;
      }
      @container (min-width: 30rem) {
        .facts {
          grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr));
        }
      }
      .facts > * {
        background: var(--surface-2);
        border: 1px solid var(--border);
        border-radius: 8px;
        padding: 0.5rem 0.75rem;
      }
      .facts > :first-child {
        grid-column: 1 / -1;
        background: none;
        border: 0;
        padding: 0;
      }
      .score {
        font-size: 3rem;
        font-weight: 800;
        line-height: 1.05;
        font-variant-numeric: tabular-nums;
      }
      @container (min-width: 44rem) {
        .facts {
          display: flex;
          flex-wrap: wrap;
          align-items: stretch;
        }
        .facts > * {
          flex: 1 1 8rem;
        }
        .facts > :first-child {
          flex: 0 0 auto;
          padding-right: 1rem;
        }
      }
      #trend-kpi {
        width: 100%;
        max-width: 26rem;
      }
      /* The chart sits in this page's card: no second frame around it. */
      kpi-trend-widget {
        --widget-border: 0;
        --widget-padding: 0;
        --widget-shadow: none;
        margin-bottom: 0.75rem;
      }
      .kpi-values tbody th {
        min-width: 8rem;
        max-width: 11rem;
      }
      .kpi-values td {
        min-width: 4.5rem;
      }
      /* A value's status colours its link too (the link colour would hide it). */
      td.cell.status-green a,
      td.cell.status-amber a,
      td.cell.status-red a {
        color: inherit;
        font-weight: 600;
      }
      /* Each value is a link to its jobs: a 44 px target, its notes (margin, provisional) below it. */
      td.cell a {
        text-decoration: none;
      }
      td .note,
      td .status-words {
        display: block;
        font-size: 0.8rem;
        font-weight: 400;
        white-space: nowrap;
      }
      td .note {
        color: var(--muted);
      }
      td .note.provisional {
        font-style: italic;
      }
      td .hint {
        display: block;
      }
      .so-far {
        font-weight: 600;
        color: var(--muted);
      }
      /* A section's title with its Download control beside it. */
      .head {
        display: flex;
        justify-content: space-between;
        align-items: flex-start;
        gap: 0.5rem;
      }
      .head h2,
      .head h3 {
        flex: 1;
        min-width: 0;
        margin-top: 0;
      }
      kpi-trend-widget + .head {
        margin-top: 1rem;
        align-items: center;
      }
      kpi-trend-widget + .head h3 {
        margin: 0;
      }
      kpi-trend-widget + .head kpi-download-menu {
        margin-top: 0;
      }
      .head kpi-download-menu {
        margin-top: -0.5rem;
      }
      .ack {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: end;
      }
      .ack > div {
        flex: 1 1 12rem;
      }
      .ack input {
        width: 100%;
      }
    `,
  ];

  static properties = {
    technicianId: { attribute: false },
    params: { attribute: false },
    user: { attribute: false },
    technician: { state: true },
    teams: { state: true },
    scorecard: { state: true },
    values: { state: true },
    evaluations: { state: true },
    kpis: { state: true },
    chosen: { state: true },
    list: { state: true },
    ackError: { state: true },
    allEvaluations: { state: true },
  };
  declare technicianId: number | null;
  declare params: URLSearchParams;
  declare user: Me;
  declare technician: Loaded<Technician> | null;
  declare teams: Team[];
  declare scorecard: Loaded<{ cards: Scorecards; row: ScorecardRow | null }> | null;
  declare values: Loaded<KpiValue[]> | null;
  declare evaluations: Loaded<Evaluation[]> | null;
  declare kpis: Map<string, KpiDefinition>;
  declare chosen: string;
  declare list: Loaded<Technician[]> | null;
  declare ackError: unknown;
  declare allEvaluations: boolean;
  private waitingIds = new Set<number>();

  constructor() {
    super();
    new TableBoxes(this);
    this.technicianId = null;
    this.params = new URLSearchParams();
    this.technician = null;
    this.teams = [];
    this.scorecard = null;
    this.values = null;
    this.evaluations = null;
    this.kpis = new Map();
    this.chosen = "";
    this.list = null;
    this.ackError = null;
    this.allEvaluations = false;
  }

  private get filters(): Filters {
    return readFilters(this.params);
  }

  private get forbidden(): boolean {
    return this.user.role === "technician" && this.technicianId !== null && this.technicianId !== this.user.technician_id;
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("technicianId") || changed.has("params")) void this.load();
  }

  private async settle<T>(promise: Promise<T>): Promise<Loaded<T>> {
    try {
      return { value: await promise };
    } catch (error) {
      return { error };
    }
  }

  private async load(): Promise<void> {
    catalog.teams().then((teams) => (this.teams = teams), () => {});
    if (this.technicianId === null) {
      this.list = null;
      this.list = await this.settle(catalog.technicians());
      return;
    }
    if (this.forbidden) return; // a technician's own pages only: nothing of anyone else's is asked for
    const id = this.technicianId;
    this.technician = this.scorecard = this.values = this.evaluations = null;
    this.kpis = await catalog.kpiMap().catch(() => new Map());
    this.technician = await this.settle(api.get<Technician>(`/api/v1/technicians/${id}`));
    if (this.technician.error) return;
    const query = { ...filterQuery(this.filters), technician: id, team: undefined };
    const [scorecard, values, evaluations] = await Promise.all([
      this.settle(
        api.get<Scorecards>("/api/v1/scorecards", query).then((cards) => ({
          cards,
          row: cards.technicians.find((row) => row.technician_id === id) ?? null,
        })),
      ),
      this.settle(api.get<KpiValue[]>("/api/v1/kpis/values", { ...query, group_by: "technician" })),
      this.settle(api.get<Evaluation[]>("/api/v1/evaluations", { technician: id, sort: "-period_end", page_size: 50 })),
    ]);
    this.scorecard = scorecard;
    this.values = values;
    this.evaluations = evaluations;
    this.waitingIds = new Set((evaluations.value ?? []).filter((e) => e.status === "submitted").map((e) => e.id));
    if (!this.chosen || !this.kpis.has(this.chosen)) this.chosen = [...this.kpis.keys()][0] ?? "";
  }

  private listPage(): TemplateResult {
    if (!this.list) return loading("Loading technicians");
    if (this.list.error) return failed(this.list.error, () => this.load());
    const people = this.list.value ?? [];
    return html`<h1>Technicians</h1>
      ${this.user.role === "technician" ? html`<p class="hint">You see your own page only.</p>` : ""}
      ${!people.length
        ? this.noTechnicians()
        : html`<div class="card">
            <kpi-download-menu worded align="start" label="the list of technicians" .download=${this.listDownload(people)}></kpi-download-menu>
            <div class="table-wrap cards">
              <table class="technicians">
                <caption class="visually-hidden">Technicians, with their team</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Reference</th>
                    <th scope="col">Team</th>
                    <th scope="col">Active</th>
                  </tr>
                </thead>
                <tbody>
                  ${people.map(
                    (person) => html`<tr>
                      <td><a href="/technicians/${person.id}">${person.name}</a></td>
                      <td>${person.external_ref}</td>
                      <td>${this.teamName(person.team_id)}</td>
                      <td>${person.active === false ? "No" : "Yes"}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          </div>`}`;
  }

  private teamName(id: number | null | undefined): string {
    return (id && this.teams.find((team) => team.id === id)?.name) || "–";
  }

  /** No technicians: who adds them depends on the role (an import can, for an admin). */
  private noTechnicians(): TemplateResult {
    if (this.user.role === "admin") {
      return empty(
        "No technicians yet.",
        "Technicians are added when jobs are imported with “Create technicians that are not on file yet” ticked.",
        { href: "/jobs", label: "Import jobs" },
      );
    }
    if (this.user.role === "manager") {
      return empty("No technicians in your teams yet.", "An admin adds technicians and puts them in your teams.");
    }
    return empty("No technicians to show.", "Your own scorecard is under My scorecard.");
  }

  private listDownload(people: Technician[]): Download {
    return {
      name: fileName("technicians"),
      table: () => ({
        header: ["Name", "Reference", "Team", "Active"],
        rows: people.map((person) => [
          person.name,
          person.external_ref,
          person.team_id ? this.teamName(person.team_id) : "",
          person.active === false ? "No" : "Yes",
        ]),
      }),
    };
  }

  render(): TemplateResult {
    if (this.technicianId === null) return this.listPage();
    if (this.forbidden) {
      return html`<h1>Not available</h1>
        <p role="alert" class="state error">You can only see your own pages.</p>
        <p><a class="button secondary" href="/technicians/${this.user.technician_id}">Go to your scorecard</a></p>`;
    }
    if (!this.technician) return loading("Loading");
    if (this.technician.error) {
      const missing = this.technician.error instanceof ApiError && this.technician.error.status === 404;
      return missing
        ? html`<h1>Not found</h1>
            <p role="alert" class="state error">There is no technician ${this.technicianId} that you may see.</p>`
        : failed(this.technician.error, () => this.load());
    }
    const person = this.technician.value!;
    const team = this.teams.find((t) => t.id === person.team_id);
    const filters = this.filters;
    return html`<h1>${person.name}</h1>
      <p class="hint">${team ? team.name : "No team"} · ${person.external_ref} · ${this.rangeWords(filters)}</p>
      ${this.rangeControl(person, filters)}
      <div class="sections">
        ${this.scorecardSection(person)} ${this.trendSection(person)} ${this.evaluationSection(person)}
        <kpi-dispute-list .technicianId=${person.id}></kpi-dispute-list>
      </div>`;
  }

  /** The days the page covers: "Jun 1, 2026 to Nov 30, 2026", or "... to Dec 6, 2026 (so far)". */
  private rangeWords(filters: Filters): string {
    const last = addDays(askedEnd(filters), -1);
    return `${formatDate(filters.start)} to ${formatDate(last)}${this.underWay ? " (so far)" : ""}`;
  }

  /** The range reaches today: its numbers are so far, and may still change. */
  private get underWay(): boolean {
    return askedEnd(this.filters) > companyToday();
  }

  private get manages(): boolean {
    return this.user.role === "admin" || this.user.role === "manager";
  }

  /** No jobs counted in the range: why, and what to do (choose a longer period; import jobs, for those who may). */
  private noJobs(person: Technician, what: string): TemplateResult {
    const own = this.user.technician_id === person.id;
    const whose = own ? "your" : `${person.name}’s`;
    const why = `No ${what}: none of ${whose} jobs are counted from ${this.rangeWords(this.filters)}.`;
    if (this.manages) return empty(why, "Choose a longer period above, or import their jobs.", { href: "/jobs", label: "Import jobs" });
    return empty(why, own ? "Choose a longer period above. Your jobs count here once the office imports them." : "Choose a longer period above.");
  }

  private scorecardSection(person: Technician): TemplateResult {
    let body: TemplateResult;
    let download: Download | null = null;
    if (!this.scorecard) body = loading("Loading the scorecard");
    else if (this.scorecard.error) body = failed(this.scorecard.error);
    else if (!this.scorecard.value?.row?.contributions.some((part) => part.value !== null)) {
      body = this.noJobs(person, "scorecard for this period");
    }
    else {
      const { row, cards } = this.scorecard.value;
      const own = this.user.technician_id === row.technician_id;
      const scored = row.contributions.filter((part) => part.weight > 0);
      const unscored = row.contributions.filter((part) => part.weight <= 0);
      const fair = cards.adjust === "category";
      download = this.scoreDownload(person, row, scored, own);
      body = html`<div class="facts">
          <div>
            <span class="score" data-score=${row.score ?? ""}>${formatScore(row.score)}</span> / 100${this.underWay
              ? html` <span class="so-far" data-so-far>so far</span>`
              : ""}
          </div>
          ${this.rankFact("Team rank", row.peers?.team ?? null)} ${this.rankFact("Company rank", row.peers?.company ?? null)}
          <div>Change: <strong>${formatSigned(row.change)}</strong></div>
          <div>Jobs: <strong>${formatCount(row.sample)}</strong></div>
        </div>
        ${this.underWay
          ? html`<p class="hint">This period is under way: the score and each value are so far, and will change as jobs are done.</p>`
          : ""}
        ${row.unranked_reason ? html`<p class="hint">Not ranked: ${row.unranked_reason}.</p>` : ""}
        ${fair
          ? html`<p class="hint" data-fair>
              Judged fairly by job mix: each rate is set against what ${own ? "your" : "the technician’s"} mix of job
              categories would give at the company’s rate for each category.
            </p>`
          : ""}
        <div class="table-wrap cards score-table">
          <table>
            <caption class="visually-hidden">
              Each KPI in the score: ${own ? "your" : "the technician's"} value, the team's, the target, its weight and the points it gives
            </caption>
            <thead>
              <tr>
                <th scope="col">KPI</th>
                <th scope="col" class="num">${own ? "Yours" : "Value"}</th>
                <th scope="col" class="num">Team</th>
                <th scope="col" class="num">Target</th>
                <th scope="col" class="num">Weight</th>
                <th scope="col" class="num">Points</th>
              </tr>
            </thead>
            <tbody>
              ${scored.map((part) => this.scoreRow(part))}
            </tbody>
          </table>
        </div>
        ${unscored.length
          ? html`<p class="hint unscored">
              Not in the score (weight 0): ${unscored.map((part) => kpiName(part.kpi, this.kpis.get(part.kpi), part)).join(", ")}.
            </p>`
          : ""}`;
    }
    return html`<section class="card" aria-labelledby="scorecard-title">
      <div class="head">
        <h2 id="scorecard-title">Scorecard</h2>
        ${download ? html`<kpi-download-menu label="the scorecard" .download=${download}></kpi-download-menu>` : ""}
      </div>
      ${body}
    </section>`;
  }

  /**
   * One KPI of the score: its value with its status in words (none on too small a sample, "so far"
   * while the period is under way), and, judged by job mix, the rate expected for the mix.
   */
  private scoreRow(part: Contribution): TemplateResult {
    const kpi = this.kpis.get(part.kpi);
    const facts = factsOf(kpi);
    const words = formatTargetStatus({ status: part.status, complete: !this.underWay }, facts);
    return html`<tr data-kpi=${part.kpi}>
      <td>${kpiName(part.kpi, kpi, part)}</td>
      <td class="num status-${part.status ?? "none"}" data-value=${part.value ?? ""} data-status=${part.status ?? ""}>
        ${formatKpi(part.value, kpi)}
        ${part.value === null ? "" : html`<span class="status-words">${words}</span>`}
        ${part.expected !== null && part.expected !== undefined
          ? html`<span class="hint" data-expected=${part.expected}>expected ${formatKpi(part.expected, kpi)} for the job mix</span>`
          : ""}
      </td>
      <td class="num" data-team-value=${part.team_value ?? ""}>${formatKpi(part.team_value, kpi)}</td>
      <td class="num">${targetWords(part, kpi)}</td>
      <td class="num">${formatScore(part.weight)}</td>
      <td class="num">${formatScore(part.points)}</td>
    </tr>`;
  }

  private scoreDownload(person: Technician, row: ScorecardRow, scored: Contribution[], own: boolean): Download {
    const filters = this.filters;
    const fair = scored.some((part) => part.expected !== null && part.expected !== undefined);
    return {
      name: fileName(person.name, "scorecard", this.fileRange(filters)),
      table: () => ({
        header: [
          "KPI",
          own ? "Your value" : "Value",
          "Unit",
          "Status",
          "Team's value",
          "On target from",
          "Weight",
          "Points",
          ...(fair ? ["Expected for the job mix"] : []),
        ],
        rows: [
          ...scored.map((part) => {
            const kpi = this.kpis.get(part.kpi);
            return [
              kpiName(part.kpi, kpi, part),
              kpiCell(part.value, kpi),
              unitLabel(kpi),
              part.value === null ? "" : formatTargetStatus({ status: part.status, complete: !this.underWay }, factsOf(kpi)),
              kpiCell(part.team_value, kpi),
              kpiCell(part.target?.green, kpi),
              round(part.weight, 2),
              round(part.points, 1),
              ...(fair ? [kpiCell(part.expected, kpi)] : []),
            ];
          }),
          ["Score (out of 100)", round(row.score, 1), "", this.underWay ? "so far" : "", "", "", "", "", ...(fair ? [""] : [])],
        ],
      }),
    };
  }

  /** The range for a file name: "2026-06-to-2026-11". */
  private fileRange(filters: Filters): string {
    const last = periodStartOf(addDays(askedEnd(filters), -1), filters.period);
    return rangeSlug(periodStartOf(filters.start, filters.period), last, filters.period);
  }

  private trendSection(person: Technician): TemplateResult {
    let body: TemplateResult;
    if (!this.values) body = loading("Loading the KPIs");
    else if (this.values.error) body = failed(this.values.error);
    else if (!this.values.value?.some((row) => row.value !== null)) body = this.noJobs(person, "KPI values for this period");
    else {
      const rows = this.values.value;
      const filters = this.filters;
      const periods = [...new Set(rows.map((row) => row.period_start))].sort();
      const complete = new Map(periods.map((period) => [period, rows.every((row) => row.period_start !== period || row.complete)]));
      const keys = [...this.kpis.keys()].filter((key) => rows.some((row) => row.kpi === key));
      const download = this.valuesDownload(person, rows, keys, complete);
      const data: DashboardData = {
        filters,
        kpis: this.kpis,
        targets: new Map(),
        company: { ok: true, value: rows },
        technicians: null,
        scorecards: null,
        latest: periodStartOf(filters.end, filters.period),
        previous: "",
        group: { by: "technician", id: String(person.id) }, // the chart's points open this technician's jobs
      };
      catalog.targets().then(
        (targets) => targets.forEach((t) => data.targets.set(t.metric_key, t.company ?? null)),
        () => {},
      );
      const spec = {
        key: "technician.trend",
        title: `Trend: ${kpiName(this.chosen, this.kpis.get(this.chosen))}`,
        type: "trend" as const,
        metrics: [this.chosen],
        size: "full" as const,
        module_url: null,
        element: null,
        options: {},
        plugin: "",
      };
      const shown = rows.filter((row) => keys.includes(row.kpi));
      body = html`<div class="field">
          <label for="trend-kpi">KPI in the chart</label>
          <select id="trend-kpi" @change=${(e: Event) => (this.chosen = (e.target as HTMLSelectElement).value)}>
            ${keys.map((key) => html`<option value=${key} ?selected=${key === this.chosen}>${kpiName(key, this.kpis.get(key))}</option>`)}
          </select>
        </div>
        <kpi-trend-widget .spec=${spec} .data=${data}></kpi-trend-widget>
        <div class="head">
          <h3 id="values-title">Every KPI by period</h3>
          <kpi-download-menu label="every KPI by period" .download=${download}></kpi-download-menu>
        </div>
        <div class="table-wrap sticky newest-last">
          <table class="kpi-values">
            <caption class="visually-hidden">KPI values by period; each value links to what it counts</caption>
            <thead>
              <tr>
                <th scope="col">KPI</th>
                ${periods.map(
                  (period) => html`<th scope="col" class="num" data-complete=${String(complete.get(period))}>
                    ${formatPeriodSoFar(period, filters.period, complete.get(period) ?? true)}
                  </th>`,
                )}
              </tr>
            </thead>
            <tbody>
              ${keys.map(
                (key) => html`<tr>
                  <th scope="row">${kpiName(key, this.kpis.get(key))}</th>
                  ${periods.map((period) => this.valueCell(person, key, rows.find((r) => r.kpi === key && r.period_start === period)))}
                </tr>`,
              )}
            </tbody>
          </table>
        </div>
        ${this.valuesKey(shown)}`;
    }
    return html`<section class="card" aria-labelledby="trends-title">
      <h2 id="trends-title">KPIs and trends</h2>
      ${body}
    </section>`;
  }

  /**
   * One value of the trend table, linking to the jobs behind it: coloured by its status (never on
   * too small a sample, which says "too few jobs"), a rate with its margin, and a value that can
   * still change marked provisional.
   */
  private valueCell(person: Technician, key: string, row: KpiValue | undefined): TemplateResult {
    const kpi = this.kpis.get(key);
    const facts = factsOf(kpi);
    if (!row || row.value === null) {
      return html`<td class="num">
        –${row && row.pending > 0 ? html`<span class="note" data-pending=${row.pending}>not known yet</span>` : ""}
      </td>`;
    }
    const interval = formatInterval(row, kpi);
    const words = formatTargetStatus(row, facts);
    return html`<td class="num cell status-${row.status ?? "none"}" data-status=${row.status ?? ""}>
      <a
        href=${drilldownHref(key, { ...this.filters, team: null, technician: person.id }, row.period_start, {
          by: "technician",
          id: String(person.id),
        })}
        data-kpi=${key}
        data-period=${row.period_start}
        data-value=${String(row.value)}
        title="${formatCount(row.denominator)} ${facts}: show them"
        >${formatKpi(row.value, kpi)}${row.status === "insufficient" ? "" : html`<span class="visually-hidden">, ${words}</span>`}</a
      >
      ${interval ? html`<span class="note" data-interval>${interval}</span>` : ""}
      ${row.status === "insufficient" ? html`<span class="note">${words}</span>` : ""}
      ${row.provisional ? html`<span class="note provisional" data-pending=${row.pending}>provisional</span>` : ""}
    </td>`;
  }

  /** What the marks in the trend table mean, for those that are there. */
  private valuesKey(rows: KpiValue[]): TemplateResult | string {
    const parts: string[] = [];
    if (rows.some((row) => formatInterval(row, this.kpis.get(row.kpi)))) {
      parts.push("± is a rate’s margin: the true rate lies within it 95 times in 100.");
    }
    if (rows.some((row) => row.status === "insufficient" && row.value !== null)) {
      parts.push("Too few jobs or evaluations: too small a sample to judge against the target, so it is not coloured.");
    }
    if (rows.some((row) => row.provisional)) {
      parts.push("Provisional: some jobs’ outcome (a callback) is not known yet, so the value can still change.");
    }
    if (rows.some((row) => !row.complete)) parts.push("So far: the period is under way.");
    return parts.length ? html`<p class="hint values-key">${parts.join(" ")}</p>` : "";
  }

  private valuesDownload(person: Technician, rows: KpiValue[], keys: string[], complete: Map<string, boolean>): Download {
    const filters = this.filters;
    const ordered = keys.flatMap((key) => rows.filter((row) => row.kpi === key).sort((a, b) => a.period_start.localeCompare(b.period_start)));
    return {
      name: fileName(person.name, "kpis", this.fileRange(filters)),
      table: () => ({
        header: ["KPI", "Period", "First day", "Value", "Unit", "Margin (± percentage points)", "Sample", "Status", "Provisional", "Not known yet"],
        rows: ordered.map((row) => {
          const kpi = this.kpis.get(row.kpi);
          const interval = formatInterval(row, kpi);
          const margin = interval && row.value !== null ? round(Math.max(row.value - row.ci_low!, row.ci_high! - row.value) * 100, 1) : null;
          return [
            kpiName(row.kpi, kpi),
            formatPeriodSoFar(row.period_start, filters.period, complete.get(row.period_start) ?? row.complete),
            row.period_start,
            kpiCell(row.value, kpi),
            unitLabel(kpi),
            margin,
            row.value === null ? null : row.denominator,
            row.value === null ? "" : formatTargetStatus(row, factsOf(kpi)),
            row.provisional ? "Yes" : "No",
            row.pending,
          ];
        }),
      }),
    };
  }

  private async reloadEvaluations(technicianId: number): Promise<void> {
    this.evaluations = await this.settle(
      api.get<Evaluation[]>("/api/v1/evaluations", { technician: technicianId, sort: "-period_end", page_size: 50 }),
    );
  }

  /** The range of the scorecard and trends, chosen in words; a range from a shared link is kept as it is. */
  private rangeControl(person: Technician, filters: Filters): TemplateResult {
    const chosen = rangeOf(filters);
    const change = (event: Event) => {
      const range = (event.target as HTMLSelectElement).value as Range;
      if (!range) return;
      navigate(`/technicians/${person.id}?${filtersToParams({ ...filters, ...rangeFilters(range) })}`);
    };
    return html`<div class="field range">
      <label for="range">Period</label>
      <select id="range" name="range" @change=${change}>
        ${chosen === null
          ? html`<option value="" selected>
              ${formatDate(filters.start)} to ${formatDate(new Date(Date.parse(filters.end) - 86_400_000).toISOString())}
            </option>`
          : ""}
        ${RANGES.map(([range, label]) => html`<option value=${range} ?selected=${chosen === range}>${label}</option>`)}
      </select>
    </div>`;
  }

  private rankFact(what: string, standing: Standing | null): TemplateResult | string {
    if (!standing) return "";
    const place = standing.rank === null ? "not ranked" : `${formatCount(standing.rank)} of ${formatCount(standing.of)}`;
    return html`<div data-rank=${what}>${what}: <strong>${place}</strong></div>`;
  }

  private evaluationSection(person: Technician): TemplateResult {
    let body: TemplateResult;
    const own = this.user.technician_id === person.id;
    if (!this.evaluations) body = loading("Loading evaluations");
    else if (this.evaluations.error) body = failed(this.evaluations.error);
    else if (!this.evaluations.value?.length) body = empty("No evaluations yet.");
    else {
      // Every one waiting for the reader's acknowledgement first (never folded away: each asks
      // something of them), then the newest few, and the rest on request.
      // Waiting when the page opened: an evaluation just acknowledged keeps its place.
      const waiting = (e: Evaluation) => (own && this.waitingIds.has(e.id) ? 0 : 1);
      const ordered = [...this.evaluations.value].sort((a, b) => waiting(a) - waiting(b));
      const waitingCount = ordered.filter((e) => waiting(e) === 0).length;
      const folded = Math.max(EVALUATIONS_SHOWN, waitingCount);
      const shown = this.allEvaluations ? ordered : ordered.slice(0, folded);
      const stillWaiting = ordered.filter((e) => waiting(e) === 0 && e.status === "submitted");
      const opened = stillWaiting[0]?.id;
      body = html`${stillWaiting.length > 1
          ? html`<p data-waiting-count>
              <strong>${formatCount(stillWaiting.length)} evaluations wait for you</strong> to read and acknowledge them.
            </p>`
          : ""}
        <div class="evaluations" @acknowledged=${() => this.reloadEvaluations(person.id)}>
          ${repeat(
            shown,
            (evaluation) => evaluation.id,
            // The first one still waiting opens; the others wait closed under it, so a phone's page stays short.
            (evaluation) =>
              html`<kpi-evaluation-card
                .evaluation=${evaluation}
                ?own=${own}
                ?folded=${evaluation.status === "submitted" && evaluation.id !== opened}
              ></kpi-evaluation-card>`,
          )}
        </div>
        ${ordered.length > folded
          ? html`<p>
              <button class="secondary" aria-expanded=${this.allEvaluations} @click=${() => (this.allEvaluations = !this.allEvaluations)}>
                ${this.allEvaluations ? "Show the latest only" : `Show all ${formatCount(ordered.length)} evaluations`}
              </button>
            </p>`
          : ""}`;
    }
    return html`<section class="card" aria-labelledby="evaluations-title">
      <h2 id="evaluations-title">Evaluations</h2>
      ${this.user.role !== "technician"
        ? html`<p><a class="button secondary" href="/evaluations/new?technician=${person.id}">New evaluation</a></p>`
        : ""}
      ${own && this.user.role === "technician"
        ? html`<p>
            <a class="button secondary" href="/self-appraisal">Appraise yourself</a>
            <span class="hint">Your manager sees your answers beside theirs.</span>
          </p>`
        : ""}
      ${body}
    </section>`;
  }
}

/** What a KPI counts, in words: jobs, or evaluations. */
function factsOf(kpi: KpiDefinition | undefined): string {
  return kpi?.source === "evaluations" ? "evaluations" : "jobs";
}

/** The green threshold in the KPI's unit, said with its direction ("90 % or more"). */
function targetWords(part: Contribution, kpi: KpiDefinition | undefined): string {
  if (!part.target) return "–";
  return `${formatKpi(part.target.green, kpi)} or ${kpi?.direction === "lower" ? "less" : "more"}`;
}

customElements.define("kpi-technician-page", TechnicianPage);
