// The base of the built-in widgets: the spec, the shared data and a frame with the title.
import { LitElement, css, html, type TemplateResult } from "lit";
import { kpiName } from "../format";
import { shared } from "../styles";
import type { WidgetSpec } from "../types";
import type { DashboardData, Loaded } from "./data";
import { failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import "../components/download";
import type { Download } from "../components/download";

export abstract class WidgetBase extends LitElement {
  static styles = [
    shared,
    css`
      .card {
        height: 100%;
        display: flex;
        flex-direction: column;
        /* A page that embeds a widget in its own card drops this frame (technician-page.ts). */
        border: var(--widget-border, 1px solid var(--border));
        padding: var(--widget-padding, 1rem);
        box-shadow: var(--widget-shadow, var(--shadow));
      }
      h3 {
        display: flex;
        justify-content: space-between;
        gap: 0.5rem;
      }
      .head {
        display: flex;
        justify-content: space-between;
        align-items: flex-start;
        gap: 0.5rem;
      }
      .head h3 {
        flex: 1;
        min-width: 0;
      }
      .head kpi-download-menu {
        margin-top: -0.5rem;
      }
    `,
  ];

  static properties = { spec: { attribute: false }, data: { attribute: false } };
  declare spec: WidgetSpec;
  declare data: DashboardData | null;

  constructor() {
    super();
    new TableBoxes(this);
  }

  /** The body for this data, or a state (loading / error / empty). */
  abstract body(data: DashboardData): TemplateResult;

  protected settled<T>(loaded: Loaded<T>, show: (value: T) => TemplateResult): TemplateResult {
    if (!loaded) return loading();
    if (!loaded.ok) return failed(loaded.error);
    return show(loaded.value);
  }

  /** What the Download menu offers for this data (the numbers as CSV, a chart as PNG), or nothing yet. */
  protected download(_data: DashboardData): Download | null {
    return null;
  }

  protected label(key: string): string {
    return kpiName(key, this.data?.kpis.get(key));
  }

  render(): TemplateResult {
    return html`<section class="card" aria-labelledby="title" data-widget=${this.spec.key}>
      <div class="head">
        <h3 id="title">${this.spec.title}</h3>
        ${this.data ? html`<kpi-download-menu .download=${this.download(this.data)} label=${this.spec.title}></kpi-download-menu>` : ""}
      </div>
      ${this.data ? this.body(this.data) : loading()}
    </section>`;
  }
}
