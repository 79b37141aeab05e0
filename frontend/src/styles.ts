// Styles every component shares (each has its own shadow root, so each includes these).
// Colours are the tokens of global.css (light and dark); nothing here names a colour itself.
// Phone first: every control is at least 44 px each way (a finger's width), and a table wider
// than its box scrolls inside it (`.table-wrap`) or turns into cards (`.table-wrap.cards`).
import { css } from "lit";

export const shared = css`
  :host {
    display: block;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    color: var(--ink);
    --target: 2.75rem;
  }
  * {
    box-sizing: border-box;
  }
  h1 {
    font-size: 1.5rem;
    line-height: 1.25;
    margin: 0 0 0.75rem;
    overflow-wrap: anywhere;
  }
  h2 {
    font-size: 1.15rem;
    margin: 1.25rem 0 0.5rem;
  }
  .card > h2:first-child,
  section > h2:first-child {
    margin-top: 0;
  }
  h3 {
    font-size: 1rem;
    margin: 0 0 0.5rem;
  }
  p {
    overflow-wrap: break-word;
  }
  a {
    color: var(--link);
  }
  :focus-visible {
    outline: 3px solid var(--focus);
    outline-offset: 2px;
    border-radius: 2px;
  }
  button,
  .button {
    font: inherit;
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 0.35rem;
    padding: 0.45rem 1rem;
    min-height: var(--target);
    min-width: var(--target);
    border: 1px solid var(--accent);
    background: var(--accent);
    color: var(--on-accent);
    border-radius: 6px;
    cursor: pointer;
    text-decoration: none;
    line-height: 1.2;
    touch-action: manipulation;
  }
  button.secondary,
  .button.secondary {
    background: var(--surface);
    color: var(--link);
    border-color: currentColor;
  }
  button.danger {
    background: var(--surface);
    color: var(--red-ink);
    border-color: var(--red-ink);
  }
  button:disabled {
    opacity: 0.6;
    cursor: not-allowed;
  }
  input,
  select,
  textarea {
    font: inherit;
    color: var(--ink);
    padding: 0.45rem 0.6rem;
    border: 1px solid var(--control-border);
    border-radius: 6px;
    background: var(--control-bg);
    min-height: var(--target);
    max-width: 100%;
  }
  input[type="file"] {
    padding: 0.35rem;
  }
  input[type="file"]::file-selector-button {
    font: inherit;
    min-height: 2rem;
    margin-right: 0.6rem;
    border: 1px solid var(--control-border);
    border-radius: 4px;
    background: var(--surface-2);
    color: var(--ink);
  }
  input[type="radio"],
  input[type="checkbox"] {
    min-height: 0;
    width: 1.25rem;
    height: 1.25rem;
    margin: 0;
    accent-color: var(--accent);
    flex: none;
  }
  label {
    display: block;
    font-weight: 600;
    margin-bottom: 0.25rem;
  }
  /* A radio button or a checkbox is tapped through its label: the whole row is the target. */
  label:has(> input[type="radio"]),
  label:has(> input[type="checkbox"]) {
    display: inline-flex;
    align-items: center;
    gap: 0.5rem;
    min-height: var(--target);
    min-width: var(--target);
    margin: 0;
    cursor: pointer;
  }
  summary {
    display: flex;
    align-items: center;
    gap: 0.4rem;
    min-height: var(--target);
    cursor: pointer;
    color: var(--link);
    font-weight: 600;
  }
  .field {
    margin-bottom: 0.9rem;
    min-width: 0;
    max-width: 100%;
  }
  /* A field with an error is marked at its left edge, as GOV.UK does. */
  .field.invalid {
    border-left: 4px solid var(--red-ink);
    padding-left: 0.75rem;
  }
  .field.invalid input,
  .field.invalid select,
  .field.invalid textarea,
  .field.invalid fieldset {
    border-color: var(--red-ink);
    border-width: 2px;
  }
  .field-error {
    color: var(--red-ink);
    font-weight: 600;
    margin: 0.25rem 0 0;
  }
  /* GOV.UK's error summary: every problem of a form at once, above it, each a link to its field. */
  .error-summary {
    border: 4px solid var(--red-ink);
    border-radius: 8px;
    padding: 0.75rem 1rem;
    margin: 0 0 1rem;
    background: var(--surface);
    overflow-wrap: anywhere;
  }
  .error-summary h2,
  .error-summary h3 {
    margin-top: 0;
  }
  .error-summary ul {
    margin: 0;
    padding-left: 1.25rem;
  }
  .error-summary a {
    color: var(--red-ink);
    font-weight: 600;
    display: inline-flex;
    align-items: center;
    min-height: var(--target);
  }
  .hint {
    color: var(--muted);
    font-size: 0.9rem;
    margin: 0.2rem 0 0;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.75rem;
    align-items: end;
  }
  .row > .field {
    margin-bottom: 0;
  }
  .card {
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: 10px;
    padding: 1rem;
    box-shadow: var(--shadow);
    min-width: 0;
  }
  /* A table wider than its box scrolls inside the box, never the page; the first column stays. */
  .table-wrap {
    position: relative; /* so that what is placed inside (a hidden caption) is clipped too */
    overflow-x: auto;
    max-width: 100%;
    container-type: inline-size;
    overscroll-behavior-x: contain;
  }
  .table-wrap[role="region"]:focus-visible {
    outline-offset: -3px;
  }
  table {
    border-collapse: separate;
    border-spacing: 0;
    width: 100%;
    font-size: 0.95rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.45rem 0.5rem;
    border-bottom: 1px solid var(--border);
    vertical-align: top;
  }
  th {
    font-weight: 600;
    background: var(--surface-2);
  }
  thead th {
    vertical-align: bottom;
  }
  .table-wrap.sticky tr > :first-child {
    position: sticky;
    left: 0;
    z-index: 1;
    background: var(--surface-2);
    box-shadow: 1px 0 0 var(--border);
  }
  td.num,
  th.num {
    text-align: right;
    font-variant-numeric: tabular-nums;
  }
  /* A link that is a cell's value (a name, a number that opens the jobs behind it) is a 44 px
     target, as every control is; a link inside a sentence is not (WCAG 2.5.8's inline exception). */
  td > a,
  th > a {
    display: inline-flex;
    align-items: center;
    min-height: var(--target);
    min-width: var(--target);
  }
  td.num > a,
  th.num > a {
    justify-content: flex-end;
  }
  /* A row with such a link is read across the middle, so its other cells line up with the link's text. */
  tr:has(> td > a, > th > a) > :is(td, th) {
    vertical-align: middle;
  }
  /* Cards: on a narrow box each row is a card, each cell with its column's name above it
     (src/components/tables.ts writes the names into data-label). */
  @container (max-width: 36rem) {
    .cards table,
    .cards tbody,
    .cards tfoot {
      display: block;
    }
    .cards thead {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip: rect(0 0 0 0);
    }
    .cards tr {
      display: flex;
      flex-wrap: wrap;
      gap: 0.35rem 1.25rem;
      padding: 0.7rem 0.25rem;
      border-bottom: 1px solid var(--border);
    }
    .cards th,
    .cards td {
      display: block;
      border: 0;
      padding: 0;
      background: none;
      text-align: left;
      min-width: 0;
    }
    .cards tr > :first-child {
      flex-basis: 100%;
      font-weight: 600;
    }
    .cards td[data-label]::before {
      content: attr(data-label);
      display: block;
      font-size: 0.8rem;
      font-weight: 400;
      color: var(--muted);
    }
    .cards tr > :first-child .hint {
      font-weight: 400;
    }
    .cards tr > td:first-child[data-label]::before,
    .cards td[data-label]:has(> button:only-child)::before {
      content: none;
    }
    .cards td:has(form),
    .cards td.wide {
      flex-basis: 100%;
    }
  }
  .status-green {
    color: var(--green-ink);
  }
  .status-amber {
    color: var(--amber-ink);
  }
  .status-red {
    color: var(--red-ink);
  }
  .badge {
    display: inline-block;
    padding: 0.05rem 0.5rem;
    border-radius: 999px;
    font-size: 0.8rem;
    font-weight: 600;
    background: var(--neutral-bg);
    color: var(--neutral-on-bg);
    white-space: nowrap;
  }
  .badge.green {
    background: var(--green-bg);
    color: var(--green-on-bg);
  }
  .badge.amber {
    background: var(--amber-bg);
    color: var(--amber-on-bg);
  }
  .badge.red {
    background: var(--red-bg);
    color: var(--red-on-bg);
  }
  .state {
    padding: 1rem;
    color: var(--muted);
  }
  .state.error {
    color: var(--error-ink);
    background: var(--error-bg);
    border: 1px solid var(--error-border);
    border-radius: 8px;
  }
  .state.error button {
    margin-top: 0.5rem;
  }
  /* An empty state: why there is nothing (first line), then what to do about it. */
  .state.empty p {
    margin: 0 0 0.4rem;
  }
  .state.empty .why {
    color: var(--ink);
    font-weight: 600;
  }
  .state.empty .what a {
    display: inline-flex;
    align-items: center;
    min-height: var(--target);
    font-weight: 600;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
  progress {
    width: 100%;
    height: 1.1rem;
    accent-color: var(--accent);
  }
  code {
    overflow-wrap: anywhere;
  }
  .pager {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
    margin-top: 0.5rem;
  }
`;

/** An admin form's layout: a column of cards, fieldsets without their box, radio and checkbox choices
 * with their hints indented under the label. */
export const formLayout = css`
  .grid {
    display: grid;
    grid-template-columns: minmax(0, 1fr);
    gap: 1rem;
  }
  fieldset {
    border: 0;
    padding: 0;
    margin: 0 0 0.9rem;
    min-width: 0;
  }
  legend {
    font-weight: 600;
    margin-bottom: 0.25rem;
    padding: 0;
  }
  .choice {
    margin: 0.1rem 0 0.4rem;
  }
  .choice .hint {
    margin: 0 0 0 1.75rem;
  }
`;
