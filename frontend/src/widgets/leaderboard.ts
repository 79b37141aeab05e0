// Leaderboard: technicians ranked by the KPI the widget is about (its first metric), from the ranks
// GET /api/v1/scorecards gives each KPI (direction-aware, the minimum-sample rule applied), with the
// widget's other metrics and the composite score beside; those not ranked are listed apart, with the
// reason. A single technician listed (a technician's own dashboard) sees where they stand in their
// team and the company instead of a lonely "1".
import { css, html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatScore, formatSigned } from "../format";
import type { Contribution, ScorecardRow, Scorecards } from "../types";
import { WidgetBase } from "./base";
import { emptyFor, type DashboardData } from "./data";
import { filtersToParams, periodStartOf } from "../filters";
import { navigate } from "../router";
import { fileName, kpiCell, kpiHeader, rangeSlug, round, type Download } from "../components/download";

const SHOWN = 10;

export class LeaderboardWidget extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      .unranked td {
        color: var(--muted);
      }
      button {
        margin-top: 0.5rem;
      }
      .fair label {
        display: inline-flex;
        align-items: center;
        gap: 0.5rem;
        min-height: 44px;
        font-weight: 600;
      }
      .fair input {
        width: 1.25rem;
        height: 1.25rem;
      }
      .fair .hint {
        margin-top: 0;
      }
      /* On a phone each technician is a card: rank and name, then score and every metric. */
      @container (max-width: 36rem) {
        .cards tr > :first-child {
          flex-basis: auto;
        }
        .cards tr > td:first-child[data-label]::before {
          content: "#";
          display: inline;
          font-size: inherit;
          color: inherit;
        }
        .cards tr {
          column-gap: 0.75rem;
        }
        .cards tr > :nth-child(2) {
          flex: 1 1 6rem;
          font-weight: 600;
        }
        .cards tr > td:nth-child(2)[data-label]::before {
          content: none;
        }
        /* The KPI the board ranks by (its third column) on the name's line; the rest below. */
        .cards tr > td:nth-child(3) {
          margin-left: auto;
          text-align: right;
          font-weight: 700;
        }
        .cards tr > td:nth-child(3)[data-label]::before {
          content: none;
        }
        .cards tr::after {
          content: "";
          flex-basis: 100%;
          order: 1;
        }
        .cards tr > :nth-child(n + 4) {
          order: 2;
        }
        .cards tbody th[scope="rowgroup"] {
          flex-basis: 100%;
          margin-top: 0.5rem;
        }
      }
    `,
  ];

  static properties = { ...WidgetBase.properties, all: { state: true } };
  declare all: boolean;

  constructor() {
    super();
    this.all = false;
  }

  body(data: DashboardData): TemplateResult {
    return this.settled(data.scorecards, (cards) => this.table(data, cards));
  }

  /** The KPI this leaderboard is about and ranks by: the declaration's first metric. */
  private get rankedBy(): string {
    return this.spec.metrics[0];
  }

  private partOf(row: ScorecardRow, key: string): Contribution | undefined {
    return row.contributions.find((c) => c.kpi === key);
  }

  private rankOf(row: ScorecardRow): number | null {
    return this.partOf(row, this.rankedBy)?.rank ?? null;
  }

  /** Ranked first (by the KPI's rank, then name), the others after, by name. */
  private ordered(cards: Scorecards): { ranked: ScorecardRow[]; unranked: ScorecardRow[] } {
    const byName = (a: ScorecardRow, b: ScorecardRow) => a.technician.localeCompare(b.technician);
    const ranked = cards.technicians.filter((row) => this.rankOf(row) !== null);
    ranked.sort((a, b) => this.rankOf(a)! - this.rankOf(b)! || byName(a, b));
    const unranked = cards.technicians.filter((row) => this.rankOf(row) === null).sort(byName);
    return { ranked, unranked };
  }

  private whyUnranked(cards: Scorecards, row: ScorecardRow): string | null {
    if (this.rankOf(row) !== null) return null;
    if (this.partOf(row, this.rankedBy)?.value == null) return `No value in this range`;
    const jobs = `${formatCount(row.sample)} completed job${row.sample === 1 ? "" : "s"}`;
    return `Only ${jobs} in this range; ${formatCount(cards.min_sample)} needed to be ranked`;
  }

  private standing(row: ScorecardRow): TemplateResult | string {
    const peers = this.partOf(row, this.rankedBy)?.peers;
    if (!peers || peers.company.of < 2) return "";
    const place = (rank: number | null, of: number) =>
      rank === null ? `not ranked (${formatCount(of)} ranked)` : `${formatCount(rank)} of ${formatCount(of)}`;
    return html`<p class="standing" data-company-rank=${peers.company.rank ?? ""}>
      ${row.technician}: <strong>${place(peers.company.rank, peers.company.of)}</strong> in the company${peers.team
        ? html` · <strong>${place(peers.team.rank, peers.team.of)}</strong> in ${row.team ?? "the team"}`
        : ""}
    </p>`;
  }

  private table(data: DashboardData, cards: Scorecards): TemplateResult {
    if (!cards.technicians.some((row) => row.sample > 0)) return emptyFor(data, this.spec.metrics, "range");
    const { ranked, unranked } = this.ordered(cards);
    const shown = this.all ? ranked : ranked.slice(0, SHOWN);
    const metrics = this.spec.metrics;
    const single = cards.technicians.length === 1 ? cards.technicians[0] : null;
    const fair = cards.adjust === "category";
    const rate = data.kpis.get(this.rankedBy)?.kind === "rate"; // a mean has no rate per category to expect
    return html`<p class="hint">Ranked by ${this.label(this.rankedBy)}${fair && rate ? ", fairly by job mix" : ""}</p>
      ${single || !rate ? "" : this.fairToggle(data, fair)}
      ${single ? this.standing(single) : ""}
      <div class="table-wrap cards">
        <table>
          <caption class="visually-hidden">
            ${this.spec.title}, ranked by ${this.label(this.rankedBy)}
          </caption>
          <thead>
            <tr>
              <th scope="col" class="num">#</th>
              <th scope="col">Technician</th>
              ${metrics.map((key) => html`<th scope="col" class="num">${this.label(key)}</th>`)}
              <th scope="col" class="num">Score</th>
              <th scope="col" class="num">Change</th>
              <th scope="col" class="num">Jobs</th>
            </tr>
          </thead>
          <tbody>
            ${shown.map((row) => this.row(data, cards, row, !!single))}
            ${unranked.length
              ? html`<tr>
                    <th colspan=${metrics.length + 5} scope="rowgroup">Not ranked</th>
                  </tr>
                  ${unranked.map((row) => this.row(data, cards, row, !!single))}`
              : ""}
          </tbody>
        </table>
      </div>
      ${ranked.length > SHOWN
        ? html`<button class="secondary" @click=${() => (this.all = !this.all)} aria-expanded=${this.all}>
            ${this.all ? "Show the top ten" : `Show all ${formatCount(ranked.length)}`}
          </button>`
        : ""}`;
  }

  /**
   * "Compare fairly by job mix": each rate is judged against the rate the technician's mix of job
   * categories would give at the company's rate for each category (the API's adjust=category).
   */
  private fairToggle(data: DashboardData, fair: boolean): TemplateResult {
    const toggle = (event: Event) => {
      const checked = (event.target as HTMLInputElement).checked;
      navigate(`${location.pathname}?${filtersToParams({ ...data.filters, fair: checked })}`);
    };
    return html`<div class="fair">
      <label><input type="checkbox" data-fair .checked=${fair} @change=${toggle} /> Compare fairly by job mix</label>
      <p class="hint">
        ${fair
          ? "Each rate is judged against what the technician's mix of job categories would give at the company's rate for each category, so hard jobs do not count against anyone."
          : "Tick to judge each rate against the technician's mix of job categories, so that someone doing mostly hard jobs is not ranked below someone doing easy ones."}
      </p>
    </div>`;
  }

  protected download(data: DashboardData): Download | null {
    if (!data.scorecards?.ok || !data.scorecards.value.technicians.some((row) => row.sample > 0)) return null;
    const cards = data.scorecards.value;
    const { ranked: first, unranked } = this.ordered(cards);
    const ranked = [...first, ...unranked];
    const kpis = this.spec.metrics.map((key) => data.kpis.get(key));
    return {
      name: fileName(
        this.spec.title,
        rangeSlug(periodStartOf(data.filters.start, data.filters.period), data.latest, data.filters.period),
      ),
      table: () => ({
        header: [`Rank by ${this.label(this.rankedBy)}`, "Technician", "Team", ...this.spec.metrics.map((key, i) => kpiHeader(this.label(key), kpis[i])), "Score", "Change", "Jobs", "Not ranked because"],
        rows: ranked.map((row) => [
          this.rankOf(row),
          row.technician,
          row.team,
          ...this.spec.metrics.map((key, i) => kpiCell(row.contributions.find((c) => c.kpi === key)?.value, kpis[i])),
          round(row.score, 1),
          round(row.change, 1),
          row.sample,
          this.whyUnranked(cards, row),
        ]),
      }),
    };
  }

  private row(data: DashboardData, cards: Scorecards, row: ScorecardRow, single = false): TemplateResult {
    // Alone in the list (a technician's own dashboard), the rank that means something is the company's.
    const rank = single ? (this.partOf(row, this.rankedBy)?.peers?.company.rank ?? null) : this.rankOf(row);
    const why = this.whyUnranked(cards, row);
    return html`<tr class=${rank === null ? "unranked" : ""} data-technician=${row.technician_id} data-rank=${rank ?? ""}>
      <td class="num">${rank ?? "–"}</td>
      <td>
        <a href="/technicians/${row.technician_id}">${row.technician}</a>
        ${why ? html`<div class="hint">${why}</div>` : ""}
      </td>
      ${this.spec.metrics.map((key) => {
        const part = this.partOf(row, key);
        const kpi = data.kpis.get(key);
        return html`<td class="num status-${part?.status ?? "none"}" data-kpi=${key} data-value=${part?.value ?? ""}>
          ${formatKpi(part?.value, kpi)}
          ${part?.expected !== null && part?.expected !== undefined
            ? html`<div class="hint" data-expected=${part.expected}>expected ${formatKpi(part.expected, kpi)}</div>`
            : ""}
        </td>`;
      })}
      <td class="num" data-score=${row.score ?? ""}>${formatScore(row.score)}</td>
      <td class="num">${formatSigned(row.change)}</td>
      <td class="num">${formatCount(row.sample)}</td>
    </tr>`;
  }
}

customElements.define("kpi-leaderboard-widget", LeaderboardWidget);
