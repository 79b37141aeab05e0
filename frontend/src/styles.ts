// Styles every component shares (each has its own shadow root, so each includes these).
import { css } from "lit";

export const shared = css`
  :host {
    display: block;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    color: var(--ink, #1f2937);
  }
  * {
    box-sizing: border-box;
  }
  h1 {
    font-size: 1.5rem;
    margin: 0 0 0.75rem;
  }
  h2 {
    font-size: 1.15rem;
    margin: 1.25rem 0 0.5rem;
  }
  h3 {
    font-size: 1rem;
    margin: 0 0 0.5rem;
  }
  a {
    color: var(--link, #1d4ed8);
  }
  :focus-visible {
    outline: 3px solid var(--focus, #f59e0b);
    outline-offset: 2px;
    border-radius: 2px;
  }
  button,
  .button {
    font: inherit;
    display: inline-flex;
    align-items: center;
    gap: 0.35rem;
    padding: 0.45rem 0.9rem;
    min-height: 2.25rem;
    border: 1px solid var(--accent, #1d4ed8);
    background: var(--accent, #1d4ed8);
    color: #fff;
    border-radius: 6px;
    cursor: pointer;
    text-decoration: none;
  }
  button.secondary,
  .button.secondary {
    background: #fff;
    color: var(--accent, #1d4ed8);
  }
  button.danger {
    background: #fff;
    color: #b91c1c;
    border-color: #b91c1c;
  }
  button:disabled {
    opacity: 0.55;
    cursor: not-allowed;
  }
  input,
  select,
  textarea {
    font: inherit;
    padding: 0.4rem 0.5rem;
    border: 1px solid #9ca3af;
    border-radius: 6px;
    background: #fff;
    min-height: 2.25rem;
    max-width: 100%;
  }
  label {
    display: block;
    font-weight: 600;
    margin-bottom: 0.25rem;
  }
  .field {
    margin-bottom: 0.9rem;
  }
  .field.invalid input,
  .field.invalid select,
  .field.invalid textarea,
  .field.invalid fieldset {
    border-color: #b91c1c;
  }
  .field-error {
    color: #b91c1c;
    font-weight: 600;
    margin: 0.25rem 0 0;
  }
  .hint {
    color: #4b5563;
    font-size: 0.9rem;
    margin: 0.2rem 0 0;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.75rem;
    align-items: end;
  }
  .card {
    background: #fff;
    border: 1px solid #e5e7eb;
    border-radius: 10px;
    padding: 1rem;
    box-shadow: 0 1px 2px rgb(0 0 0 / 5%);
  }
  .table-wrap {
    overflow-x: auto;
  }
  table {
    border-collapse: collapse;
    width: 100%;
    font-size: 0.95rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.4rem 0.5rem;
    border-bottom: 1px solid #e5e7eb;
    vertical-align: top;
  }
  th {
    font-weight: 600;
    background: #f9fafb;
  }
  td.num,
  th.num {
    text-align: right;
    font-variant-numeric: tabular-nums;
  }
  .status-green {
    color: #166534;
  }
  .status-amber {
    color: #92400e;
  }
  .status-red {
    color: #b91c1c;
  }
  .badge {
    display: inline-block;
    padding: 0.05rem 0.5rem;
    border-radius: 999px;
    font-size: 0.8rem;
    font-weight: 600;
    background: #e5e7eb;
  }
  .badge.green {
    background: #dcfce7;
    color: #166534;
  }
  .badge.amber {
    background: #fef3c7;
    color: #92400e;
  }
  .badge.red {
    background: #fee2e2;
    color: #991b1b;
  }
  .state {
    padding: 1rem;
    color: #4b5563;
  }
  .state.error {
    color: #991b1b;
    background: #fef2f2;
    border: 1px solid #fecaca;
    border-radius: 8px;
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
  }
  .pager {
    display: flex;
    gap: 0.5rem;
    align-items: center;
    margin-top: 0.5rem;
  }
`;
