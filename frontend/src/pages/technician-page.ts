// A technician's page: scorecard, trends (every value links to the jobs behind it) and
// evaluations, with acknowledge for the technician. /technicians alone lists technicians.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { repeat } from "lit/directives/repeat.js";
import { api, ApiError } from "../api";
import { catalog } from "../catalog";
import { RANGES, filterQuery, filtersToParams, periodStartOf, rangeFilters, rangeOf, readFilters, type Filters, type Range } from "../filters";
import { navigate } from "../router";
import { formatCount, formatDate, formatKpi, formatPeriod, formatScore, formatSigned } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { Contribution, Evaluation, KpiDefinition, KpiValue, Me, ScorecardRow, Scorecards, Standing, Team, Technician } from "../types";
import "../components/evaluation-card";
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
      td.cell a {
        text-decoration: none;
        display: inline-flex;
        align-items: center;
        min-height: 2rem;
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
    const teamName = new Map(this.teams.map((team) => [team.id, team.name]));
    return html`<h1>Technicians</h1>
      ${!people.length
        ? empty("No technicians yet.")
        : html`<div class="card table-wrap cards">
            <table>
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
                    <td>${person.team_id ? (teamName.get(person.team_id) ?? person.team_id) : "–"}</td>
                    <td>${person.active ? "yes" : "no"}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}`;
  }

  render(): TemplateResult {
    if (this.technicianId === null) return this.listPage();
    if (this.forbidden) {
      return html`<h1>Not available</h1>
        <p role="alert" class="state error">You can only see your own pages.</p>
        <a href="/technicians/${this.user.technician_id}">Go to your scorecard</a>`;
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
      <p class="hint">
        ${team ? team.name : "No team"} · ${person.external_ref} · ${formatDate(filters.start)} to
        ${formatDate(new Date(Date.parse(filters.end) - 86_400_000).toISOString())}
      </p>
      ${this.rangeControl(person, filters)}
      <div class="sections">
        ${this.scorecardSection()} ${this.trendSection(person)} ${this.evaluationSection(person)}
      </div>`;
  }

  private scorecardSection(): TemplateResult {
    let body: TemplateResult;
    if (!this.scorecard) body = loading("Loading the scorecard");
    else if (this.scorecard.error) body = failed(this.scorecard.error);
    else if (!this.scorecard.value?.row) body = empty("No jobs in this range: no scorecard.");
    else {
      const { row } = this.scorecard.value;
      const own = this.user.technician_id === row.technician_id;
      const scored = row.contributions.filter((part) => part.weight > 0);
      const unscored = row.contributions.filter((part) => part.weight <= 0);
      body = html`<div class="facts">
          <div><span class="score" data-score=${row.score ?? ""}>${formatScore(row.score)}</span> / 100</div>
          ${this.rankFact("Team rank", row.peers?.team ?? null)} ${this.rankFact("Company rank", row.peers?.company ?? null)}
          <div>Change: <strong>${formatSigned(row.change)}</strong></div>
          <div>Jobs: <strong>${formatCount(row.sample)}</strong></div>
        </div>
        ${row.unranked_reason ? html`<p class="hint">Not ranked: ${row.unranked_reason}.</p>` : ""}
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
              ${scored.map((part) => {
                const kpi = this.kpis.get(part.kpi);
                return html`<tr data-kpi=${part.kpi}>
                  <td>${kpi?.label ?? part.label ?? ""}</td>
                  <td class="num status-${part.status ?? "none"}" data-value=${part.value ?? ""}>
                    ${formatKpi(part.value, kpi)}${statusWords(part.status)}
                  </td>
                  <td class="num" data-team-value=${part.team_value ?? ""}>${formatKpi(part.team_value, kpi)}</td>
                  <td class="num">${targetWords(part, kpi)}</td>
                  <td class="num">${formatScore(part.weight)}</td>
                  <td class="num">${formatScore(part.points)}</td>
                </tr>`;
              })}
            </tbody>
          </table>
        </div>
        ${unscored.length
          ? html`<p class="hint unscored">
              Not in the score (weight 0): ${unscored.map((part) => this.kpis.get(part.kpi)?.label ?? part.label).join(", ")}.
            </p>`
          : ""}`;
    }
    return html`<section class="card" aria-labelledby="scorecard-title">
      <h2 id="scorecard-title">Scorecard</h2>
      ${body}
    </section>`;
  }

  private trendSection(person: Technician): TemplateResult {
    let body: TemplateResult;
    if (!this.values) body = loading("Loading the KPIs");
    else if (this.values.error) body = failed(this.values.error);
    else if (!this.values.value?.length) body = empty("No KPI values in this range.");
    else {
      const rows = this.values.value;
      const filters = this.filters;
      const periods = [...new Set(rows.map((row) => row.period_start))].sort();
      const keys = [...this.kpis.keys()].filter((key) => rows.some((row) => row.kpi === key));
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
        (targets) => targets.forEach((t) => data.targets.set(t.metric_key, t.company)),
        () => {},
      );
      const spec = {
        key: "technician.trend",
        title: `Trend: ${this.kpis.get(this.chosen)?.label ?? this.chosen}`,
        type: "trend" as const,
        metrics: [this.chosen],
        size: "full" as const,
        module_url: null,
        element: null,
        options: {},
        plugin: "",
      };
      body = html`<div class="field">
          <label for="trend-kpi">KPI in the chart</label>
          <select id="trend-kpi" @change=${(e: Event) => (this.chosen = (e.target as HTMLSelectElement).value)}>
            ${keys.map((key) => html`<option value=${key} ?selected=${key === this.chosen}>${this.kpis.get(key)?.label}</option>`)}
          </select>
        </div>
        <kpi-trend-widget .spec=${spec} .data=${data}></kpi-trend-widget>
        <div class="table-wrap sticky newest-last">
          <table class="kpi-values">
            <caption class="visually-hidden">KPI values by period; each value links to what it counts</caption>
            <thead>
              <tr>
                <th scope="col">KPI</th>
                ${periods.map((period) => html`<th scope="col" class="num">${formatPeriod(period, filters.period)}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${keys.map(
                (key) => html`<tr>
                  <th scope="row">${this.kpis.get(key)?.label ?? key}</th>
                  ${periods.map((period) => {
                    const row = rows.find((r) => r.kpi === key && r.period_start === period);
                    if (!row || row.value === null) return html`<td class="num">–</td>`;
                    return html`<td class="num cell status-${row.status ?? "none"}">
                      <a
                        href=${drilldownHref(key, { ...filters, team: null, technician: person.id }, period, {
                          by: "technician",
                          id: String(person.id),
                        })}
                        data-kpi=${key}
                        data-value=${String(row.value)}
                        title="n=${formatCount(row.denominator)}"
                        >${formatKpi(row.value, this.kpis.get(key))}${statusWords(row.status)}</a
                      >
                    </td>`;
                  })}
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
    }
    return html`<section class="card" aria-labelledby="trends-title">
      <h2 id="trends-title">KPIs and trends</h2>
      ${body}
    </section>`;
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
      // Those waiting for the reader's acknowledgement first; the newest few, and the rest on request.
      // Waiting when the page opened: an evaluation just acknowledged keeps its place.
      const waiting = (e: Evaluation) => (own && this.waitingIds.has(e.id) ? 0 : 1);
      const ordered = [...this.evaluations.value].sort((a, b) => waiting(a) - waiting(b));
      const shown = this.allEvaluations ? ordered : ordered.slice(0, EVALUATIONS_SHOWN);
      body = html`<div class="evaluations" @acknowledged=${() => this.reloadEvaluations(person.id)}>
          ${repeat(
            shown,
            (evaluation) => evaluation.id,
            (evaluation) => html`<kpi-evaluation-card .evaluation=${evaluation} ?own=${own}></kpi-evaluation-card>`,
          )}
        </div>
        ${ordered.length > EVALUATIONS_SHOWN
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
      ${body}
    </section>`;
  }
}

const STATUS_WORDS: Record<string, string> = { green: "on target", amber: "close to target", red: "below target" };

/** A status said in words as well as by colour (for screen readers; the colour is for the eye). */
function statusWords(status: string | null | undefined): TemplateResult | string {
  const words = status ? STATUS_WORDS[status] : undefined;
  return words ? html`<span class="visually-hidden">, ${words}</span>` : "";
}

/** The green threshold in the KPI's unit, said with its direction ("90 % or more"). */
function targetWords(part: Contribution, kpi: KpiDefinition | undefined): string {
  if (!part.target) return "–";
  return `${formatKpi(part.target.green, kpi)} or ${kpi?.direction === "lower" ? "less" : "more"}`;
}

customElements.define("kpi-technician-page", TechnicianPage);
