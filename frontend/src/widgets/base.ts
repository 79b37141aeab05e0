// The base of the built-in widgets: the spec, the shared data and a frame with the title.
import { LitElement, css, html, type TemplateResult } from "lit";
import { shared } from "../styles";
import type { WidgetSpec } from "../types";
import type { DashboardData, Loaded } from "./data";
import { failed, loading } from "../components/states";

export abstract class WidgetBase extends LitElement {
  static styles = [
    shared,
    css`
      .card {
        height: 100%;
        display: flex;
        flex-direction: column;
      }
      h3 {
        display: flex;
        justify-content: space-between;
        gap: 0.5rem;
      }
      .plugin {
        font-weight: 400;
        color: #6b7280;
        font-size: 0.75rem;
      }
    `,
  ];

  static properties = { spec: { attribute: false }, data: { attribute: false } };
  declare spec: WidgetSpec;
  declare data: DashboardData | null;

  /** The body for this data, or a state (loading / error / empty). */
  abstract body(data: DashboardData): TemplateResult;

  protected settled<T>(loaded: Loaded<T>, show: (value: T) => TemplateResult): TemplateResult {
    if (!loaded) return loading();
    if (!loaded.ok) return failed(loaded.error);
    return show(loaded.value);
  }

  protected label(key: string): string {
    return this.data?.kpis.get(key)?.label ?? key;
  }

  render(): TemplateResult {
    return html`<section class="card" aria-labelledby="title" data-widget=${this.spec.key}>
      <h3 id="title">${this.spec.title}<span class="plugin">${this.spec.plugin}</span></h3>
      ${this.data ? this.body(this.data) : loading()}
    </section>`;
  }
}
