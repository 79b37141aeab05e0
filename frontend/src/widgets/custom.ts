// A plugin's own widget: its ES module (served from the plugin's static folder, same origin, so
// the CSP allows it) is imported at run time and its custom element is given the data.
//
// The element receives these properties (see frontend/README.md):
//   value   - the last period's company value of the widget's first metric (null without data)
//   values  - every company row of the widget's metrics ({kpi, period_start, value, numerator, denominator, status})
//   spec    - the widget's declaration; filters - the dashboard's filters
import { html, type PropertyValues, type TemplateResult } from "lit";
import { WidgetBase } from "./base";
import type { DashboardData } from "./data";
import { failed, loading } from "../components/states";
import type { Download } from "../components/download";
import { periodStartOf } from "../filters";
import { periodsDownload } from "./exports";

const modules = new Map<string, Promise<unknown>>();

export class CustomWidget extends WidgetBase {
  static properties = { ...WidgetBase.properties, problem: { state: true }, ready: { state: true } };
  declare problem: unknown;
  declare ready: boolean;

  constructor() {
    super();
    this.problem = null;
    this.ready = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    const url = this.spec.module_url!;
    if (!modules.has(url)) modules.set(url, import(/* @vite-ignore */ url));
    try {
      await modules.get(url);
      await customElements.whenDefined(this.spec.element!);
      this.ready = true;
    } catch (error) {
      modules.delete(url);
      this.problem = new Error(`the widget module ${url} could not be loaded (${(error as Error).message})`);
    }
  }

  body(data: DashboardData): TemplateResult {
    if (this.problem) return failed(this.problem);
    if (!this.ready) return loading("Loading the widget");
    return this.settled(data.company, () => html`<div class="custom"></div>`);
  }

  /** A plugin's element draws what it likes; the download is the numbers it was given, per period. */
  protected download(data: DashboardData): Download | null {
    if (!data.company?.ok) return null;
    const first = periodStartOf(data.filters.start, data.filters.period);
    const rows = data.company.value.filter((row) => this.spec.metrics.includes(row.kpi) && row.period_start >= first);
    return periodsDownload(this.spec.title, data, this.spec.metrics, rows);
  }

  protected updated(changed: PropertyValues): void {
    super.updated(changed);
    const holder = this.renderRoot.querySelector(".custom");
    const data = this.data;
    if (!holder || !data?.company?.ok) return;
    let element = holder.firstElementChild as (HTMLElement & Record<string, unknown>) | null;
    if (!element) {
      element = document.createElement(this.spec.element!) as HTMLElement & Record<string, unknown>;
      holder.append(element);
    }
    const rows = data.company.value.filter((row) => this.spec.metrics.includes(row.kpi));
    const latest = rows.find((row) => row.kpi === this.spec.metrics[0] && row.period_start === data.latest);
    element.spec = this.spec;
    element.filters = data.filters;
    element.values = rows;
    element.value = latest?.value ?? null;
  }
}

customElements.define("kpi-custom-widget", CustomWidget);
