// The admin page's "Messages sent" tab (/admin/messages): where e-mail and other messages go now,
// a test e-mail to check it, and every message with what became of it. Without a mail server the
// messages are files, which can be opened from here; a failed one can be sent again.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, download } from "../api";
import { formatStamp } from "../format";
import { shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { NotificationChannel, OutboxMessage } from "../types";

const NOTIFICATIONS = "/api/v1/notifications";
const STATUS_WORDS: Record<string, [string, string]> = {
  queued: ["Waiting", "amber"],
  sending: ["Sending", "amber"],
  sent: ["Sent", "green"],
  failed: ["Failed", "red"],
};

export class AdminMessages extends LitElement {
  static styles = [
    shared,
    css`
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      .field input {
        width: 100%;
        max-width: 28rem;
      }
      .error-summary,
      .field-error {
        overflow-wrap: anywhere;
      }
      .wrap {
        overflow-wrap: anywhere;
      }
      dl {
        margin: 0;
      }
      dt {
        font-weight: 600;
      }
      dd {
        margin: 0 0 0.6rem;
        overflow-wrap: anywhere;
      }
    `,
  ];

  static properties = {
    channels: { state: true },
    messages: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
    busy: { state: true },
  };
  declare channels: NotificationChannel[] | null;
  declare messages: OutboxMessage[];
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;
  declare busy: boolean;

  constructor() {
    super();
    new TableBoxes(this);
    this.channels = null;
    this.messages = [];
    this.problem = null;
    this.error = null;
    this.notice = "";
    this.busy = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      const [channels, messages] = await Promise.all([
        api.get<NotificationChannel[]>(`${NOTIFICATIONS}/channels`),
        api.page<OutboxMessage>(`${NOTIFICATIONS}/messages`, { page_size: 25 }),
      ]);
      this.channels = channels;
      this.messages = messages.items;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.channels) return loading();
    return html`<div class="grid">
      <section class="card">
        <h2>Where messages go</h2>
        <dl>
          ${this.channels.map((channel) => html`<dt>${channel.label}</dt><dd>${channel.status}</dd>`)}
        </dl>
        ${this.testForm()}
      </section>
      <section class="card">
        <h2>Messages sent</h2>
        <p class="hint">The latest 25 messages, e-mail and webhooks alike, with what became of each.</p>
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""} ${this.list(this.messages)}
      </section>
    </div>`;
  }

  private testForm(): TemplateResult {
    const problem = fieldError(this.error, "to");
    const message = this.error instanceof Error ? this.error.message : "";
    return html`${this.error
        ? html`<div class="error-summary" id="tm-errors" role="alert" tabindex="-1">
            <h3>There is a problem</h3>
            ${problem
              ? html`<ul><li><a href="#tm-to" @click=${this.focusTo}>E-mail address: ${problem}</a></li></ul>`
              : html`<p>${message}</p>`}
          </div>`
        : ""}
      <form @submit=${this.sendTest} novalidate>
        <div class=${problem ? "field invalid" : "field"}>
          <label for="tm-to">Send a test e-mail to</label>
          <p class="hint" id="tm-to-hint">To check that e-mail from Handyman KPI arrives, for example your own address.</p>
          ${problem ? html`<p class="field-error" id="tm-to-error">${problem}</p>` : ""}
          <input id="tm-to" name="to" type="email" autocomplete="email" spellcheck="false" aria-describedby="tm-to-hint" />
        </div>
        <button type="submit" ?disabled=${this.busy}>Send a test e-mail</button>
      </form>`;
  }

  private focusTo(event: Event): void {
    event.preventDefault();
    this.renderRoot.querySelector<HTMLElement>("#tm-to")?.focus();
  }

  private list(messages: OutboxMessage[]): TemplateResult {
    if (!messages.length) return empty("No messages yet.", "Messages appear here as they are sent.");
    return html`<div class="table-wrap cards">
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">To</th>
            <th scope="col">Subject</th>
            <th scope="col">Result</th>
            <th scope="col"><span class="visually-hidden">Open or send again</span></th>
          </tr>
        </thead>
        <tbody>
          ${messages.map((message) => {
            const [words, colour] = STATUS_WORDS[message.status] ?? [message.status, "amber"];
            const detail = message.status === "failed" || message.status === "queued" ? message.last_error : null;
            return html`<tr>
              <td data-label="When">${formatStamp(message.sent_at ?? message.created_at)}</td>
              <td data-label="To" class="wrap">${message.to}<br /><span class="hint">${message.channel === "email" ? "E-mail" : message.channel === "webhook" ? "Webhook" : message.channel}</span></td>
              <td data-label="Subject">${message.subject}</td>
              <td data-label="Result"><span class="badge ${colour}">${words}</span>${detail ? html`<br /><span class="hint">${detail}</span>` : ""}</td>
              <td>${this.actions(message)}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
  }

  private actions(message: OutboxMessage): TemplateResult | string {
    if (message.has_file)
      return html`<button class="secondary" @click=${() => this.open(message)} aria-label="Download the e-mail to ${message.to}: ${message.subject}">
        Download
      </button>`;
    if (message.status === "failed")
      return html`<button class="secondary" @click=${() => this.resend(message)} ?disabled=${this.busy} aria-label="Send again to ${message.to}: ${message.subject}">
        Send again
      </button>`;
    return "";
  }

  private async open(message: OutboxMessage): Promise<void> {
    try {
      await download(`${NOTIFICATIONS}/messages/${message.id}/eml`, `message-${message.id}.eml`);
    } catch (error) {
      this.problem = error;
    }
  }

  private async resend(message: OutboxMessage): Promise<void> {
    this.busy = true;
    try {
      await api.post<OutboxMessage>(`${NOTIFICATIONS}/messages/${message.id}/resend`);
      this.notice = `The message to ${message.to} will be sent again within a few seconds.`;
      await this.load();
    } catch (error) {
      this.problem = error;
    } finally {
      this.busy = false;
    }
  }

  private async sendTest(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const to = String(new FormData(form).get("to") || "");
    this.busy = true;
    this.error = null;
    this.notice = "";
    try {
      await api.post<OutboxMessage>(`${NOTIFICATIONS}/test-email`, { to });
      form.reset();
      this.notice = `A test e-mail to ${to} is on its way; it appears below once sent.`;
      await this.load();
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      if (error instanceof ApiError) this.renderRoot.querySelector<HTMLElement>("#tm-errors")?.focus();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("kpi-admin-messages", AdminMessages);
