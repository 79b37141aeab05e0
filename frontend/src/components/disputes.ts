// Disputes of callbacks in words: a dispute's state, the Dispute action beside a job in the jobs
// behind a value, and <kpi-dispute-list>: a technician's disputed callbacks on their scorecard, or
// (with .jobId) a job's, as the return visit or the job it returns to.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api } from "../api";
import { formatCount, formatDayOf } from "../format";
import { shared } from "../styles";
import { empty, failed, loading } from "./states";
import type { Callback, Dispute, DisputeReason } from "../types";

/** Why a callback was not the crew's workmanship, as the form asks it. */
export const REASONS: [DisputeReason, string, string][] = [
  ["customer_damage", "The customer damaged it", "The customer, or someone else, damaged the work after we left."],
  ["part_failure", "A part failed", "A part failed, not the way it was fitted."],
  ["new_problem", "A new problem", "It was a different problem from the one we fixed."],
  ["other", "Another reason", "Say what it was below."],
];

export const STATE_WORDS: Record<Dispute["status"], [string, string]> = {
  open: ["Waiting for a decision", "amber"],
  accepted: ["Accepted", "green"],
  rejected: ["Rejected", "red"],
};

export function reasonWords(reason: DisputeReason): string {
  return REASONS.find(([code]) => code === reason)?.[1] ?? reason;
}

export function stateBadge(dispute: Pick<Dispute, "status">): TemplateResult {
  const [words, colour] = STATE_WORDS[dispute.status];
  return html`<span class="badge ${colour}" data-dispute-status=${dispute.status}>${words}</span>`;
}

/** "Accepted by Mona on Jan 22, 2026: The customer's dog, photo on file" (or who opened it, while open). */
export function decisionWords(dispute: Dispute): string {
  if (dispute.status === "open") {
    return `Sent by ${dispute.opened_by ?? "a former user"} on ${formatDayOf(dispute.opened_at)}; a manager of the team decides.`;
  }
  const who = dispute.decided_by ?? "a former user";
  const note = dispute.decision_note ? `: ${dispute.decision_note}` : ".";
  return `${STATE_WORDS[dispute.status][0]} by ${who} on ${formatDayOf(dispute.decided_at)}${note}`;
}

/** The new-dispute form's address for a callback, coming back to ``back`` (this page) when done. */
export function disputeHref(callback: Callback, back: string): string {
  return `/disputes/new?${new URLSearchParams({ job: String(callback.id), back })}`;
}

/**
 * Beside a job in the jobs behind a value: each callback counted against it, with a Dispute link
 * while one can be opened, else the state of its latest dispute.
 */
export function callbackActions(callbacks: Callback[] | undefined, back: string): TemplateResult | string {
  if (!callbacks?.length) return "";
  return html`${callbacks
    .filter((callback) => callback.status !== "cancelled")
    .map((callback) => {
      const latest = callback.disputes[0];
      const when = callback.scheduled_start ? ` on ${formatDayOf(callback.scheduled_start)}` : "";
      return html`<span class="callback" data-callback=${callback.external_ref}>
        <span class="hint">Return visit ${callback.external_ref}${when}.</span>
        ${latest ? html`<span>Dispute: ${stateBadge(latest)}</span>` : ""}
        ${callback.may_dispute
          ? html`<a class="button secondary dispute" href=${disputeHref(callback, back)}
              >Dispute<span class="visually-hidden"> return visit ${callback.external_ref}</span></a
            >`
          : ""}
      </span>`;
    })}`;
}

/** A technician's (or a job's) disputed callbacks, newest first: what was disputed, why, and what was decided. */
export class DisputeList extends LitElement {
  static styles = [
    shared,
    css`
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        border-top: 1px solid var(--border);
        padding: 0.6rem 0;
      }
      li:first-child {
        border-top: 0;
        padding-top: 0;
      }
      .what {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem 0.75rem;
        align-items: baseline;
        font-weight: 600;
      }
      li p {
        margin: 0.25rem 0 0;
      }
    `,
  ];

  static properties = {
    technicianId: { attribute: false },
    jobId: { attribute: false },
    disputes: { state: true },
    total: { state: true },
    problem: { state: true },
  };
  declare technicianId: number | null;
  declare jobId: number | null;
  declare disputes: Dispute[] | null;
  declare total: number;
  declare problem: unknown;

  constructor() {
    super();
    this.technicianId = null;
    this.jobId = null;
    this.disputes = null;
    this.total = 0;
    this.problem = null;
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("technicianId") || changed.has("jobId")) void this.load();
  }

  private async load(): Promise<void> {
    if (this.technicianId === null && this.jobId === null) return;
    this.disputes = null;
    this.problem = null;
    try {
      const answer =
        this.jobId !== null
          ? await api.page<Dispute>(`/api/v1/jobs/${this.jobId}/disputes`, { page_size: 10 })
          : await api.page<Dispute>("/api/v1/disputes", { technician: this.technicianId, page_size: 10 });
      this.disputes = answer.items;
      this.total = answer.pagination?.total ?? answer.items.length;
    } catch (error) {
      this.problem = error;
    }
  }

  private body(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.disputes) return loading("Loading disputed callbacks");
    if (!this.disputes.length) {
      if (this.jobId !== null) return empty("No return visit of this job, or to it, was disputed.");
      return empty(
        "No callbacks disputed.",
        "A return visit that counts against a job's first-time fix can be disputed from the jobs behind that value.",
      );
    }
    return html`<ul>
        ${this.disputes.map(
          (dispute) => html`<li data-dispute=${dispute.id}>
            <div class="what">
              <span>Return visit ${dispute.callback_ref} to job ${dispute.original_ref}</span> ${stateBadge(dispute)}
            </div>
            <p>${reasonWords(dispute.reason)}${dispute.comment ? html`: “${dispute.comment}”` : ""}</p>
            <p class="hint">${decisionWords(dispute)}</p>
          </li>`,
        )}
      </ul>
      ${this.total > this.disputes.length && this.jobId === null
        ? html`<p>
            <a href="/disputes?status=all&technician=${this.technicianId}">All ${formatCount(this.total)} disputed callbacks</a>
          </p>`
        : ""}`;
  }

  render(): TemplateResult {
    return html`<section class="card" aria-labelledby="disputes-title">
      <h2 id="disputes-title">Disputed callbacks</h2>
      ${this.body()}
    </section>`;
  }
}

customElements.define("kpi-dispute-list", DisputeList);
