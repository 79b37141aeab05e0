// Leaderboard: technicians ranked by their composite score (GET /api/v1/scorecards), with the
// widget's metrics beside; technicians under the minimum sample are listed apart, with the reason.
import { css, html, type TemplateResult } from "lit";
import { formatCount, formatKpi, formatScore, formatSigned } from "../format";
import type { ScorecardRow, Scorecards } from "../types";
import { WidgetBase } from "./base";
import type { DashboardData } from "./data";
import { empty } from "../components/states";

const SHOWN = 10;

export class LeaderboardWidget extends WidgetBase {
  static styles = [
    ...WidgetBase.styles,
    css`
      .unranked td {
        color: #4b5563;
      }
      button {
        margin-top: 0.5rem;
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

  private table(data: DashboardData, cards: Scorecards): TemplateResult {
    if (!cards.technicians.length) return empty("No technicians with jobs in this range.");
    const ranked = cards.technicians.filter((row) => row.rank !== null).sort((a, b) => a.rank! - b.rank!);
    const unranked = cards.technicians.filter((row) => row.rank === null);
    const shown = this.all ? ranked : ranked.slice(0, SHOWN);
    const metrics = this.spec.metrics;
    return html`<div class="table-wrap">
        <table>
          <caption class="visually-hidden">
            ${this.spec.title}
          </caption>
          <thead>
            <tr>
              <th scope="col" class="num">#</th>
              <th scope="col">Technician</th>
              <th scope="col" class="num">Score</th>
              <th scope="col" class="num">Change</th>
              ${metrics.map((key) => html`<th scope="col" class="num">${this.label(key)}</th>`)}
              <th scope="col" class="num">Jobs</th>
            </tr>
          </thead>
          <tbody>
            ${shown.map((row) => this.row(data, row))}
            ${unranked.length
              ? html`<tr>
                    <th colspan=${metrics.length + 5} scope="rowgroup">
                      Not ranked (fewer than ${formatCount(cards.min_sample)} jobs)
                    </th>
                  </tr>
                  ${unranked.map((row) => this.row(data, row))}`
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

  private row(data: DashboardData, row: ScorecardRow): TemplateResult {
    return html`<tr class=${row.rank === null ? "unranked" : ""} data-technician=${row.technician_id}>
      <td class="num">${row.rank ?? "–"}</td>
      <td>
        <a href="/technicians/${row.technician_id}">${row.technician}</a>
        ${row.unranked_reason ? html`<div class="hint">${row.unranked_reason}</div>` : ""}
      </td>
      <td class="num" data-score=${row.score ?? ""}>${formatScore(row.score)}</td>
      <td class="num">${formatSigned(row.change)}</td>
      ${this.spec.metrics.map((key) => {
        const part = row.contributions.find((c) => c.kpi === key);
        return html`<td class="num status-${part?.status ?? "none"}">${formatKpi(part?.value, data.kpis.get(key))}</td>`;
      })}
      <td class="num">${formatCount(row.sample)}</td>
    </tr>`;
  }
}

customElements.define("kpi-leaderboard-widget", LeaderboardWidget);
