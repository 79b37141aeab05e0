// Loading, empty and error states: every view shows one of them rather than a blank.
import { html, type TemplateResult } from "lit";
import { ApiError } from "../api";

export function loading(what = "Loading"): TemplateResult {
  return html`<p class="state" role="status" aria-live="polite">${what}…</p>`;
}

/** A link in an empty state to where the missing data comes from ("Import jobs"). */
export interface EmptyAction {
  href: string;
  label: string;
}

/**
 * Nothing to show: ``message`` says why ("No jobs in Dec 2026."), ``hint`` what to do about it
 * ("Choose a longer period, or import jobs."), and ``action`` links to where that is done.
 */
export function empty(message: string, hint?: string, action?: EmptyAction): TemplateResult {
  if (!hint && !action) return html`<p class="state empty">${message}</p>`;
  return html`<div class="state empty">
    <p class="why">${message}</p>
    ${hint ? html`<p class="what hint">${hint}</p>` : ""}
    ${action ? html`<p class="what"><a href=${action.href}>${action.label}</a></p>` : ""}
  </div>`;
}

export function failed(error: unknown, retry?: () => void): TemplateResult {
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError && error.status ? ` (${error.status})` : "";
  return html`<div class="state error" role="alert">
    <strong>Something went wrong${status}:</strong> ${message}
    ${retry ? html`<button class="secondary" @click=${retry}>Try again</button>` : ""}
  </div>`;
}

/** Error text of a field from an ApiError (its path as the API names it, e.g. answers.quality.safety). */
export function fieldError(error: unknown, ...paths: string[]): string | null {
  if (!(error instanceof ApiError)) return null;
  for (const path of paths) if (error.fields[path]) return error.fields[path];
  return null;
}
