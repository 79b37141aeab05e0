// The questions of an evaluation form, as controls and as answers in words: shared by the managers'
// evaluation form, the technicians' self-appraisal and the evaluation card. Each control is named
// "answer:<key>"; the API names its problems "answers.<key>", shown beside the control.
import { css, html, type TemplateResult } from "lit";
import { formatNumber } from "../format";
import { fieldError } from "./states";
import type { FormField } from "../types";

/** A question as a form declares it (a listing's form snapshot has no plugin name). */
export type Question = Omit<FormField, "plugin">;

export const questionStyles = css`
  /* A question with choices reads like any other field: its legend above, no frame. */
  fieldset {
    border: 0;
    padding: 0;
    margin: 0;
    min-width: 0;
  }
  legend {
    font-weight: 600;
    padding: 0;
    margin-bottom: 0.35rem;
  }
  .choices {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
  }
  /* Each choice is a tile of at least 44 px: the whole tile is the radio button's target.
     The five points of a rating share one line, even on a phone. */
  .choices label {
    flex: 1 1 0;
    max-width: 5.5rem;
    font-weight: 400;
    display: inline-flex;
    gap: 0.4rem;
    align-items: center;
    justify-content: center;
    min-height: var(--target);
    min-width: var(--target);
    padding: 0.25rem 0.5rem;
    border: 1px solid var(--control-border);
    border-radius: 8px;
    background: var(--control-bg);
    cursor: pointer;
  }
  .choices label:has(input:checked) {
    border-color: var(--accent);
    box-shadow: inset 0 0 0 1px var(--accent);
    background: var(--selected-bg);
    font-weight: 600;
  }
  .choices label:has(input:focus-visible) {
    outline: 3px solid var(--focus);
    outline-offset: 2px;
  }
  .required {
    color: var(--muted);
    font-weight: 400;
    font-size: 0.9rem;
  }
  /* What the ends of a rating scale mean, above its buttons (and to screen readers at 1 and 5). */
  .scale {
    color: var(--muted);
    font-size: 0.9rem;
    margin: 0.2rem 0 0.4rem;
  }
  textarea {
    width: 100%;
    min-height: 5rem;
  }
`;

/** The answers of a submitted form, by question key; empty controls are left out. */
export function answersOf(questions: readonly Question[], data: FormData): Record<string, unknown> {
  const answers: Record<string, unknown> = {};
  for (const field of questions) {
    const raw = data.get(`answer:${field.key}`);
    if (raw === null || raw === "") continue;
    if (field.type === "rating" || field.type === "number") answers[field.key] = Number(raw);
    else if (field.type === "yes_no") answers[field.key] = raw === "yes";
    else answers[field.key] = String(raw);
  }
  return answers;
}

/** The id of the control a question's error links to: its input, or the first of its radio buttons. */
export function controlId(field: Question): string {
  const name = `answer:${field.key}`;
  if (field.type === "rating") return `${name}-1`;
  if (field.type === "yes_no") return `${name}-yes`;
  return name;
}

function errorOf(error: unknown, path: string): TemplateResult | string {
  const message = fieldError(error, path);
  return message ? html`<p class="field-error" id="error-${path}"><span class="visually-hidden">Error:</span> ${message}</p>` : "";
}

/**
 * A question's control. ``value`` fills it in (a draft's answer); ``error`` is the API's answer to the
 * last sending, whose message for this question is shown beside it.
 */
export function questionControl(field: Question, error: unknown, value?: unknown): TemplateResult {
  const name = `answer:${field.key}`;
  const path = `answers.${field.key}`;
  const invalid = !!fieldError(error, path);
  const [low, high] = field.scale_labels ?? [];
  const scaled = !!(low && high);
  const describedBy = [invalid ? `error-${path}` : "", field.help_text ? `help-${field.key}` : "", scaled ? `scale-${field.key}` : ""]
    .filter(Boolean)
    .join(" ");
  const required = field.required ? html`<span class="required">(required to submit)</span>` : "";
  const legend = html`${field.label} ${required}`;
  const hint = field.help_text ? html`<p class="hint" id="help-${field.key}">${field.help_text}</p>` : "";
  switch (field.type) {
    case "rating":
      return html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
        <legend>${legend}</legend>
        ${hint} ${errorOf(error, path)}
        ${scaled ? html`<p class="scale" id="scale-${field.key}">1 = ${low}, 5 = ${high}</p>` : ""}
        <div class="choices rating">
          ${[1, 2, 3, 4, 5].map(
            (point) => html`<label
              ><input type="radio" id="${name}-${point}" name=${name} value=${point} ?checked=${value === point} />${point}${scaled &&
              point === 1
                ? html`<span class="visually-hidden">(${low})</span>`
                : scaled && point === 5
                  ? html`<span class="visually-hidden">(${high})</span>`
                  : ""}</label
            >`,
          )}
        </div>
      </fieldset>`;
    case "yes_no":
      return html`<fieldset aria-describedby=${describedBy} aria-invalid=${invalid}>
        <legend>${legend}</legend>
        ${hint} ${errorOf(error, path)}
        <div class="choices">
          <label><input type="radio" id="${name}-yes" name=${name} value="yes" ?checked=${value === true} />Yes</label>
          <label><input type="radio" id="${name}-no" name=${name} value="no" ?checked=${value === false} />No</label>
        </div>
      </fieldset>`;
    case "choice":
      return html`<label for=${name}>${legend}</label>
        ${hint} ${errorOf(error, path)}
        <select id=${name} name=${name} aria-describedby=${describedBy} aria-invalid=${invalid}>
          <option value="">Choose…</option>
          ${(field.choices ?? []).map((choice) => html`<option value=${choice} ?selected=${value === choice}>${choice}</option>`)}
        </select>`;
    case "number":
      return html`<label for=${name}>${legend}</label>
        ${hint} ${errorOf(error, path)}
        ${scaled
          ? html`<p class="scale" id="scale-${field.key}">
              ${formatNumber(field.minimum)} = ${low}, ${formatNumber(field.maximum)} = ${high}
            </p>`
          : ""}
        <input id=${name} name=${name} type="number" step="any" inputmode="decimal" min=${field.minimum ?? ""}
          max=${field.maximum ?? ""} .value=${typeof value === "number" ? String(value) : ""} aria-describedby=${describedBy}
          aria-invalid=${invalid} />`;
    default:
      return html`<label for=${name}>${legend}</label>
        ${hint} ${errorOf(error, path)}
        <textarea id=${name} name=${name} maxlength="2000" aria-describedby=${describedBy} aria-invalid=${invalid}
          .value=${typeof value === "string" ? value : ""}></textarea>`;
  }
}

/** An answer in words, as the form it was given on asks it (``scale``: with what the scale's ends mean). */
export function answerWords(question: Question, value: unknown, { scale = true } = {}): TemplateResult | string {
  if (value === null || value === undefined || value === "") return html`<span class="hint">Not answered</span>`;
  const [low, high] = scale ? (question.scale_labels ?? []) : [];
  switch (question.type) {
    case "rating":
      return html`<strong>${String(value)}</strong> out of 5
        ${low && high ? html`<div class="scale">1 = ${low}, 5 = ${high}</div>` : ""}`;
    case "yes_no":
      return value ? "Yes" : "No";
    case "number":
      return html`<strong>${formatNumber(Number(value))}</strong>
        <span class="scale">(from ${formatNumber(question.minimum)} to ${formatNumber(question.maximum)})</span>
        ${low && high ? html`<div class="scale">${formatNumber(question.minimum)} = ${low}, ${formatNumber(question.maximum)} = ${high}</div>` : ""}`;
    case "text":
      return html`<span class="comment">${String(value)}</span>`;
    default:
      return String(value);
  }
}
