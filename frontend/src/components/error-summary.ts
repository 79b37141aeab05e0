// GOV.UK's error summary: every problem of a form at once, each a link that moves focus to its field.
import { html, type TemplateResult } from "lit";

/** One problem: its words, and the id of the control it is about (in the same shadow root). */
export type Problem = [words: string, target: string];

/** The summary box (`id` so the page can focus it after a failed submit), or nothing without an error.
 * Without a problem tied to a field, the error's own message is shown. */
export function errorSummary(
  error: unknown,
  problems: Problem[],
  { id, title = "There is a problem", heading = "h3" }: { id: string; title?: string; heading?: "h2" | "h3" },
): TemplateResult | string {
  if (!error) return "";
  const message = error instanceof Error ? error.message : String(error);
  const titled = heading === "h2" ? html`<h2>${title}</h2>` : html`<h3>${title}</h3>`;
  return html`<div class="error-summary" id=${id} role="alert" tabindex="-1">
    ${titled}
    ${problems.length
      ? html`<ul>
          ${problems.map(([words, target]) => html`<li><a href="#${target}" @click=${(event: Event) => focusField(event, target)}>${words}</a></li>`)}
        </ul>`
      : html`<p>${message}</p>`}
  </div>`;
}

/** A link's own jump would not reach into a shadow root: focus the control there instead. */
function focusField(event: Event, target: string): void {
  event.preventDefault();
  const root = (event.currentTarget as HTMLElement).getRootNode() as ParentNode;
  root.querySelector<HTMLElement>(`#${target}`)?.focus();
}
