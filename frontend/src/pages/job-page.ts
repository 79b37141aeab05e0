// One job (/jobs/<id>): what happened when, and its crew in words. Those who may change the job (an
// admin, or a manager of the lead's team) change the crew here: who leads, who helps, and each one's
// share of the credit. Every problem with the crew is shown at once, beside its control and in a
// summary on top that links to each (GOV.UK's error summary); shares are entered in per cent.
import { LitElement, css, html, type PropertyValues, type TemplateResult } from "lit";
import { ApiError, request } from "../api";
import { catalog } from "../catalog";
import { formatJobStatus, formatMoney, formatNumber, formatShare, formatStamp } from "../format";
import { shared } from "../styles";
import { crewSentence } from "../components/crew";
import { failed, loading } from "../components/states";
import { TableBoxes } from "../components/tables";
import type { CrewMemberIn, Job, JobChange, Me, Technician } from "../types";

/** A row of the crew form: the technician chosen (null: none yet) and the share typed, in per cent. */
interface Row {
  person: number | null;
  percent: string;
}

const CREW = "technicians";

/** "technicians.1.share" (how a schema error is named) and "technicians[1].share" read alike. */
function normalPath(path: string): string {
  return path.replace(/^technicians\.(\d+)\./, "technicians[$1].");
}

/** A share typed in per cent ("40", "33,5") as a number, or null when it is not one. */
function percentOf(text: string): number | null {
  const value = Number(text.trim().replace(",", "."));
  return text.trim() && Number.isFinite(value) ? value : null;
}

export class JobPage extends LitElement {
  static styles = [
    shared,
    css`
      .back {
        margin: 0 0 0.25rem;
      }
      .back a {
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
      }
      dl.facts {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 0 1rem;
        margin: 0;
      }
      dl.facts dt {
        font-weight: 600;
        margin-top: 0.5rem;
      }
      dl.facts dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      @media (min-width: 40rem) {
        dl.facts {
          grid-template-columns: max-content minmax(0, 1fr);
        }
        dl.facts dt,
        dl.facts dd {
          margin-top: 0.4rem;
        }
      }
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      @media (min-width: 64rem) {
        .grid {
          grid-template-columns: minmax(0, 1fr) minmax(0, 1.4fr);
          align-items: start;
        }
      }
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
      ol.crew-rows {
        list-style: none;
        padding: 0;
        margin: 0.75rem 0;
        display: grid;
        gap: 0.75rem;
      }
      /* A member is a box of its own on a phone: technician, then lead and share side by side. */
      li.crew-row {
        border: 1px solid var(--border);
        border-radius: 8px;
        padding: 0.75rem;
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem 0.75rem;
        align-items: end;
      }
      li.crew-row > .field {
        margin-bottom: 0;
      }
      li.crew-row > .who {
        flex: 1 1 14rem;
      }
      li.crew-row > .who select {
        width: 100%;
      }
      li.crew-row > .share {
        flex: 0 1 8rem;
      }
      li.crew-row > .share input {
        width: 100%;
      }
      .lead label {
        display: inline-flex;
        align-items: center;
        gap: 0.4rem;
        min-height: var(--target);
        font-weight: 400;
        cursor: pointer;
      }
      .lead input {
        width: 1.25rem;
        height: 1.25rem;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
        align-items: center;
        margin-top: 0.75rem;
      }
      .saved {
        font-weight: 600;
      }
      /* A problem with the crew as a whole marks the group at its left edge, not each control in it. */
      fieldset.crew-invalid {
        border-left: 4px solid var(--red-ink);
        padding-left: 0.75rem;
      }
    `,
  ];

  static properties = {
    jobId: { attribute: false },
    user: { attribute: false },
    job: { state: true },
    problem: { state: true },
    technicians: { state: true },
    editing: { state: true },
    rows: { state: true },
    lead: { state: true },
    errors: { state: true },
    failure: { state: true },
    busy: { state: true },
    saved: { state: true },
  };
  declare jobId: number;
  declare user: Me;
  declare job: Job | null;
  declare problem: unknown;
  declare technicians: Technician[];
  declare editing: boolean;
  declare rows: Row[];
  declare lead: number;
  /** Problems with the crew by field path (technicians, technicians[1].share, ...). */
  declare errors: Record<string, string>;
  /** An answer that is about no one field (403, 412, a lost connection). */
  declare failure: unknown;
  declare busy: boolean;
  declare saved: boolean;
  private etag = "";

  constructor() {
    super();
    new TableBoxes(this);
    this.job = null;
    this.problem = null;
    this.technicians = [];
    this.editing = false;
    this.rows = [];
    this.lead = 0;
    this.errors = {};
    this.failure = null;
    this.busy = false;
    this.saved = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    catalog.technicians().then((people) => (this.technicians = people), () => {});
  }

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has("jobId")) void this.load();
  }

  private async load(): Promise<void> {
    this.problem = null;
    this.job = null;
    this.editing = false;
    try {
      const answer = await request<Job>("GET", `/api/v1/jobs/${this.jobId}`);
      this.job = answer.data;
      this.etag = answer.headers.get("ETag") ?? "";
    } catch (error) {
      this.problem = error;
    }
  }

  /** An admin, or a manager who sees the lead (the technicians list holds their teams' only). */
  private get mayChange(): boolean {
    if (!this.job || !this.user) return false;
    if (this.user.role === "admin") return true;
    return this.user.role === "manager" && this.technicians.some((person) => person.id === this.job!.technician_id);
  }

  private get linked(): Set<number> {
    return new Set(this.technicians.map((person) => person.id));
  }

  // --- the crew form -------------------------------------------------------------------------

  private startEditing(): void {
    const crew = this.job!.technicians;
    const equal = crew.every((member) => Math.abs(member.share - 1 / crew.length) < 0.0005);
    this.rows = crew.map((member) => ({
      person: member.technician_id,
      percent: equal ? "" : String(Math.round(member.share * 1000) / 10),
    }));
    this.lead = Math.max(0, crew.findIndex((member) => member.role === "lead"));
    this.errors = {};
    this.failure = null;
    this.saved = false;
    this.editing = true;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>("#crew-0-technician")?.focus());
  }

  private change(index: number, values: Partial<Row>): void {
    this.rows = this.rows.map((row, at) => (at === index ? { ...row, ...values } : row));
  }

  private addHelper(): void {
    this.rows = [...this.rows, { person: null, percent: "" }];
    const index = this.rows.length - 1;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#crew-${index}-technician`)?.focus());
  }

  private removeRow(index: number): void {
    this.rows = this.rows.filter((_, at) => at !== index);
    if (this.lead === index) this.lead = 0;
    else if (this.lead > index) this.lead -= 1;
    this.errors = {};
  }

  private nameOf(id: number | null): string {
    if (id === null) return "";
    return (
      this.technicians.find((person) => person.id === id)?.name ??
      this.job?.technicians.find((member) => member.technician_id === id)?.technician ??
      `Technician ${id}`
    );
  }

  /** Every problem the form can see before sending, at once, in the words and units of the form. */
  private check(): Record<string, string> {
    const found: Record<string, string> = {};
    const seen = new Set<number>();
    const shares: number[] = [];
    let empty = 0;
    this.rows.forEach((row, index) => {
      const at = `${CREW}[${index}]`;
      if (row.person === null) found[`${at}.technician_id`] = "Choose a technician, or remove this row";
      else if (seen.has(row.person)) {
        found[`${at}.technician_id`] = `Choose another technician: ${this.nameOf(row.person)} is on the crew already`;
      } else seen.add(row.person);
      if (!row.percent.trim()) {
        empty += 1;
        return;
      }
      const share = percentOf(row.percent);
      if (share === null) found[`${at}.share`] = "Enter the share as a number of per cent, such as 40";
      else if (share <= 0 || share > 100) found[`${at}.share`] = "Enter a share above 0 % and up to 100 %, or leave it empty";
      else shares.push(share);
    });
    const given = shares.reduce((sum, share) => sum + share, 0);
    const total = formatShare(given / 100);
    if (!Object.keys(found).some((path) => path.endsWith(".share")) && shares.length) {
      if (!empty && Math.abs(given - 100) > 0.01) {
        found[CREW] = `The shares add up to ${total}: make them add up to 100 %, or leave every share empty to split the credit equally`;
      } else if (empty && given >= 100 - 0.01) {
        found[CREW] = `The shares given add up to ${total}, which leaves nothing for the technicians without one: lower them, or leave every share empty`;
      }
    }
    return found;
  }

  private crewGiven(): CrewMemberIn[] {
    return this.rows.map((row, index) => {
      const share = percentOf(row.percent);
      return {
        technician_id: row.person!,
        role: index === this.lead ? "lead" : "helper",
        ...(share === null ? {} : { share: share / 100 }),
      };
    });
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy) return;
    this.failure = null;
    this.errors = this.check();
    if (Object.keys(this.errors).length) return this.showSummary();
    this.busy = true;
    try {
      const body: JobChange = { technicians: this.crewGiven() };
      const answer = await request<Job>("PATCH", `/api/v1/jobs/${this.jobId}`, {
        json: body,
        headers: { "If-Match": this.etag },
      });
      this.job = answer.data;
      this.etag = answer.headers.get("ETag") ?? this.etag;
      this.editing = false;
      this.saved = true;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>("#crew-saved")?.focus();
    } catch (error) {
      const fields = error instanceof ApiError ? error.fields : {};
      this.errors = Object.fromEntries(Object.entries(fields).map(([path, message]) => [normalPath(path), message]));
      if (!Object.keys(this.errors).length) this.failure = error;
      await this.showSummary();
    } finally {
      this.busy = false;
    }
  }

  private async showSummary(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>("#crew-errors")?.focus();
  }

  /** The control a problem is about: its id, or "" when none (the summary then lists it unlinked). */
  private targetOf(path: string): string {
    if (path === CREW || path === "technician_id") return "crew-fieldset";
    const match = /^technicians\[(\d+)\]\.(technician_id|share|role)$/.exec(path);
    if (!match || Number(match[1]) >= this.rows.length) return "";
    return `crew-${match[1]}-${{ technician_id: "technician", share: "share", role: "lead" }[match[2]]}`;
  }

  private goTo(event: Event, target: string): void {
    event.preventDefault();
    const control = this.renderRoot.querySelector<HTMLElement>(`#${target}`);
    control?.scrollIntoView({ block: "center" });
    control?.focus();
  }

  private summary(): TemplateResult | string {
    const problems = Object.entries(this.errors);
    if (!problems.length && !this.failure) return "";
    if (!problems.length) {
      const error = this.failure;
      const stale = error instanceof ApiError && (error.status === 412 || error.status === 428);
      return html`<div class="error-summary" id="crew-errors" role="alert" tabindex="-1">
        <h3>The crew was not saved</h3>
        <p>${error instanceof Error ? error.message : String(error)}</p>
        ${stale ? html`<p><button type="button" class="secondary" @click=${() => this.load()}>Reload the job</button></p>` : ""}
      </div>`;
    }
    // In the order of the form: the crew as a whole, then each row's controls.
    const order = (path: string) => (path === CREW || path === "technician_id" ? -1 : Number(/\[(\d+)\]/.exec(path)?.[1] ?? 999));
    problems.sort(([a], [b]) => order(a) - order(b));
    return html`<div class="error-summary" id="crew-errors" role="alert" tabindex="-1" aria-labelledby="crew-errors-title">
      <h3 id="crew-errors-title">There ${problems.length === 1 ? "is a problem" : `are ${problems.length} problems`}</h3>
      <ul>
        ${problems.map(([path, message]) => {
          const target = this.targetOf(path);
          return target
            ? html`<li><a href="#${target}" @click=${(event: Event) => this.goTo(event, target)}>${message}</a></li>`
            : html`<li>${message}</li>`;
        })}
      </ul>
    </div>`;
  }

  private errorText(path: string): TemplateResult | string {
    const message = this.errors[path];
    const id = path.replace(/\W+/g, "-");
    return message ? html`<p class="field-error" id="error-${id}"><span class="visually-hidden">Error:</span> ${message}</p>` : "";
  }

  private described(path: string, hint = ""): string {
    return [hint, this.errors[path] ? `error-${path.replace(/\W+/g, "-")}` : ""].filter(Boolean).join(" ");
  }

  private options(selected: number | null): TemplateResult[] {
    const people = this.technicians.map((person) => [person.id, person.name] as const);
    // A helper from another team already on the crew may stay: offered under their name.
    for (const member of this.job!.technicians) {
      if (!people.some(([id]) => id === member.technician_id)) people.push([member.technician_id, member.technician]);
    }
    return [
      html`<option value="" ?selected=${selected === null}>Choose a technician</option>`,
      ...people.map(([id, name]) => html`<option value=${id} ?selected=${selected === id}>${name}</option>`),
    ];
  }

  private row(row: Row, index: number): TemplateResult {
    const at = `${CREW}[${index}]`;
    const invalid = (path: string) => (this.errors[path] ? "field invalid" : "field");
    const name = this.nameOf(row.person) || `technician ${index + 1}`;
    return html`<li class="crew-row" data-row=${index}>
      <div class="${invalid(`${at}.technician_id`)} who">
        <label for="crew-${index}-technician">${index === this.lead ? "Lead technician" : `Technician ${index + 1}`}</label>
        ${this.errorText(`${at}.technician_id`)}
        <select
          id="crew-${index}-technician"
          aria-describedby=${this.described(`${at}.technician_id`)}
          @change=${(event: Event) => {
            const value = (event.target as HTMLSelectElement).value;
            this.change(index, { person: value ? Number(value) : null });
          }}
        >
          ${this.options(row.person)}
        </select>
      </div>
      <div class="${invalid(`${at}.role`)} lead">
        ${this.errorText(`${at}.role`)}
        <label>
          <input
            type="radio"
            name="lead"
            id="crew-${index}-lead"
            .checked=${index === this.lead}
            aria-describedby=${this.described(`${at}.role`)}
            @change=${() => (this.lead = index)}
          />
          Leads the job
        </label>
      </div>
      <div class="${invalid(`${at}.share`)} share">
        <label for="crew-${index}-share">Share (%)</label>
        ${this.errorText(`${at}.share`)}
        <input
          id="crew-${index}-share"
          inputmode="decimal"
          autocomplete="off"
          .value=${row.percent}
          aria-describedby=${this.described(`${at}.share`)}
          @input=${(event: Event) => this.change(index, { percent: (event.target as HTMLInputElement).value })}
        />
      </div>
      ${this.rows.length > 1
        ? html`<button type="button" class="secondary" @click=${() => this.removeRow(index)}>
            Remove<span class="visually-hidden"> ${name} from the crew</span>
          </button>`
        : ""}
    </li>`;
  }

  private crewForm(): TemplateResult {
    return html`${this.summary()}
      <form @submit=${this.save} novalidate aria-label="Change the crew">
        <fieldset id="crew-fieldset" tabindex="-1" class=${this.errors[CREW] || this.errors.technician_id ? "field crew-invalid" : "field"}
          aria-describedby="crew-hint">
          <legend>Who worked on this job</legend>
          <p class="hint" id="crew-hint">
            One technician leads the job; the others help. Leave every share empty to split the credit equally, or give
            each technician a share so that they add up to 100 %.
          </p>
          ${this.errorText(CREW)} ${this.errorText("technician_id")}
          <ol class="crew-rows">
            ${this.rows.map((row, index) => this.row(row, index))}
          </ol>
          <button type="button" class="secondary" @click=${this.addHelper}>Add a helper</button>
        </fieldset>
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>Save the crew</button>
          <button type="button" class="secondary" @click=${() => ((this.editing = false), (this.errors = {}), (this.failure = null))}>
            Cancel
          </button>
        </div>
      </form>`;
  }

  // --- the page ------------------------------------------------------------------------------

  private crewCard(job: Job): TemplateResult {
    const linked = this.linked;
    return html`<section class="card" aria-labelledby="crew-title">
      <h2 id="crew-title">Crew</h2>
      ${this.saved ? html`<p class="saved" id="crew-saved" role="status" tabindex="-1">The crew was saved.</p>` : ""}
      ${this.editing
        ? this.crewForm()
        : html`<p class="crew-sentence">${crewSentence(job.technicians)}</p>
            <div class="table-wrap cards">
              <table class="crew">
                <caption class="visually-hidden">Who worked on job ${job.external_ref}</caption>
                <thead>
                  <tr>
                    <th scope="col">Technician</th>
                    <th scope="col">Role</th>
                    <th scope="col" class="num">Share of the credit</th>
                  </tr>
                </thead>
                <tbody>
                  ${job.technicians.map(
                    (member) => html`<tr data-technician=${member.technician_id}>
                      <td>
                        ${linked.has(member.technician_id)
                          ? html`<a href="/technicians/${member.technician_id}">${member.technician}</a>`
                          : member.technician}
                      </td>
                      <td>${member.role === "lead" ? "Lead" : "Helper"}</td>
                      <td class="num">${formatShare(member.share)}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${this.mayChange
              ? html`<p><button type="button" class="secondary" @click=${this.startEditing}>Change the crew</button></p>`
              : ""}`}
    </section>`;
  }

  private facts(job: Job): TemplateResult {
    const rows: [string, TemplateResult | string][] = [
      ["Category", job.category],
      ["Status", formatJobStatus(job.status)],
      ["Scheduled", job.scheduled_start ? `${formatStamp(job.scheduled_start)}${job.scheduled_end ? ` – ${formatStamp(job.scheduled_end)}` : ""}` : "–"],
      ["Arrived", formatStamp(job.arrived_at)],
      ["Started", formatStamp(job.started_at)],
      ["Completed", formatStamp(job.completed_at)],
      ["Estimate", job.estimated_minutes === null || job.estimated_minutes === undefined ? "–" : `${formatNumber(job.estimated_minutes)} minutes`],
      ["Revenue", job.revenue === null || job.revenue === undefined ? "–" : formatMoney(Number(job.revenue))],
    ];
    if (job.callback_of_id) {
      rows.push(["Return visit for", html`<a href="/jobs/${job.callback_of_id}">the job it reworks</a>`]);
    }
    return html`<section class="card" aria-labelledby="facts-title">
      <h2 id="facts-title">The job</h2>
      <dl class="facts">${rows.map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}</dl>
    </section>`;
  }

  render(): TemplateResult {
    if (this.problem) {
      const missing = this.problem instanceof ApiError && this.problem.status === 404;
      return missing
        ? html`<h1>Job not found</h1>
            <p>There is no job with this number that you can see. It may have been deleted, or the link may be out of date.</p>
            <p><a class="button secondary" href="/jobs">Go to the jobs</a></p>`
        : failed(this.problem, () => this.load());
    }
    const job = this.job;
    if (!job) return loading("Loading the job");
    return html`<p class="back"><a href="/jobs">All jobs</a></p>
      <h1>Job ${job.external_ref}</h1>
      <div class="grid">${this.facts(job)} ${this.crewCard(job)}</div>`;
  }
}

customElements.define("kpi-job-page", JobPage);
