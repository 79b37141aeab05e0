// The dashboard: filters kept in the URL, and the user's widgets from every plugin, which
// they can add, remove, resize and reorder (saved per user through /api/v1/dashboard/layout).
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, request } from "../api";
import { catalog } from "../catalog";
import { addDays, filtersToParams, PERIODS, RANGES, rangeFilters, rangeOf, readFilters, type Filters, type Range } from "../filters";
import { navigate } from "../router";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import type { Dashboard, KpiValue, LayoutItem, Me, Team, Technician, WidgetSize, WidgetSpec } from "../types";
import { loadDashboardData, type DashboardData } from "../widgets/data";
import "../widgets/kpi-card";
import "../widgets/trend";
import "../widgets/leaderboard";
import "../widgets/heatmap";
import "../widgets/table";
import "../widgets/custom";
import "../components/alerts";

const PAINT_MARK = "kpi:dashboard-painted";
const FIRST_NUMBERS_MARK = "kpi:dashboard-first-numbers";
const SIZES: WidgetSize[] = ["small", "medium", "large", "full"];
const PERIOD_WORDS: Record<(typeof PERIODS)[number], string> = { week: "Week", month: "Month", quarter: "Quarter", year: "Year" };
const TAGS: Record<string, string> = {
  kpi_card: "kpi-card-widget",
  trend: "kpi-trend-widget",
  leaderboard: "kpi-leaderboard-widget",
  heatmap: "kpi-heatmap-widget",
  table: "kpi-table-widget",
  custom: "kpi-custom-widget",
};

export class DashboardPage extends LitElement {
  static styles = [
    shared,
    css`
      .filters {
        margin-bottom: 1rem;
      }
      .filters .field {
        margin: 0;
        flex: 1 1 9rem;
      }
      .filters select,
      .filters input {
        width: 100%;
      }
      .grid {
        display: grid;
        grid-template-columns: repeat(12, minmax(0, 1fr));
        grid-auto-flow: row dense;
        gap: 1rem;
      }
      .slot {
        grid-column: span 12;
        min-width: 0;
        display: flex;
        flex-direction: column;
      }
      .slot > .widget {
        flex: 1;
      }
      @media (min-width: 700px) {
        .slot.small {
          grid-column: span 6;
        }
        .slot.medium,
        .slot.large {
          grid-column: span 12;
        }
      }
      @media (min-width: 1100px) {
        .slot.small {
          grid-column: span 3;
        }
        .slot.medium {
          grid-column: span 6;
        }
        .slot.large {
          grid-column: span 8;
        }
      }
      .editing .slot {
        outline: 2px dashed var(--link);
        outline-offset: 4px;
        border-radius: 10px;
      }
      .tools {
        display: flex;
        flex-wrap: wrap;
        gap: 0.35rem;
        margin-bottom: 0.35rem;
        align-items: center;
      }
      .tools button {
        padding: 0.2rem 0.75rem;
      }
      .title-row {
        display: flex;
        flex-wrap: wrap;
        justify-content: space-between;
        align-items: center;
        gap: 0.5rem;
      }
    `,
  ];

  static properties = {
    params: { attribute: false },
    user: { attribute: false },
    dashboard: { state: true },
    etag: { state: true },
    data: { state: true },
    problem: { state: true },
    editing: { state: true },
    draft: { state: true },
    saveError: { state: true },
    teams: { state: true },
    technicians: { state: true },
    categories: { state: true },
  };
  declare params: URLSearchParams;
  declare user: Me;
  declare dashboard: Dashboard | null;
  declare etag: string;
  declare data: DashboardData | null;
  declare problem: unknown;
  declare editing: boolean;
  declare draft: LayoutItem[];
  declare saveError: unknown;
  declare teams: Team[];
  declare technicians: Technician[];
  declare categories: string[];
  private loadCount = 0;

  constructor() {
    super();
    this.params = new URLSearchParams();
    this.dashboard = null;
    this.etag = "";
    this.data = null;
    this.problem = null;
    this.editing = false;
    this.draft = [];
    this.saveError = null;
    this.teams = [];
    this.technicians = [];
    this.categories = [];
  }

  get filters(): Filters {
    return readFilters(this.params);
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.loadDashboard();
    catalog.teams().then((teams) => (this.teams = teams), () => {});
    catalog.technicians().then((people) => (this.technicians = people), () => {});
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("params") && changed.get("params") !== undefined && this.dashboard) void this.loadData();
  }

  private async loadDashboard(): Promise<void> {
    this.problem = null;
    try {
      const answer = await request<Dashboard>("GET", "/api/v1/dashboard");
      this.dashboard = answer.data;
      this.etag = answer.headers.get("ETag") ?? "";
      await this.loadData();
    } catch (error) {
      this.problem = error;
    }
  }

  private shownWidgets(): WidgetSpec[] {
    const byKey = new Map(this.dashboard!.widgets.map((widget) => [widget.key, widget]));
    const layout = this.editing ? this.draft : this.dashboard!.layout;
    return layout.map((item) => byKey.get(item.widget)).filter((widget): widget is WidgetSpec => !!widget);
  }

  private async loadData(): Promise<void> {
    const count = ++this.loadCount;
    this.data = null;
    const filters = this.filters;
    const current = () => count === this.loadCount; // a newer filter change wins
    await loadDashboardData(filters, this.shownWidgets(), (data) => {
      if (current()) this.data = data;
    });
    if (!current()) return;
    await this.painted();
    this.mark(PAINT_MARK);
    void this.loadCategories(filters); // after the numbers: the category list is not worth waiting for
  }

  /** Resolves once this page and every widget have rendered what they have now. */
  private async painted(): Promise<void> {
    await this.updateComplete;
    const widgets = [...this.renderRoot.querySelectorAll<LitElement>(".widget")];
    await Promise.all(widgets.map((widget) => widget.updateComplete));
  }

  protected updated(changed: PropertyValues): void {
    super.updated(changed);
    // Measured by bench/dashboard_paint.py: the first time the KPI cards show their numbers.
    if (changed.has("data") && this.data?.company) void this.painted().then(() => this.mark(FIRST_NUMBERS_MARK));
  }

  private mark(name: string): void {
    requestAnimationFrame(() => {
      if (!performance.getEntriesByName(name).length) performance.mark(name);
    });
  }

  private async loadCategories(filters: Filters): Promise<void> {
    try {
      // Categories with jobs in the last year, from any job-based KPI grouped by category.
      const kpi = (await catalog.kpis()).find((definition) => definition.source === "jobs");
      if (!kpi) return;
      const rows = await api.get<KpiValue[]>("/api/v1/kpis/values", {
        kpi: kpi.key,
        group_by: "category",
        period: "year",
        start: addDays(filters.end, -365),
        end: filters.end,
      });
      this.categories = [...new Set(rows.map((row) => row.group_id))].sort();
    } catch {
      this.categories = [];
    }
  }

  private change(event: Event): void {
    const form = (event.target as HTMLElement).closest("form")!;
    const values = new FormData(form);
    const range = (event.target as HTMLElement).id === "range" ? String(values.get("range") || "") : "";
    if (range) {
      navigate(`/dashboard?${filtersToParams({ ...this.filters, ...rangeFilters(range as Range) })}`);
      return;
    }
    const last = String(values.get("last") || "");
    const next: Filters = {
      period: values.get("period") as Filters["period"],
      start: String(values.get("start") || this.filters.start),
      // the form shows the last day; the API and the URL take the day after it
      end: last ? addDays(last, 1) : this.filters.end,
      team: Number(values.get("team")) || null,
      technician: Number(values.get("technician")) || null,
      category: String(values.get("category") || "") || null,
      fair: this.filters.fair,
    };
    if (next.end <= next.start) next.end = addDays(next.start, 1);
    navigate(`/dashboard?${filtersToParams(next)}`);
  }

  private filterBar(): TemplateResult {
    const filters = this.filters;
    const technicians = filters.team ? this.technicians.filter((t) => t.team_id === filters.team) : this.technicians;
    const technicianRole = this.user?.role === "technician";
    const chosen = rangeOf(filters);
    return html`<form class="card filters" @change=${this.change} @submit=${(e: Event) => e.preventDefault()} aria-label="Filters">
      <div class="row">
        <div class="field">
          <label for="range">Period</label>
          <select id="range" name="range">
            ${chosen === null ? html`<option value="" selected>Dates chosen below</option>` : ""}
            ${RANGES.map(([range, label]) => html`<option value=${range} ?selected=${chosen === range}>${label}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="period">Values per</label>
          <select id="period" name="period">
            ${PERIODS.map((period) => html`<option value=${period} ?selected=${filters.period === period}>${PERIOD_WORDS[period]}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="start">From</label>
          <input id="start" name="start" type="date" .value=${filters.start} required />
        </div>
        <div class="field">
          <label for="last">To</label>
          <input id="last" name="last" type="date" .value=${addDays(filters.end, -1)} required />
        </div>
        ${technicianRole
          ? ""
          : html`<div class="field">
                <label for="team">Team</label>
                <select id="team" name="team">
                  <option value="">All teams</option>
                  ${this.teams.map((team) => html`<option value=${team.id} ?selected=${filters.team === team.id}>${team.name}</option>`)}
                </select>
              </div>
              <div class="field">
                <label for="technician">Technician</label>
                <select id="technician" name="technician">
                  <option value="">All technicians</option>
                  ${technicians.map(
                    (person) => html`<option value=${person.id} ?selected=${filters.technician === person.id}>${person.name}</option>`,
                  )}
                </select>
              </div>`}
        <div class="field">
          <label for="category">Category</label>
          <select id="category" name="category">
            <option value="">All categories</option>
            ${[...new Set([...this.categories, ...(filters.category ? [filters.category] : [])])].map(
              (category) => html`<option value=${category} ?selected=${filters.category === category}>${category}</option>`,
            )}
          </select>
        </div>
      </div>
    </form>`;
  }

  private startEditing(): void {
    this.draft = this.dashboard!.layout.map((item) => ({ ...item }));
    this.saveError = null;
    this.editing = true;
  }

  private move(index: number, by: number): void {
    const draft = [...this.draft];
    const [item] = draft.splice(index, 1);
    draft.splice(index + by, 0, item);
    this.draft = draft;
  }

  private removeWidget(index: number): void {
    this.draft = this.draft.filter((_, i) => i !== index);
  }

  private resize(index: number, size: WidgetSize): void {
    this.draft = this.draft.map((item, i) => (i === index ? { ...item, size } : item));
  }

  private add(event: Event): void {
    const select = event.target as HTMLSelectElement;
    const widget = this.dashboard!.widgets.find((w) => w.key === select.value);
    if (!widget) return;
    this.draft = [...this.draft, { widget: widget.key, size: widget.size }];
    select.value = "";
    void this.loadData();
  }

  private async save(reset = false): Promise<void> {
    this.saveError = null;
    try {
      const answer = reset
        ? await request<Dashboard>("DELETE", "/api/v1/dashboard/layout", { headers: { "If-Match": this.etag } })
        : await request<Dashboard>("PUT", "/api/v1/dashboard/layout", {
            json: { layout: this.draft },
            headers: { "If-Match": this.etag },
          });
      this.dashboard = answer.data;
      this.etag = answer.headers.get("ETag") ?? "";
      this.editing = false;
      void this.loadData();
    } catch (error) {
      this.saveError = error;
    }
  }

  private editTools(index: number, item: LayoutItem, title: string): TemplateResult {
    return html`<div class="tools" role="group" aria-label="Arrange ${title}">
      <button class="secondary" ?disabled=${index === 0} @click=${() => this.move(index, -1)} aria-label="Move ${title} up">↑</button>
      <button class="secondary" ?disabled=${index === this.draft.length - 1} @click=${() => this.move(index, 1)}
        aria-label="Move ${title} down">↓</button>
      <label class="visually-hidden" for="size-${index}">Size of ${title}</label>
      <select id="size-${index}" @change=${(e: Event) => this.resize(index, (e.target as HTMLSelectElement).value as WidgetSize)}>
        ${SIZES.map((size) => html`<option value=${size} ?selected=${item.size === size}>${size}</option>`)}
      </select>
      <button class="danger" @click=${() => this.removeWidget(index)} aria-label="Remove ${title}">Remove</button>
    </div>`;
  }

  private toolbar(): TemplateResult {
    if (!this.editing) return html`<button class="secondary" @click=${this.startEditing}>Customize</button>`;
    const missing = this.dashboard!.widgets.filter((widget) => !this.draft.some((item) => item.widget === widget.key));
    return html`<div class="row">
      <div class="field">
        <label for="add">Add a widget</label>
        <select id="add" @change=${this.add}>
          <option value="">Choose…</option>
          ${missing.map((widget) => html`<option value=${widget.key}>${widget.title}</option>`)}
        </select>
      </div>
      <button @click=${() => this.save()}>Save layout</button>
      <button class="secondary" @click=${() => this.save(true)}>Reset to default</button>
      <button class="secondary" @click=${() => (this.editing = false)}>Cancel</button>
    </div>`;
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.loadDashboard());
    if (!this.dashboard) return loading("Loading the dashboard");
    const byKey = new Map(this.dashboard.widgets.map((widget) => [widget.key, widget]));
    const layout = this.editing ? this.draft : this.dashboard.layout;
    return html`<div class="title-row">
        <h1>Dashboard</h1>
        ${this.toolbar()}
      </div>
      ${this.saveError ? failed(this.saveError) : ""} ${this.filterBar()}
      ${this.user?.role === "technician" ? "" : html`<kpi-alert-list></kpi-alert-list>`}
      ${layout.length
        ? html`<div class="grid ${this.editing ? "editing" : ""}">
            ${layout.map((item, index) => {
              const spec = byKey.get(item.widget);
              if (!spec) return "";
              return html`<div class="slot ${item.size}">
                ${this.editing ? this.editTools(index, item, spec.title) : ""} ${this.widget(spec)}
              </div>`;
            })}
          </div>`
        : empty("No widgets on this dashboard. Choose Customize to add some.")}`;
  }

  private widget(spec: WidgetSpec): TemplateResult {
    const data = this.data;
    switch (TAGS[spec.type]) {
      case "kpi-card-widget":
        return html`<kpi-card-widget class="widget" .spec=${spec} .data=${data}></kpi-card-widget>`;
      case "kpi-trend-widget":
        return html`<kpi-trend-widget class="widget" .spec=${spec} .data=${data}></kpi-trend-widget>`;
      case "kpi-leaderboard-widget":
        return html`<kpi-leaderboard-widget class="widget" .spec=${spec} .data=${data}></kpi-leaderboard-widget>`;
      case "kpi-heatmap-widget":
        return html`<kpi-heatmap-widget class="widget" .spec=${spec} .data=${data}></kpi-heatmap-widget>`;
      case "kpi-table-widget":
        return html`<kpi-table-widget class="widget" .spec=${spec} .data=${data}></kpi-table-widget>`;
      default:
        return html`<kpi-custom-widget class="widget" .spec=${spec} .data=${data}></kpi-custom-widget>`;
    }
  }
}

customElements.define("kpi-dashboard-page", DashboardPage);
