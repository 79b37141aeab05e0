// The admin page's "Closed months" tab (/admin/months): close a month that is over, so that its KPI
// values stay as they were when it was discussed. A later import or edit into a closed month shows
// on the dashboard as a restatement beside the closed value; closing the month again accepts it.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { catalog } from "../catalog";
import { formatPeriod, formatStamp, localDay } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { ClosedMonth } from "../types";

const PERIODS = "/api/v1/periods";

/** The month before the current one, as an <input type="month"> value. */
function lastMonth(): string {
  const [year, month] = localDay(new Date()).split("-").map(Number);
  return month === 1 ? `${year - 1}-12` : `${year}-${String(month - 1).padStart(2, "0")}`;
}

export class AdminPeriods extends LitElement {
  static styles = [
    shared,
    css`
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      .close-form {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem 1rem;
        align-items: end;
      }
      .close-form .field {
        margin-bottom: 0;
      }
    `,
  ];

  static properties = {
    months: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
  };
  declare months: ClosedMonth[] | null;
  declare problem: unknown;
  declare error: string;
  declare notice: string;

  constructor() {
    super();
    new TableBoxes(this);
    this.months = null;
    this.problem = null;
    this.error = "";
    this.notice = "";
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.months = await api.get<ClosedMonth[]>(PERIODS);
      this.problem = null;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.months) return loading();
    return html`<div class="grid">
      <section class="card">
        <h2>Close a month</h2>
        ${this.error
          ? html`<div class="error-summary" role="alert" tabindex="-1">
              <h3>There is a problem</h3>
              <ul><li><a href="#close-month" @click=${this.focusMonth}>${this.error}</a></li></ul>
            </div>`
          : ""}
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""}
        <p class="hint">
          Closing a month keeps its KPI values as they are today, for every technician, team and the company, with
          the target each was judged against. Jobs imported or changed later do not change them: the dashboard shows
          the new value beside the closed one ("restated"), until you close the month again to accept it.
        </p>
        <form class="close-form" @submit=${this.submit} novalidate>
          <div class=${this.error ? "field invalid" : "field"}>
            <label for="close-month">Month</label>
            ${this.error ? html`<p class="field-error" id="close-month-error"><span class="visually-hidden">Error:</span> ${this.error}</p>` : ""}
            <input id="close-month" name="month" type="month" .value=${lastMonth()} aria-invalid=${this.error ? "true" : "false"}
              aria-describedby=${this.error ? "close-month-error" : ""} />
          </div>
          <button type="submit">Close the month</button>
        </form>
      </section>
      <section class="card">
        <h2>Closed months</h2>
        ${this.months.length
          ? html`<div class="table-wrap cards">
              <table>
                <thead>
                  <tr><th scope="col">Month</th><th scope="col">Closed</th><th scope="col">By</th><th scope="col">Outcomes</th><th scope="col"><span class="visually-hidden">Close again</span></th></tr>
                </thead>
                <tbody>
                  ${this.months.map((month) => html`<tr data-month=${month.month}>
                    <td>${formatPeriod(month.start, "month")}</td>
                    <td>${formatStamp(month.closed_at)}${month.closes > 1 ? html` <span class="hint">(closed ${month.closes} times)</span>` : ""}</td>
                    <td>${month.automatic ? "The automatic close" : (month.closed_by ?? "–")}</td>
                    <td>${month.settled ? "All known" : "Some were still open"}</td>
                    <td><button type="button" class="secondary" @click=${() => this.close(month.month, true)}>Close again<span class="visually-hidden"> ${formatPeriod(month.start, "month")}</span></button></td>
                  </tr>`)}
                </tbody>
              </table>
            </div>
            <p class="hint">"Close again" accepts what the jobs of that month say now, restatements included.</p>`
          : empty("No month is closed yet.", "Close a month once it is over and its numbers have been discussed.")}
      </section>
    </div>`;
  }

  private focusMonth(event: Event): void {
    event.preventDefault();
    this.renderRoot.querySelector<HTMLElement>("#close-month")?.focus();
  }

  private submit = (event: SubmitEvent): void => {
    event.preventDefault();
    const month = String(new FormData(event.target as HTMLFormElement).get("month") ?? "").trim();
    if (!/^\d{4}-\d{2}$/.test(month)) {
      this.error = "Enter the month to close, such as 2026-03";
      this.notice = "";
      return;
    }
    void this.close(month, false);
  };

  private async close(month: string, reclose: boolean): Promise<void> {
    this.error = "";
    this.notice = "";
    try {
      await request("POST", `${PERIODS}/${month}/close`, { json: { reclose } });
      catalog.forget();
      this.notice = `${formatPeriod(`${month}-01`, "month")} is closed${reclose ? " again: its values are the jobs' as they are now" : ""}.`;
      await this.load();
    } catch (error) {
      const fields = error instanceof ApiError ? error.fields : {};
      this.error = fields.month ?? (fields.reclose ? `${formatPeriod(`${month}-01`, "month")} is closed already. To accept what its jobs say now, use "Close again" below.` : error instanceof Error ? error.message : String(error));
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(".error-summary")?.focus();
    }
  }
}

customElements.define("kpi-admin-periods", AdminPeriods);
