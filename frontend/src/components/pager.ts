// Previous / next page buttons for an X-Pagination answer.
import { html, type TemplateResult } from "lit";
import type { Pagination } from "../api";
import { formatCount } from "../format";

export function pager(pagination: Pagination | null, go: (page: number) => void): TemplateResult {
  if (!pagination || pagination.total_pages <= 1) {
    return html`<p class="hint">${formatCount(pagination?.total ?? 0)} in all</p>`;
  }
  return html`<nav class="pager" aria-label="Pages">
    <button class="secondary" ?disabled=${pagination.page <= 1} @click=${() => go(pagination.page - 1)}>Previous</button>
    <span>Page ${formatCount(pagination.page)} of ${formatCount(pagination.total_pages)} (${formatCount(pagination.total)} in all)</span>
    <button class="secondary" ?disabled=${pagination.page >= pagination.total_pages} @click=${() => go(pagination.page + 1)}>
      Next
    </button>
  </nav>`;
}
