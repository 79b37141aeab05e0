// A technician's page: scorecard, trends (every value links to the jobs behind it) and
// evaluations, with acknowledge for the technician. /technicians alone lists technicians.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, ApiError } from "../api";
import { catalog } from "../catalog";
import { filterQuery, periodStartOf, readFilters, type Filters } from "../filters";
import { formatCount, formatDate, formatKpi, formatPeriod, formatScore, formatSigned, formatStamp } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import type { Evaluation, KpiDefinition, KpiValue, Me, ScorecardRow, Scorecards, Team, Technician } from "../types";
import { drilldownHref, type DashboardData } from "../widgets/data";
import "../widgets/trend";

type Loaded<T> = { value?: T; error?: unknown };

export class TechnicianPage extends LitElement {
  static styles = [
    shared,
    css`
      .sections {
        display: grid;
        gap: 1rem;
      }
      .score {
        font-size: 2.5rem;
        font-weight: 700;
      }
      .facts {
        display: flex;
        flex-wrap: wrap;
        gap: 1.5rem;
        align-items: baseline;
      }
      td.cell a {
        text-decoration: none;
      }
      .ack {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: end;
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

  constructor() {
    super();
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
        : html`<div class="card table-wrap">
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
      const { row, cards } = this.scorecard.value;
      body = html`<div class="facts">
          <div><span class="score" data-score=${row.score ?? ""}>${formatScore(row.score)}</span> / 100</div>
          <div>Rank: <strong>${row.rank ?? "not ranked"}</strong> of ${formatCount(cards.technicians.filter((t) => t.rank).length)}</div>
          <div>Change: <strong>${formatSigned(row.change)}</strong></div>
          <div>Jobs: <strong>${formatCount(row.sample)}</strong></div>
        </div>
        ${row.unranked_reason ? html`<p class="hint">${row.unranked_reason}</p>` : ""}
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">KPI</th>
                <th scope="col" class="num">Value</th>
                <th scope="col" class="num">Weight</th>
                <th scope="col" class="num">Points</th>
              </tr>
            </thead>
            <tbody>
              ${row.contributions.map(
                (part) => html`<tr>
                  <td>${this.kpis.get(part.kpi)?.label ?? part.kpi}</td>
                  <td class="num status-${part.status ?? "none"}">${formatKpi(part.value, this.kpis.get(part.kpi))}</td>
                  <td class="num">${formatScore(part.weight)}</td>
                  <td class="num">${formatScore(part.points)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
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
        <div class="table-wrap">
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
                        >${formatKpi(row.value, this.kpis.get(key))}</a
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

  private async acknowledge(event: SubmitEvent, evaluation: Evaluation): Promise<void> {
    event.preventDefault();
    const comment = String(new FormData(event.target as HTMLFormElement).get("comment") || "") || null;
    this.ackError = null;
    try {
      await api.post(`/api/v1/evaluations/${evaluation.id}/acknowledge`, { comment });
      this.evaluations = await this.settle(
        api.get<Evaluation[]>("/api/v1/evaluations", { technician: evaluation.technician_id, sort: "-period_end", page_size: 50 }),
      );
    } catch (error) {
      this.ackError = error;
    }
  }

  private evaluationSection(person: Technician): TemplateResult {
    let body: TemplateResult;
    const own = this.user.technician_id === person.id;
    if (!this.evaluations) body = loading("Loading evaluations");
    else if (this.evaluations.error) body = failed(this.evaluations.error);
    else if (!this.evaluations.value?.length) body = empty("No evaluations yet.");
    else {
      body = html`${this.ackError ? failed(this.ackError) : ""}
        <div class="table-wrap">
          <table class="evaluations">
            <thead>
              <tr>
                <th scope="col">Period</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Score</th>
                <th scope="col">Submitted</th>
                <th scope="col">Comment / acknowledge</th>
              </tr>
            </thead>
            <tbody>
              ${this.evaluations.value.map(
                (evaluation) => html`<tr data-evaluation=${evaluation.id}>
                  <td>${formatDate(evaluation.period_start)} – ${formatDate(evaluation.period_end)}</td>
                  <td><span class="badge">${evaluation.status}</span></td>
                  <td class="num">${formatScore(evaluation.score)}</td>
                  <td>${formatStamp(evaluation.submitted_at)}</td>
                  <td>
                    ${evaluation.status === "submitted" && own
                      ? html`<form class="ack" @submit=${(e: SubmitEvent) => this.acknowledge(e, evaluation)}>
                          <div>
                            <label for="comment-${evaluation.id}">Your comment (optional)</label>
                            <input id="comment-${evaluation.id}" name="comment" maxlength="2000" />
                          </div>
                          <button type="submit">Acknowledge</button>
                        </form>`
                      : (evaluation.technician_comment ?? (evaluation.acknowledged_at ? `Acknowledged ${formatStamp(evaluation.acknowledged_at)}` : "–"))}
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
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

customElements.define("kpi-technician-page", TechnicianPage);
