// The login form: username and password, the API's message on failure.
import { LitElement, css, html, type TemplateResult } from "lit";
import { session } from "../session";
import { shared } from "../styles";

export class LoginPage extends LitElement {
  static styles = [
    shared,
    css`
      :host {
        display: grid;
        place-items: center;
        min-height: 100vh;
        padding: 1rem;
      }
      form {
        width: min(24rem, 100%);
      }
      input {
        width: 100%;
      }
      button {
        width: 100%;
        justify-content: center;
        margin-top: 0.5rem;
      }
    `,
  ];

  static properties = { error: { state: true }, busy: { state: true } };
  declare error: string | null;
  declare busy: boolean;

  constructor() {
    super();
    this.error = null;
    this.busy = false;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = null;
    try {
      const user = await session.login(String(form.get("username")), String(form.get("password")));
      if (!user) throw new Error("Logged in, but the account could not be read.");
      this.dispatchEvent(new CustomEvent("logged-in", { bubbles: true, composed: true }));
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.busy = false;
    }
  }

  render(): TemplateResult {
    return html`<form class="card" @submit=${this.submit} aria-labelledby="title">
      <h1 id="title">Handyman KPI</h1>
      <p class="hint">Log in to see your dashboard.</p>
      <div class="field">
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required autofocus />
      </div>
      <div class="field">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
      </div>
      ${this.error ? html`<p class="field-error" role="alert">${this.error}</p>` : ""}
      <button type="submit" ?disabled=${this.busy}>${this.busy ? "Logging in…" : "Log in"}</button>
    </form>`;
  }
}

customElements.define("kpi-login-page", LoginPage);
