// Loading, empty and error states: every view shows one of them rather than a blank.
import { html, type TemplateResult } from "lit";
import { ApiError } from "../api";

export function loading(what = "Loading"): TemplateResult {
  return html`<p class="state" role="status" aria-live="polite">${what}…</p>`;
}

export function empty(message: string): TemplateResult {
  return html`<p class="state empty">${message}</p>`;
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
