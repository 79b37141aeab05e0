// Disputed callbacks. /disputes: the list; for managers and admins the queue of disputes waiting for
// their decision, each with Accept and Reject. /disputes/new?job=<callback>: the form that disputes a
// return visit counted against a job (opened from the jobs behind a first-time fix).
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { api, ApiError, type Pagination } from "../api";
import { formatDayOf } from "../format";
import { inAppPath, navigate } from "../router";
import { shared } from "../styles";
import { empty, failed, loading } from "../components/states";
import { pager } from "../components/pager";
import { REASONS, STATE_WORDS, decisionWords, reasonWords, stateBadge } from "../components/disputes";
import type { Callback, Dispute, Me } from "../types";

const STATUS_CHOICES: [string, string][] = [
  ["open", "Waiting for a decision"],
  ["accepted", "Accepted"],
  ["rejected", "Rejected"],
  ["all", "All"],
];

/** Plain words for what the API names, by field; its own message is kept for anything else. */
const PLAIN: Record<string, string> = {
  reason: "Choose why the return visit was not caused by the work done",
  comment: "Say what happened: you chose another reason",
  decision: "Choose Accept or Reject",
  note: "Say why you reject the dispute, so the crew knows",
};

interface Problem {
  field: string;
  message: string;
  target: string;
}

/** The API's field errors as GOV.UK lists them: plain words, each linked to its control (if on the form). */
function problemsOf(error: unknown, targets: Record<string, string>): Problem[] {
  if (!(error instanceof ApiError)) return [];
  return Object.entries(error.fields).map(([field, message]) => {
    const plain = field === "comment" && /characters/.test(message) ? "Make the comment 2,000 characters or fewer" : PLAIN[field];
    const known = field in targets;
    return { field, message: known ? (plain ?? message) : sentence(message), target: targets[field] ?? "" };
  });
}

/** An API message ("this callback already has an open dispute: ...") as a sentence. */
function sentence(message: string): string {
  return message ? message[0].toUpperCase() + message.slice(1) : message;
}

function errorSummary(error: unknown, problems: Problem[], id: string, what: string): TemplateResult | string {
  if (!error) return "";
  const goTo = (event: Event, target: string) => {
    event.preventDefault();
    const control = (event.target as HTMLElement).getRootNode() as ShadowRoot;
    const found = control.querySelector<HTMLElement>(`[id="${target}"]`);
    found?.scrollIntoView({ block: "center" });
    found?.focus();
  };
  if (!problems.length) {
    const message = error instanceof Error ? error.message : String(error);
    return html`<div class="error-summary" id=${id} role="alert" tabindex="-1">
      <h2>${what}</h2>
      <p>${sentence(message)}</p>
    </div>`;
  }
  return html`<div class="error-summary" id=${id} role="alert" tabindex="-1" aria-labelledby="${id}-title">
    <h2 id="${id}-title">There ${problems.length === 1 ? "is a problem" : `are ${problems.length} problems`}</h2>
    <ul>
      ${problems.map(({ message, target }) =>
        target
          ? html`<li><a href="#${target}" @click=${(event: Event) => goTo(event, target)}>${message}</a></li>`
          : html`<li>${message}</li>`,
      )}
    </ul>
  </div>`;
}

function errorBeside(problems: Problem[], field: string, id: string): TemplateResult | string {
  const found = problems.find((problem) => problem.field === field);
  return found ? html`<p class="field-error" id=${id}><span class="visually-hidden">Error:</span> ${found.message}</p>` : "";
}

/** One dispute's decision in progress: its error, or that it is being sent. */
interface Deciding {
  busy?: boolean;
  error?: unknown;
}

export class DisputesPage extends LitElement {
  static styles = [
    shared,
    css`
      .confirmation {
        border: 4px solid var(--green-ink);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        max-width: 48rem;
      }
      .confirmation h2 {
        margin-top: 0;
      }
      form.dispute,
      .facts-of {
        max-width: 40rem;
      }
      .facts-of,
      h1 + .hint {
        margin-bottom: 1rem;
      }
      fieldset {
        border: 0;
        padding: 0;
        margin: 0;
        min-width: 0;
      }
      legend {
        font-weight: 600;
        margin-bottom: 0.25rem;
        padding: 0;
      }
      .choices {
        display: grid;
        gap: 0.25rem;
      }
      .choices label {
        font-weight: 600;
      }
      /* A choice's hint sits under its words, past the radio button. */
      .choices .hint {
        margin: -0.5rem 0 0.25rem 1.75rem;
      }
      textarea {
        width: 100%;
        min-height: 5rem;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
      .list {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
        margin-top: 1rem;
      }
      .list h2 {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem 0.75rem;
        align-items: baseline;
        margin-top: 0;
      }
      dl {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 0.1rem 1rem;
        margin: 0 0 0.75rem;
      }
      dt {
        color: var(--muted);
        font-size: 0.9rem;
      }
      dd {
        margin: 0 0 0.4rem;
        overflow-wrap: anywhere;
      }
      @media (min-width: 40rem) {
        dl {
          grid-template-columns: 13rem minmax(0, 1fr);
        }
        dd {
          margin-bottom: 0.2rem;
        }
      }
      .filter {
        max-width: 20rem;
      }
      .filter select {
        width: 100%;
      }
    `,
  ];

  static properties = {
    sub: { attribute: false },
    params: { attribute: false },
    user: { attribute: false },
    callback: { state: true },
    problem: { state: true },
    error: { state: true },
    sending: { state: true },
    sent: { state: true },
    disputes: { state: true },
    pagination: { state: true },
    deciding: { state: true },
    decided: { state: true },
  };
  declare sub: string;
  declare params: URLSearchParams;
  declare user: Me;
  declare callback: Callback | null;
  declare problem: unknown;
  declare error: unknown;
  declare sending: boolean;
  declare sent: Dispute | null;
  declare disputes: Dispute[] | null;
  declare pagination: Pagination | null;
  declare deciding: Record<number, Deciding>;
  declare decided: Dispute[];

  constructor() {
    super();
    this.sub = "";
    this.params = new URLSearchParams();
    this.callback = null;
    this.problem = null;
    this.error = null;
    this.sending = false;
    this.sent = null;
    this.disputes = null;
    this.pagination = null;
    this.deciding = {};
    this.decided = [];
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("params") || changed.has("sub")) void this.load();
  }

  private get decides(): boolean {
    return this.user.role === "manager" || this.user.role === "admin";
  }

  /** Where the form goes back to: the page it was opened from, else the reader's start page. */
  private get back(): string {
    const home = this.user.role === "technician" ? `/technicians/${this.user.technician_id}` : "/disputes";
    return inAppPath(this.params.get("back")) ?? home;
  }

  private get status(): string {
    return this.params.get("status") ?? (this.decides ? "open" : "all");
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      if (this.sub === "new") await this.loadCallback();
      else await this.loadList();
    } catch (error) {
      this.problem = error;
    }
  }

  private async loadCallback(): Promise<void> {
    this.callback = null;
    this.sent = null;
    this.error = null;
    const job = Number(this.params.get("job"));
    if (!job) throw new Error("This address does not say which return visit to dispute. Open it from the jobs behind a value.");
    const [found] = await api.get<Callback[]>("/api/v1/callbacks", { callback: job });
    if (!found) throw new ApiError(404, "There is no return visit with this number counted against a job of yours.", null);
    this.callback = found;
  }

  private async loadList(): Promise<void> {
    this.disputes = null;
    this.decided = [];
    const status = this.status;
    const answer = await api.page<Dispute>("/api/v1/disputes", {
      status: status === "all" ? undefined : status,
      technician: this.params.get("technician") ?? undefined,
      // The queue: the oldest waiting first. Decided ones: the newest first.
      sort: status === "open" ? "opened_at" : "-opened_at",
      page: Number(this.params.get("page")) || 1,
      page_size: 20,
    });
    this.disputes = answer.items;
    this.pagination = answer.pagination;
  }

  // --- the form ---------------------------------------------------------------------------------

  private async send(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.sending || !this.callback) return;
    const data = new FormData(event.target as HTMLFormElement);
    const comment = String(data.get("comment") ?? "").trim();
    this.sending = true;
    this.error = null;
    try {
      this.sent = await api.post<Dispute>(`/api/v1/jobs/${this.callback.id}/disputes`, {
        reason: data.get("reason") ?? undefined,
        comment: comment || undefined,
      });
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>("#sent")?.focus();
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>("#error-summary")?.focus();
    } finally {
      this.sending = false;
    }
  }

  private form(callback: Callback): TemplateResult {
    if (this.sent) {
      return html`<div class="confirmation" id="sent" role="status" tabindex="-1">
        <h2>Dispute sent</h2>
        <p>
          A manager of the team will accept or reject it. If they accept it, return visit ${callback.external_ref} no
          longer counts against job ${callback.original_ref}, and job ${callback.original_ref} counts as fixed the first time.
        </p>
        <p>You can follow it under Disputed callbacks on ${this.user.role === "technician" ? "your" : "the"} scorecard.</p>
        <p><a class="button secondary" href=${this.back}>Back</a></p>
      </div>`;
    }
    if (!callback.may_dispute) {
      const latest = callback.disputes[0];
      return html`<div class="state empty">
          <p class="why">
            ${latest
              ? html`This return visit has a dispute already: ${stateBadge(latest)}`
              : "This return visit was cancelled: it does not count against the job."}
          </p>
          ${latest ? html`<p class="hint">${decisionWords(latest)}</p>` : ""}
        </div>
        <p><a class="button secondary" href=${this.back}>Back</a></p>`;
    }
    const problems = problemsOf(this.error, { reason: "reason-customer_damage", comment: "comment" });
    const reasonError = problems.some((problem) => problem.field === "reason");
    const commentError = problems.some((problem) => problem.field === "comment");
    return html`${errorSummary(this.error, problems, "error-summary", "The dispute was not sent")}
      <form class="dispute" @submit=${this.send} novalidate>
        <div class="field ${reasonError ? "invalid" : ""}">
          <fieldset aria-describedby=${reasonError ? "reason-error" : "reason-hint"} aria-invalid=${reasonError}>
            <legend>Why was the return visit not caused by the work done?</legend>
            <p class="hint" id="reason-hint">Choose the one that fits best.</p>
            ${errorBeside(problems, "reason", "reason-error")}
            <div class="choices">
              ${REASONS.map(
                ([code, label, hint]) => html`<div class="choice">
                  <label
                    ><input type="radio" id="reason-${code}" name="reason" value=${code} aria-describedby="reason-${code}-hint" />
                    ${label}</label
                  >
                  <p class="hint" id="reason-${code}-hint">${hint}</p>
                </div>`,
              )}
            </div>
          </fieldset>
        </div>
        <div class="field ${commentError ? "invalid" : ""}">
          <label for="comment">What happened</label>
          <p class="hint" id="comment-hint">Needed if you chose another reason. At most 2,000 characters.</p>
          ${errorBeside(problems, "comment", "comment-error")}
          <textarea
            id="comment"
            name="comment"
            maxlength="2000"
            aria-describedby=${commentError ? "comment-error comment-hint" : "comment-hint"}
            aria-invalid=${commentError}
          ></textarea>
        </div>
        <div class="actions">
          <button type="submit" ?disabled=${this.sending}>Send the dispute</button>
          <a class="button secondary" href=${this.back}>Cancel</a>
        </div>
      </form>`;
  }

  private newDispute(): TemplateResult {
    if (this.problem) {
      return html`<h1>Dispute a return visit</h1>
        ${failed(this.problem)}
        <p><a class="button secondary" href=${this.back}>Back</a></p>`;
    }
    const callback = this.callback;
    if (!callback) return loading("Loading the return visit");
    const when = callback.scheduled_start ? ` on ${formatDayOf(callback.scheduled_start)}` : "";
    return html`<h1>Dispute a return visit</h1>
      <div class="facts-of">
        <p>
          Return visit <strong>${callback.external_ref}</strong>${when} (${callback.technician}) was booked for job
          <strong>${callback.original_ref}</strong>, so job ${callback.original_ref} does not count as fixed the first time.
        </p>
        <p class="hint">
          If the visit was not caused by the work done on job ${callback.original_ref}, say why. A manager of the team
          decides: if they accept, job ${callback.original_ref} counts as fixed the first time.
        </p>
      </div>
      ${this.form(callback)}`;
  }

  // --- the list and the queue ---------------------------------------------------------------------

  private filter(event: Event): void {
    const status = (event.target as HTMLSelectElement).value;
    const params = new URLSearchParams(this.params);
    params.set("status", status);
    params.delete("page");
    navigate(`/disputes?${params}`);
  }

  private goPage(page: number): void {
    const params = new URLSearchParams(this.params);
    params.set("page", String(page));
    navigate(`/disputes?${params}`);
  }

  private async decide(event: SubmitEvent, dispute: Dispute): Promise<void> {
    event.preventDefault();
    if (this.deciding[dispute.id]?.busy) return;
    const decision = (event.submitter as HTMLButtonElement | null)?.value ?? "";
    const note = String(new FormData(event.target as HTMLFormElement).get("note") ?? "").trim();
    this.deciding = { ...this.deciding, [dispute.id]: { busy: true } };
    try {
      const answer = await api.post<Dispute>(`/api/v1/disputes/${dispute.id}/decision`, {
        decision,
        note: note || undefined,
      });
      this.disputes = (this.disputes ?? []).map((item) => (item.id === answer.id ? answer : item));
      this.decided = [...this.decided, answer];
      this.deciding = { ...this.deciding, [dispute.id]: {} };
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(`#decided-${dispute.id}`)?.focus();
    } catch (error) {
      this.deciding = { ...this.deciding, [dispute.id]: { error } };
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(`#errors-${dispute.id}`)?.focus();
    }
  }

  private decisionForm(dispute: Dispute): TemplateResult | string {
    if (!this.decides || dispute.status !== "open") return "";
    const state = this.deciding[dispute.id] ?? {};
    const noteId = `note-${dispute.id}`;
    const problems = problemsOf(state.error, { note: noteId });
    const noteError = problems.some((problem) => problem.field === "note");
    return html`${errorSummary(state.error, problems, `errors-${dispute.id}`, "The decision was not saved")}
      <form @submit=${(event: SubmitEvent) => this.decide(event, dispute)} novalidate>
        <div class="field ${noteError ? "invalid" : ""}">
          <label for=${noteId}>Note to the crew</label>
          <p class="hint" id="${noteId}-hint">Needed to reject: say why. At most 2,000 characters.</p>
          ${errorBeside(problems, "note", `${noteId}-error`)}
          <textarea
            id=${noteId}
            name="note"
            maxlength="2000"
            aria-describedby=${noteError ? `${noteId}-error ${noteId}-hint` : `${noteId}-hint`}
            aria-invalid=${noteError}
          ></textarea>
        </div>
        <div class="actions">
          <button type="submit" name="decision" value="accept" ?disabled=${state.busy}>
            Accept<span class="visually-hidden"> the dispute of ${dispute.callback_ref}</span>
          </button>
          <button type="submit" name="decision" value="reject" class="secondary" ?disabled=${state.busy}>
            Reject<span class="visually-hidden"> the dispute of ${dispute.callback_ref}</span>
          </button>
        </div>
      </form>`;
  }

  private item(dispute: Dispute): TemplateResult {
    const justDecided = this.decided.some((item) => item.id === dispute.id);
    return html`<article class="card" data-dispute=${dispute.id} aria-labelledby="title-${dispute.id}">
      <h2 id="title-${dispute.id}">
        <span>Return visit ${dispute.callback_ref} to job ${dispute.original_ref}</span> ${stateBadge(dispute)}
      </h2>
      <dl>
        <dt>Crew of job ${dispute.original_ref}</dt>
        <dd>${dispute.crew.join(", ")}</dd>
        <dt>Job ${dispute.original_ref}</dt>
        <dd>${dispute.category}, completed ${formatDayOf(dispute.original_completed_at)}</dd>
        <dt>Return visit</dt>
        <dd>${dispute.callback_ref}, booked for ${formatDayOf(dispute.callback_scheduled_start)}</dd>
        <dt>Why it is disputed</dt>
        <dd>${reasonWords(dispute.reason)}${dispute.comment ? html`: “${dispute.comment}”` : ""}</dd>
        <dt>Sent</dt>
        <dd>by ${dispute.opened_by ?? "a former user"} on ${formatDayOf(dispute.opened_at)}</dd>
        ${dispute.status !== "open"
          ? html`<dt>Decision</dt>
              <dd>${decisionWords(dispute)}</dd>`
          : ""}
      </dl>
      ${justDecided
        ? html`<div class="confirmation" id="decided-${dispute.id}" role="status" tabindex="-1">
            <h2>${STATE_WORDS[dispute.status][0]}</h2>
            <p>
              ${dispute.status === "accepted"
                ? `Return visit ${dispute.callback_ref} no longer counts against job ${dispute.original_ref}: it counts as fixed the first time.`
                : `Return visit ${dispute.callback_ref} still counts against job ${dispute.original_ref}.`}
            </p>
          </div>`
        : this.decisionForm(dispute)}
    </article>`;
  }

  private list(): TemplateResult {
    const status = this.status;
    const heading = this.decides ? "Disputed callbacks" : "Your disputed callbacks";
    let body: TemplateResult;
    if (this.problem) body = failed(this.problem, () => this.load());
    else if (!this.disputes) body = loading("Loading disputed callbacks");
    else if (!this.disputes.length) {
      body =
        status === "open"
          ? empty("No disputes are waiting for a decision.", "Disputes that technicians or managers send appear here.")
          : empty("No disputed callbacks here.", "Choose another status above.");
    } else {
      body = html`<div class="list">${this.disputes.map((dispute) => this.item(dispute))}</div>
        ${pager(this.pagination, (page) => this.goPage(page))}`;
    }
    return html`<h1>${heading}</h1>
      <p class="hint">
        ${this.decides
          ? "Return visits that the crew says were not caused by their work. Accept a dispute and the job counts as fixed the first time; reject it and the return visit still counts against the job."
          : "Return visits counted against your jobs that were disputed, and what was decided."}
      </p>
      <div class="field filter">
        <label for="status">Show</label>
        <select id="status" @change=${this.filter}>
          ${STATUS_CHOICES.map(([value, label]) => html`<option value=${value} ?selected=${status === value}>${label}</option>`)}
        </select>
      </div>
      ${body}`;
  }

  render(): TemplateResult {
    return this.sub === "new" ? this.newDispute() : this.list();
  }
}

customElements.define("kpi-disputes-page", DisputesPage);
