// Downloads of what a widget or a table shows: its numbers as CSV, a chart as a PNG image.
// <kpi-download-menu> is the one control every widget and table uses; ./csv.ts writes the files.
import { LitElement, css, html, type TemplateResult } from "lit";
import { shared } from "../styles";
import { saveCsv, savePng, type CsvTable } from "./csv";

export * from "./csv";

/**
 * What a download menu offers: a file name in words (no extension) and the ways to get the data.
 * ``table`` may fetch (a paged listing downloads every page, not only the one on screen).
 */
export interface Download {
  name: string;
  table: () => CsvTable | Promise<CsvTable>;
  /** A PNG data URL of the chart, when there is a chart. */
  image?: () => string | null;
}

/**
 * The Download control: an icon button (named "Download <what>" for screen readers and in its
 * tooltip) that opens "Chart as an image (PNG)" and "Numbers as a spreadsheet (CSV)".
 */
export class DownloadMenu extends LitElement {
  static styles = [
    shared,
    css`
      :host {
        display: inline-block;
        position: relative;
      }
      summary {
        list-style: none;
        display: inline-flex;
        align-items: center;
        justify-content: center;
        gap: 0.3rem;
        min-height: var(--target, 44px);
        min-width: var(--target, 44px);
        padding: 0;
        border: 1px solid var(--border, #e5e7eb);
        border-radius: 6px;
        color: var(--link, #1d4ed8);
        cursor: pointer;
        font-size: 0.9rem;
        font-weight: 600;
        white-space: nowrap;
      }
      summary .word {
        padding-right: 0.5rem;
      }
      summary:has(.word) {
        padding-left: 0.5rem;
      }
      summary::-webkit-details-marker {
        display: none;
      }
      summary svg {
        width: 1.25rem;
        height: 1.25rem;
      }
      summary:hover,
      details[open] summary {
        background: var(--surface-2, #f9fafb);
      }
      .menu {
        position: absolute;
        right: 0;
        top: calc(100% + 0.25rem);
        z-index: 5;
        display: flex;
        flex-direction: column;
        gap: 0.35rem;
        padding: 0.5rem;
        width: max-content;
        max-width: min(20rem, calc(100vw - 2rem));
        background: var(--surface, #fff);
        border: 1px solid var(--border, #e5e7eb);
        border-radius: 8px;
        box-shadow: 0 4px 12px rgb(0 0 0 / 18%);
      }
      /* A menu on the left of its box (above a page's table) opens to the right. */
      :host([align="start"]) .menu {
        right: auto;
        left: 0;
      }
      .problem {
        margin: 0;
        max-width: 18rem;
        color: var(--error-ink, #991b1b);
        font-size: 0.85rem;
      }
      .menu button {
        justify-content: flex-start;
        text-align: left;
        min-height: var(--target, 44px);
        width: 100%;
      }
    `,
  ];

  static properties = {
    download: { attribute: false },
    label: {},
    worded: { type: Boolean },
    busy: { state: true },
    problem: { state: true },
  };
  declare download: Download | null;
  declare busy: boolean;
  declare problem: string;
  /** What is downloaded, for screen readers: "Download First-time fix trend". */
  declare label: string;
  /** Show the word "Download" beside the icon (above a page's table, where no title is beside it). */
  declare worded: boolean;

  constructor() {
    super();
    this.download = null;
    this.label = "";
    this.worded = false;
    this.busy = false;
    this.problem = "";
  }

  private close(): void {
    const details = this.renderRoot.querySelector("details");
    if (details) details.open = false;
  }

  private keydown(event: KeyboardEvent): void {
    if (event.key !== "Escape") return;
    this.close();
    this.renderRoot.querySelector<HTMLElement>("summary")?.focus();
  }

  private async csv(): Promise<void> {
    if (!this.download || this.busy) return;
    this.busy = true;
    this.problem = "";
    try {
      saveCsv(this.download.name, await this.download.table());
      this.close();
    } catch (error) {
      this.problem = `The numbers could not be fetched: ${error instanceof Error ? error.message : String(error)}. Try again.`;
    } finally {
      this.busy = false;
    }
  }

  private png(): void {
    const image = this.download?.image?.();
    if (this.download && image) savePng(this.download.name, image);
    this.close();
  }

  render(): TemplateResult {
    if (!this.download) return html``;
    const name = this.label ? `Download ${this.label}` : "Download";
    return html`<details @keydown=${this.keydown}>
      <summary aria-label=${name} title=${name}>
        <svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2"
          stroke-linecap="round" stroke-linejoin="round">
          <path d="M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5M5 19h14" />
        </svg>
        ${this.worded ? html`<span class="word">Download</span>` : ""}
      </summary>
      <div class="menu">
        ${this.download.image
          ? html`<button type="button" class="secondary" data-download="png" @click=${this.png}>Chart as an image (PNG)</button>`
          : ""}
        <button type="button" class="secondary" data-download="csv" ?disabled=${this.busy} @click=${this.csv}>
          ${this.busy ? "Preparing the spreadsheet…" : "Numbers as a spreadsheet (CSV)"}
        </button>
        ${this.problem ? html`<p class="problem" role="alert">${this.problem}</p>` : ""}
      </div>
    </details>`;
  }
}

customElements.define("kpi-download-menu", DownloadMenu);
