// <kpi-alert-list>: the latest alerts about the technicians the reader may see (managers: their teams;
// admins: everyone), each in one sentence with a link to the jobs behind it, for the dashboard.
import { LitElement, css, html, type TemplateResult } from "lit";
import { api } from "../api";
import { formatStamp } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "./states";
import type { Alert } from "../types";

const SHOWN = 5;

export class AlertList extends LitElement {
  static styles = [
    shared,
    css`
      :host {
        margin-bottom: 1rem;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        padding: 0.6rem 0;
        border-bottom: 1px solid var(--border);
      }
      li p {
        margin: 0 0 0.35rem;
      }
      .links {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        margin-top: 0.75rem;
      }
    `,
  ];

  static properties = { alerts: { state: true }, total: { state: true }, problem: { state: true } };
  declare alerts: Alert[] | null;
  declare total: number;
  declare problem: unknown;

  constructor() {
    super();
    this.alerts = null;
    this.total = 0;
    this.problem = null;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      const answer = await api.page<Alert>("/api/v1/alerts", { page_size: SHOWN });
      this.alerts = answer.items;
      this.total = answer.pagination?.total ?? answer.items.length;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    return html`<section class="card" aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Alerts</h2>
      ${this.problem ? failed(this.problem, () => this.load()) : this.alerts === null ? loading("Loading alerts") : this.list(this.alerts)}
    </section>`;
  }

  private list(alerts: Alert[]): TemplateResult {
    if (!alerts.length) {
      return html`${empty(
          "No alerts.",
          "An alert is raised when a technician's numbers need attention: clearly off target for a while, a large change, or a disputed callback.",
        )}
        <div class="links"><a class="button secondary" href="/notifications">Choose how alerts reach you</a></div>`;
    }
    return html`<ul>
        ${alerts.map(
          (alert) => html`<li>
            <p>${alert.summary}</p>
            <p class="hint">Raised ${formatStamp(alert.raised_at)}</p>
            <a class="button secondary" href=${alert.jobs_path}>
              ${alert.kind === "callback_disputed" ? "Open the job" : "See the jobs behind it"}<span class="visually-hidden">: ${alert.technician}</span>
            </a>
          </li>`,
        )}
      </ul>
      <div class="links">
        ${this.total > alerts.length ? html`<p class="hint">The latest ${alerts.length} of ${this.total} alerts.</p>` : ""}
        <a class="button secondary" href="/notifications">Choose how alerts reach you</a>
      </div>`;
  }
}

customElements.define("kpi-alert-list", AlertList);
