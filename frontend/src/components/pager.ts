// Previous / next page buttons for an X-Pagination answer.
import { html, type TemplateResult } from "lit";
import type { Pagination } from "../api";
import { formatCount } from "../format";

export function pager(pagination: Pagination | null, go: (page: number) => void): TemplateResult {
  // The API document marks every field of X-Pagination optional; the server always sends these.
  const { page = 1, total_pages: pages = 1, total = 0 } = pagination ?? {};
  if (pages <= 1) return html`<p class="hint">${formatCount(total)} in all</p>`;
  return html`<nav class="pager" aria-label="Pages">
    <button class="secondary" ?disabled=${page <= 1} @click=${() => go(page - 1)}>Previous</button>
    <span>Page ${formatCount(page)} of ${formatCount(pages)} (${formatCount(total)} in all)</span>
    <button class="secondary" ?disabled=${page >= pages} @click=${() => go(page + 1)}>Next</button>
  </nav>`;
}
