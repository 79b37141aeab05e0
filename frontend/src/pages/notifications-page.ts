// /notifications: what Handyman KPI sends me, on which channel and when, for every role. Each kind of
// message the role receives (a technician's weekly scorecard, a manager's team digest, the admins'
// monthly summary, alerts) is on or off, with its day and time in words (the cron underneath comes
// from schedule-words.ts); my own e-mail address is set here too. The form is saved whole; every
// problem the API names is shown at once, in a GOV.UK error summary and beside its field.
import { LitElement, css, html, nothing, type TemplateResult } from "lit";
import { ApiError, request } from "../api";
import { shared } from "../styles";
import { errorSummary, type Problem } from "../components/error-summary";
import { failed, fieldError, loading } from "../components/states";
import { MONTHDAYS, WEEKDAYS, clock, cronFromWords, describeCron, ordinal, wordsFromCron } from "../schedule-words";
import type { Me, Subscription, SubscriptionChange, Subscriptions } from "../types";

const MINE = "/api/v1/notifications/subscriptions";
const HOURS = Array.from({ length: 24 }, (_, hour) => hour);

/** "Send me my weekly scorecard": the on/off question of each kind, in the reader's words. */
function question(item: Subscription): string {
  return `Send me ${item.title.replace(/^My /, "my ").replace(/^Company /, "the company ").replace(/^Alerts$/, "alerts")}`;
}

export class NotificationsPage extends LitElement {
  static styles = [
    shared,
    css`
      .stack {
        display: grid;
        gap: 1rem;
        max-width: 44rem;
      }
      fieldset {
        border: 0;
        padding: 0;
        margin: 0;
        min-width: 0;
      }
      legend {
        padding: 0;
        font-size: 1.15rem;
        font-weight: 700;
        margin-bottom: 0.25rem;
      }
      .when {
        margin-top: 0.75rem;
        padding-left: 1rem;
        border-left: 4px solid var(--border);
      }
      .when .row > .field {
        flex: 1 1 10rem;
      }
      .when select,
      .field input:not([type="checkbox"], [type="radio"]) {
        width: 100%;
        max-width: 24rem;
      }
      .saved {
        border-left: 4px solid var(--green-ink);
        padding: 0.5rem 1rem;
        color: var(--ink);
      }
      .warning {
        font-weight: 600;
      }
    `,
  ];

  static properties = {
    user: { attribute: false },
    data: { state: true },
    problem: { state: true },
    error: { state: true },
    saved: { state: true },
    busy: { state: true },
    draft: { state: true },
  };
  declare user: Me;
  declare data: Subscriptions | null;
  declare problem: unknown;
  declare error: unknown;
  declare saved: boolean;
  declare busy: boolean;
  /** Each kind's choice as the form has it now (on/off, schedule, channel), by kind. */
  declare draft: Map<string, SubscriptionChange>;

  constructor() {
    super();
    this.data = null;
    this.problem = null;
    this.error = null;
    this.saved = false;
    this.busy = false;
    this.draft = new Map();
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      this.show((await request<Subscriptions>("GET", MINE)).data);
    } catch (error) {
      this.problem = error;
    }
  }

  private show(data: Subscriptions): void {
    this.data = data;
    this.draft = new Map(
      data.subscriptions.map((item) => [
        item.kind,
        {
          kind: item.kind,
          enabled: item.enabled,
          channel: item.channel,
          schedule: item.schedule ?? undefined,
          address: item.address ?? undefined,
          attach_pdf: item.attach_pdf,
        },
      ]),
    );
  }

  private change(kind: string, changes: Partial<SubscriptionChange>): void {
    const current = this.draft.get(kind)!;
    this.draft = new Map(this.draft).set(kind, { ...current, ...changes });
    this.saved = false;
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.data) return loading("Loading your notifications");
    const data = this.data;
    return html`<h1>Notifications</h1>
      <p>Choose what Handyman KPI sends you, and when. Days and times are in the company's time zone (${data.timezone}).</p>
      <form class="stack" @submit=${this.submit} novalidate>
        ${this.summary()}
        ${this.saved ? html`<p class="card saved" role="status">Your choices are saved.</p>` : ""}
        ${this.address(data)}
        ${data.subscriptions.map((item, index) => this.kind(item, index, data))}
        <div><button type="submit" ?disabled=${this.busy}>Save my choices</button></div>
      </form>`;
  }

  private address(data: Subscriptions): TemplateResult {
    const error = fieldError(this.error, "email");
    const now = data.email
      ? data.email_source === "technician"
        ? html`E-mail goes to <strong>${data.email}</strong>, the address on your technician record.`
        : html`E-mail goes to <strong>${data.email}</strong>.`
      : html`<span class="warning">You have no e-mail address yet, so nothing can be sent to you by e-mail.</span>`;
    const hint =
      this.user.role === "technician"
        ? "Leave it empty to use the address on your technician record."
        : "Your digests and alerts are sent here.";
    return html`<section class="card">
      <h2>Your e-mail address</h2>
      <p>${now}</p>
      <div class=${error ? "field invalid" : "field"}>
        <label for="n-email">Your own e-mail address${this.user.role === "technician" ? " (optional)" : ""}</label>
        <p class="hint" id="n-email-hint">${hint}</p>
        ${error ? html`<p class="field-error" id="n-email-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
        <input id="n-email" name="email" type="email" autocomplete="email" spellcheck="false" .value=${data.own_email ?? ""}
          aria-describedby="n-email-hint${error ? " n-email-error" : ""}" aria-invalid=${error ? "true" : "false"}
          @input=${() => (this.saved = false)} />
      </div>
    </section>`;
  }

  private kind(item: Subscription, index: number, data: Subscriptions): TemplateResult {
    const draft = this.draft.get(item.kind)!;
    const id = `n-${index}`;
    const kindError = fieldError(this.error, `subscriptions.${index}.kind`, `subscriptions.${index}.enabled`);
    return html`<section class="card">
      <fieldset aria-describedby="${id}-hint">
        <legend>${item.title}</legend>
        <p class="hint" id="${id}-hint">${item.description}</p>
        ${kindError ? html`<p class="field-error">${kindError}</p>` : ""}
        <div class="field">
          <label>
            <input type="checkbox" id="${id}-on" .checked=${draft.enabled}
              @change=${(event: Event) => this.change(item.kind, { enabled: (event.target as HTMLInputElement).checked })} />
            ${question(item)}
          </label>
        </div>
        ${draft.enabled ? this.details(item, draft, index, data) : ""}
      </fieldset>
    </section>`;
  }

  private details(item: Subscription, draft: SubscriptionChange, index: number, data: Subscriptions): TemplateResult {
    const id = `n-${index}`;
    const channel = draft.channel ?? "email";
    const noEmail = channel === "email" && !data.email;
    return html`<div class="when">
      ${item.frequency ? this.schedule(item, draft, index) : html`<p>Sent as soon as an alert is raised.</p>`}
      ${data.channels.length > 1
        ? html`<div class="field">
            <label for="${id}-channel">Send by</label>
            <select id="${id}-channel" @change=${(event: Event) => this.change(item.kind, { channel: (event.target as HTMLSelectElement).value })}>
              ${data.channels.map((option) => html`<option value=${option.key} ?selected=${option.key === channel}>${option.label}</option>`)}
            </select>
          </div>`
        : ""}
      ${channel !== "email" ? this.channelAddress(item, draft, index) : ""}
      ${item.frequency && data.channels.find((option) => option.key === channel)?.attachments ? this.pdf(item, draft, index) : ""}
      ${noEmail ? html`<p class="warning">Enter your e-mail address above: until then nothing is sent.</p>` : ""}
    </div>`;
  }

  private pdf(item: Subscription, draft: SubscriptionChange, index: number): TemplateResult {
    const id = `n-${index}-pdf`;
    const error = fieldError(this.error, `subscriptions.${index}.attach_pdf`);
    return html`<div class="field">
      ${error ? html`<p class="field-error" id="${id}-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
      <label>
        <input type="checkbox" id=${id} .checked=${draft.attach_pdf ?? false}
          aria-describedby=${error ? `${id}-error` : nothing}
          @change=${(event: Event) => this.change(item.kind, { attach_pdf: (event.target as HTMLInputElement).checked })} />
        Attach these numbers as a PDF too, to print or keep
      </label>
    </div>`;
  }

  private schedule(item: Subscription, draft: SubscriptionChange, index: number): TemplateResult {
    const id = `n-${index}`;
    const cron = draft.schedule ?? item.default_schedule ?? "0 7 * * 1";
    const words = wordsFromCron(cron) ?? wordsFromCron(item.default_schedule ?? "0 7 * * 1")!;
    const error = fieldError(this.error, `subscriptions.${index}.schedule`);
    const weekly = item.frequency === "week";
    const set = (changes: Partial<typeof words>) =>
      this.change(item.kind, { schedule: cronFromWords({ ...words, ...changes, frequency: weekly ? "weekly" : "monthly" }) });
    const hour = Number(words.time.split(":")[0]);
    return html`<div class=${error ? "field invalid" : "field"}>
      <p class="hint" id="${id}-when">${describeCron(cron)}${weekly ? ", about the week before" : ", about the month before"}.</p>
      ${error ? html`<p class="field-error" id="${id}-schedule-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
      <div class="row">
        <div class="field">
          <label for="${id}-day">${weekly ? "Day" : "Day of the month"}</label>
          <select id="${id}-day" aria-describedby="${id}-when"
            @change=${(event: Event) => {
              const value = Number((event.target as HTMLSelectElement).value);
              set(weekly ? { weekday: value } : { monthday: value });
            }}>
            ${weekly
              ? WEEKDAYS.map((day, number) => ({ day, number }))
                  .sort((a, b) => ((a.number + 6) % 7) - ((b.number + 6) % 7))
                  .map(({ day, number }) => html`<option value=${number} ?selected=${words.weekday === number}>${day}</option>`)
              : MONTHDAYS.map((day) => html`<option value=${day} ?selected=${words.monthday === day}>The ${ordinal(day)}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="${id}-time">Time</label>
          <select id="${id}-time" aria-describedby="${id}-when"
            @change=${(event: Event) => set({ time: `${String((event.target as HTMLSelectElement).value).padStart(2, "0")}:00` })}>
            ${HOURS.map((value) => html`<option value=${value} ?selected=${hour === value}>${clock(`${String(value).padStart(2, "0")}:00`)}</option>`)}
          </select>
        </div>
      </div>
    </div>`;
  }

  private channelAddress(item: Subscription, draft: SubscriptionChange, index: number): TemplateResult {
    const id = `n-${index}-address`;
    const error = fieldError(this.error, `subscriptions.${index}.address`, `subscriptions.${index}.channel`);
    const label = this.data!.channels.find((option) => option.key === draft.channel)?.label ?? "this channel";
    return html`<div class=${error ? "field invalid" : "field"}>
      <label for=${id}>Where to send it by ${label.toLowerCase()}</label>
      ${error ? html`<p class="field-error"><span class="visually-hidden">Error:</span> ${error}</p>` : ""}
      <input id=${id} .value=${draft.address ?? ""} autocomplete="off"
        @input=${(event: Event) => this.change(item.kind, { address: (event.target as HTMLInputElement).value })} />
    </div>`;
  }

  /** GOV.UK's error summary: every problem, each a link to its field. */
  private summary(): TemplateResult | string {
    if (!this.error) return "";
    const problems: Problem[] = [];
    const email = fieldError(this.error, "email");
    if (email) problems.push([`Your own e-mail address: ${email}`, "n-email"]);
    this.data?.subscriptions.forEach((item, index) => {
      for (const [field, target] of [
        ["kind", `n-${index}-on`],
        ["enabled", `n-${index}-on`],
        ["schedule", `n-${index}-day`],
        ["channel", `n-${index}-channel`],
        ["address", `n-${index}-address`],
        ["attach_pdf", `n-${index}-pdf`],
      ]) {
        const message = fieldError(this.error, `subscriptions.${index}.${field}`);
        if (message) problems.push([`${item.title}: ${message}`, target]);
      }
    });
    return errorSummary(this.error, problems, { id: "n-errors", heading: "h2" });
  }


  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const email = String(new FormData(form).get("email") ?? "").trim();
    const subscriptions = this.data!.subscriptions.map((item) => {
      const draft = this.draft.get(item.kind)!;
      const change: SubscriptionChange = { kind: item.kind, enabled: draft.enabled, channel: draft.channel ?? "email" };
      if (item.frequency && draft.schedule) change.schedule = draft.schedule;
      if (draft.channel && draft.channel !== "email") change.address = draft.address ?? "";
      const carriesFiles = this.data!.channels.find((option) => option.key === change.channel)?.attachments;
      if (item.frequency && carriesFiles && draft.attach_pdf) change.attach_pdf = true;
      return change;
    });
    this.busy = true;
    this.error = null;
    this.saved = false;
    try {
      this.show((await request<Subscriptions>("PUT", MINE, { json: { email, subscriptions } })).data);
      this.saved = true;
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      if (error instanceof ApiError) this.renderRoot.querySelector<HTMLElement>("#n-errors")?.focus();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("kpi-notifications-page", NotificationsPage);
