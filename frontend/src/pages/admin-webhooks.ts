// The admin page's "Webhooks" tab (/admin/webhooks): addresses that other systems gave us to tell
// them when something happens here (a report is ready, an evaluation was submitted). Each endpoint
// gets the events it asked for, signed with its secret; the delivery log says what became of each
// one, and a delivery can be sent again.
import { LitElement, css, html, type TemplateResult } from "lit";
import { ApiError, api, request } from "../api";
import { formatStamp } from "../format";
import { errorSummary, type Problem } from "../components/error-summary";
import { formLayout, shared } from "../styles";
import { empty, failed, fieldError, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { CreatedWebhook, Webhook, WebhookDelivery, WebhookEvent } from "../types";

const WEBHOOKS = "/api/v1/webhooks";
const STATUS_WORDS: Record<string, [string, string]> = {
  queued: ["Waiting", "amber"],
  sending: ["Sending", "amber"],
  sent: ["Delivered", "green"],
  failed: ["Failed", "red"],
};

/** The form's controls in order, with the API field each one answers for (for the error summary). */
const FIELDS: [string, string, string][] = [
  ["name", "wh-name", "Name"],
  ["url", "wh-url", "Address (URL)"],
  ["events", "wh-events", "Events to send"],
  ["format", "wh-format-kpi", "Kind of message"],
  ["secret", "wh-secret", "Secret"],
];

export class AdminWebhooks extends LitElement {
  static styles = [
    shared,
    formLayout,
    css`
      .field input:not([type="radio"], [type="checkbox"]) {
        width: 100%;
        max-width: 32rem;
      }
      .error-summary,
      .shown-once {
        border: 4px solid var(--red-ink);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin-bottom: 1rem;
      }
      .shown-once {
        border-color: var(--green-ink);
      }
      .error-summary h3,
      .shown-once h3 {
        margin-top: 0;
      }
      .error-summary,
      .field-error {
        overflow-wrap: anywhere;
      }
      .secret {
        font-family: ui-monospace, monospace;
        width: 100%;
      }
      .url {
        overflow-wrap: anywhere;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
    `,
  ];

  static properties = {
    endpoints: { state: true },
    events: { state: true },
    deliveries: { state: true },
    problem: { state: true },
    error: { state: true },
    notice: { state: true },
    created: { state: true },
    busy: { state: true },
  };
  declare endpoints: Webhook[] | null;
  declare events: WebhookEvent[];
  declare deliveries: WebhookDelivery[];
  declare problem: unknown;
  declare error: unknown;
  declare notice: string;
  /** The endpoint just registered, whose secret is shown this once. */
  declare created: CreatedWebhook | null;
  declare busy: boolean;

  constructor() {
    super();
    new TableBoxes(this);
    this.endpoints = null;
    this.events = [];
    this.deliveries = [];
    this.problem = null;
    this.error = null;
    this.notice = "";
    this.created = null;
    this.busy = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    try {
      const [endpoints, events, deliveries] = await Promise.all([
        api.get<Webhook[]>(WEBHOOKS),
        this.events.length ? Promise.resolve(this.events) : api.get<WebhookEvent[]>(`${WEBHOOKS}/events`),
        api.page<WebhookDelivery>(`${WEBHOOKS}/deliveries`, { page_size: 25 }),
      ]);
      this.endpoints = endpoints;
      this.events = events;
      this.deliveries = deliveries.items;
    } catch (error) {
      this.problem = error;
    }
  }

  render(): TemplateResult {
    if (this.problem) return failed(this.problem, () => this.load());
    if (!this.endpoints) return loading();
    return html`<div class="grid">
      <section class="card">
        <h2>Webhooks</h2>
        <p class="hint">
          A webhook tells another system (a chat room, your field-service software) when something happens here, such
          as a report being ready. Each message is signed with the endpoint's secret, so the other system can check it
          came from Handyman KPI.
        </p>
        ${this.notice ? html`<p class="state" role="status">${this.notice}</p>` : ""}
        ${this.created ? this.shownOnce(this.created) : ""} ${this.list(this.endpoints)}
      </section>
      <section class="card">
        <h2>Add a webhook</h2>
        ${this.form()}
      </section>
      <section class="card">
        <h2>Delivery log</h2>
        <p class="hint">The latest 25 deliveries. A failed one can be sent again once the other system is fixed.</p>
        ${this.log(this.deliveries)}
      </section>
    </div>`;
  }

  private eventLabel(key: string | null | undefined): string {
    return this.events.find((event) => event.key === key)?.label ?? key ?? "Message";
  }

  private list(endpoints: Webhook[]): TemplateResult {
    if (!endpoints.length) return empty("No webhooks yet.", "Add one below for each system that should hear about events.");
    return html`<div class="table-wrap cards">
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Address</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col"><span class="visually-hidden">Change</span></th>
          </tr>
        </thead>
        <tbody>
          ${endpoints.map(
            (endpoint) => html`<tr>
              <td data-label="Name">${endpoint.name}${endpoint.format === "slack" ? html`<br /><span class="hint">Chat message (Slack style)</span>` : ""}</td>
              <td data-label="Address" class="url">${endpoint.url}</td>
              <td data-label="Events">${endpoint.events.map((key) => this.eventLabel(key)).join("; ")}</td>
              <td data-label="State">${endpoint.enabled ? "On" : "Off"}</td>
              <td>
                <div class="actions">
                  <button class="secondary" @click=${() => this.toggle(endpoint)} ?disabled=${this.busy} aria-label="${endpoint.enabled ? "Turn off" : "Turn on"} ${endpoint.name}">
                    ${endpoint.enabled ? "Turn off" : "Turn on"}
                  </button>
                  <button class="secondary" @click=${() => this.removeEndpoint(endpoint)} ?disabled=${this.busy} aria-label="Remove ${endpoint.name}">Remove</button>
                </div>
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  private log(deliveries: WebhookDelivery[]): TemplateResult {
    if (!deliveries.length) return empty("Nothing sent yet.", "Deliveries appear here as events happen.");
    const names = new Map((this.endpoints ?? []).map((endpoint) => [endpoint.id, endpoint.name]));
    return html`<div class="table-wrap cards">
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">To</th>
            <th scope="col">Result</th>
            <th scope="col">Tries</th>
            <th scope="col"><span class="visually-hidden">Send again</span></th>
          </tr>
        </thead>
        <tbody>
          ${deliveries.map((delivery) => {
            const [words, colour] = STATUS_WORDS[delivery.status] ?? [delivery.status, "amber"];
            const detail = delivery.status === "sent" ? delivery.receipt : delivery.last_error;
            return html`<tr>
              <td data-label="When">${formatStamp(delivery.created_at)}</td>
              <td data-label="Event">${this.eventLabel(delivery.event)}<br /><span class="hint">${delivery.summary}</span></td>
              <td data-label="To">${names.get(delivery.endpoint_id ?? -1) ?? html`<span class="url">${delivery.url}</span>`}</td>
              <td data-label="Result"><span class="badge ${colour}">${words}</span>${detail ? html`<br /><span class="hint">${detail}</span>` : ""}</td>
              <td data-label="Tries">${delivery.attempts} of ${delivery.max_attempts}</td>
              <td>
                ${delivery.status === "sent" || delivery.status === "failed"
                  ? html`<button class="secondary" @click=${() => this.replay(delivery)} ?disabled=${this.busy} aria-label="Send again: ${this.eventLabel(delivery.event)}, ${formatStamp(delivery.created_at)}">
                      Send again
                    </button>`
                  : ""}
              </td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
  }

  private async act(action: () => Promise<unknown>, notice: string): Promise<void> {
    this.busy = true;
    this.notice = "";
    try {
      await action();
      await this.load();
      this.notice = notice;
    } catch (error) {
      this.problem = error;
    } finally {
      this.busy = false;
    }
  }

  private toggle(endpoint: Webhook): Promise<void> {
    const enabled = !endpoint.enabled;
    return this.act(
      () => request<Webhook>("PATCH", `${WEBHOOKS}/${endpoint.id}`, { json: { enabled } }),
      enabled ? `${endpoint.name} is on: it receives events again.` : `${endpoint.name} is off: it receives nothing until turned on.`,
    );
  }

  private removeEndpoint(endpoint: Webhook): Promise<void> {
    return this.act(
      () => request<Webhook>("DELETE", `${WEBHOOKS}/${endpoint.id}`),
      `${endpoint.name} is removed. Its deliveries stay in the log.`,
    );
  }

  private replay(delivery: WebhookDelivery): Promise<void> {
    return this.act(
      () => api.post<WebhookDelivery>(`${WEBHOOKS}/deliveries/${delivery.id}/replay`),
      "It will be sent again within a few seconds.",
    );
  }

  private shownOnce(created: CreatedWebhook): TemplateResult {
    return html`<div class="shown-once" id="shown-once" tabindex="-1">
      <h3>Copy the secret for ${created.name} now</h3>
      <p>The other system needs it to check that messages come from Handyman KPI. It is shown only this once.</p>
      <div class="field">
        <label for="wh-issued">Secret</label>
        <input id="wh-issued" class="secret" readonly .value=${created.secret} @focus=${(event: FocusEvent) => (event.target as HTMLInputElement).select()} />
      </div>
      <button class="secondary" @click=${() => (this.created = null)}>I have copied it</button>
    </div>`;
  }

  private err(field: string): TemplateResult | string {
    const message = fieldError(this.error, field);
    return message ? html`<p class="field-error" id="${field}-error">${message}</p>` : "";
  }

  private invalid(field: string): string {
    return fieldError(this.error, field) ? "field invalid" : "field";
  }

  private summary(): TemplateResult | string {
    const problems: Problem[] = FIELDS.filter(([field]) => fieldError(this.error, field)).map(([field, target, label]) => [
      `${label}: ${fieldError(this.error, field)}`,
      target,
    ]);
    return errorSummary(this.error, problems, { id: "wh-errors" });
  }

  private form(): TemplateResult {
    return html`${this.summary()}
      <form @submit=${this.submit} novalidate>
        <div class=${this.invalid("name")}>
          <label for="wh-name">Name</label>
          <p class="hint" id="wh-name-hint">Where the messages go, for example "Dispatch chat room".</p>
          ${this.err("name")}
          <input id="wh-name" name="name" maxlength="100" autocomplete="off" aria-describedby="wh-name-hint" />
        </div>
        <div class=${this.invalid("url")}>
          <label for="wh-url">Address (URL)</label>
          <p class="hint" id="wh-url-hint">The address the other system gave you, starting with https://</p>
          ${this.err("url")}
          <input id="wh-url" name="url" type="url" inputmode="url" autocomplete="off" spellcheck="false" aria-describedby="wh-url-hint" />
        </div>
        <fieldset class=${this.invalid("events")} id="wh-events" tabindex="-1">
          <legend>Events to send</legend>
          ${this.err("events")}
          ${this.events.map(
            (event) => html`<div class="choice"><label><input type="checkbox" name="events" value=${event.key} /> ${event.label}</label></div>`,
          )}
        </fieldset>
        <fieldset class=${this.invalid("format")}>
          <legend>Kind of message</legend>
          ${this.err("format")}
          <div class="choice">
            <label><input type="radio" id="wh-format-kpi" name="format" value="kpi" checked /> Data for another system (signed JSON)</label>
          </div>
          <div class="choice">
            <label><input type="radio" name="format" value="slack" /> A sentence for a chat room (Slack, Mattermost)</label>
          </div>
        </fieldset>
        <div class=${this.invalid("secret")}>
          <label for="wh-secret">Secret (optional)</label>
          <p class="hint" id="wh-secret-hint">Leave it empty and one is made for you. If you give one, use at least 16 characters.</p>
          ${this.err("secret")}
          <input id="wh-secret" name="secret" autocomplete="off" spellcheck="false" aria-describedby="wh-secret-hint" />
        </div>
        <button type="submit" ?disabled=${this.busy}>Add the webhook</button>
      </form>`;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const body: Record<string, unknown> = {
      name: String(data.get("name") || ""),
      url: String(data.get("url") || ""),
      events: data.getAll("events").map(String),
      format: String(data.get("format") || "kpi"),
    };
    const secret = String(data.get("secret") || "");
    if (secret) body.secret = secret;
    this.busy = true;
    this.error = null;
    this.notice = "";
    try {
      this.created = await api.post<CreatedWebhook>(WEBHOOKS, body);
      form.reset();
      await this.load();
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>("#shown-once")?.focus();
    } catch (error) {
      this.error = error;
      await this.updateComplete;
      if (error instanceof ApiError) this.renderRoot.querySelector<HTMLElement>("#wh-errors")?.focus();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("kpi-admin-webhooks", AdminWebhooks);
