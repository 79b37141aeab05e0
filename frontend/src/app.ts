// <kpi-app>: the shell. Navigation by role, the login gate, and the page for the current URL.
import { LitElement, css, html, type TemplateResult } from "lit";
import { tokens } from "./api";
import { catalog } from "./catalog";
import { configureCompany } from "./format";
import { current, inAppPath, interceptLinks, navigate, onNavigate, type Location } from "./router";
import { session } from "./session";
import { shared } from "./styles";
import { loading } from "./components/states";
import type { Me } from "./types";

import "./pages/login-page";

// Pages other than login are loaded on first use, so the first paint needs only the shell.
const PAGES: Record<string, () => Promise<unknown>> = {
  dashboard: () => import("./pages/dashboard-page"),
  technicians: () => import("./pages/technician-page"),
  evaluations: () => import("./pages/evaluation-page"),
  jobs: () => import("./pages/jobs-page"),
  reports: () => import("./pages/reports-page"),
  disputes: () => import("./pages/disputes-page"),
  notifications: () => import("./pages/notifications-page"),
  "self-appraisal": () => import("./pages/self-appraisal-page"),
  admin: () => import("./pages/admin-page"),
};

/** The sections each role can use: the others are not in its navigation and open a plain
 * "not available" page (not a form whose every request the API refuses). */
const SECTIONS_OF: Record<Me["role"], readonly string[]> = {
  // A self-appraisal is a technician's about themselves.
  admin: Object.keys(PAGES).filter((section) => section !== "self-appraisal"),
  manager: ["dashboard", "technicians", "evaluations", "jobs", "reports", "disputes", "notifications"],
  // A technician's disputes are on their scorecard; /disputes lists them all (linked from there).
  technician: ["dashboard", "technicians", "jobs", "disputes", "notifications", "self-appraisal"],
};

export class KpiApp extends LitElement {
  static styles = [
    shared,
    css`
      :host {
        min-height: 100vh;
      }
      /* Phone first: the brand and the user on one line, the navigation below it, wrapping;
         on a wide screen all three share one line. Every link and button is a 44 px target. */
      header {
        background: var(--header-bg);
        color: var(--header-ink);
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.25rem 1rem;
        padding: 0.25rem 0.75rem 0.5rem;
      }
      .brand {
        font-weight: 700;
        color: var(--header-ink);
        text-decoration: none;
        margin-right: auto;
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
      }
      nav {
        order: 3;
        flex: 1 1 100%;
      }
      nav ul {
        list-style: none;
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
        margin: 0;
        padding: 0;
      }
      nav a {
        color: var(--header-link);
        text-decoration: none;
        padding: 0.4rem 0.75rem;
        border-radius: 6px;
        display: inline-flex;
        align-items: center;
        min-height: var(--target);
      }
      nav a:hover {
        text-decoration: underline;
      }
      nav a[aria-current="page"] {
        background: var(--header-current);
        color: var(--header-ink);
      }
      nav a:focus-visible,
      .brand:focus-visible,
      header button:focus-visible {
        outline-color: var(--header-focus);
      }
      /* Beside the brand on a phone, whatever the name's length: the name gives way (ellipsis). */
      .user {
        display: flex;
        flex: 1 1 0;
        justify-content: flex-end;
        gap: 0.5rem;
        align-items: center;
        font-size: 0.9rem;
        min-width: 0;
      }
      .user span {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
        max-width: 12rem;
      }
      .user button {
        flex: none;
      }
      header button {
        background: transparent;
        color: var(--header-ink);
        border-color: var(--header-link);
        padding: 0.2rem 0.75rem;
      }
      @media (min-width: 64rem) {
        header {
          flex-wrap: nowrap;
          padding: 0.25rem 1rem;
        }
        nav {
          order: 0;
          flex: 0 1 auto;
        }
        .user {
          flex: 0 0 auto;
        }
      }
      main {
        padding: 1rem 0.75rem;
        max-width: 1400px;
        margin: 0 auto;
      }
      @media (min-width: 40rem) {
        main {
          padding: 1rem;
        }
      }
      .skip {
        position: absolute;
        left: -999px;
      }
      .skip:focus {
        left: 0.5rem;
        top: 0.5rem;
        background: var(--surface);
        color: var(--link);
        padding: 0.5rem;
        z-index: 10;
      }
    `,
  ];

  static properties = { location: { state: true }, user: { state: true }, ready: { state: true } };
  declare location: Location;
  declare user: Me | null;
  declare ready: boolean;

  constructor() {
    super();
    this.location = current();
    this.user = null;
    this.ready = false;
  }

  connectedCallback(): void {
    super.connectedCallback();
    interceptLinks(document);
    onNavigate((location) => {
      this.location = location;
      window.scrollTo(0, 0);
    });
    tokens.onCleared(() => {
      this.user = null;
      catalog.forget();
      if (this.location.path !== "/login") this.toLogin();
    });
    this.addEventListener("logged-in", () => void this.afterLogin());
    void this.start();
  }

  private async start(): Promise<void> {
    const user = await session.load();
    if (user) await this.loadCompany();
    this.user = user;
    this.ready = true;
    if (!this.user && this.location.path !== "/login") this.toLogin();
    else if (this.user && (this.location.path === "/" || this.location.path === "/login")) this.home();
  }

  private toLogin(): void {
    const next = this.location.path === "/" ? "" : `?next=${encodeURIComponent(this.location.path + window.location.search)}`;
    navigate(`/login${next}`, { replace: true });
  }

  private home(): void {
    navigate(this.homePath(), { replace: true });
  }

  private homePath(): string {
    if (this.user?.role === "technician") return `/technicians/${this.user.technician_id}`;
    return "/dashboard";
  }

  /** Money and times are written in the company's currency and zone: known before any page draws. */
  private async loadCompany(): Promise<void> {
    configureCompany(await catalog.company().catch(() => null));
  }

  private async afterLogin(): Promise<void> {
    await this.loadCompany();
    this.user = session.user;
    navigate(inAppPath(this.location.params.get("next")) ?? this.homePath(), { replace: true });
  }

  private async logout(): Promise<void> {
    await session.logout();
  }

  private links(): [string, string][] {
    const role = this.user?.role;
    if (role === "technician") {
      return [
        [`/technicians/${this.user?.technician_id}`, "My scorecard"],
        ["/dashboard", "Dashboard"],
        ["/jobs", "My jobs"],
        ["/self-appraisal", "Self-appraisal"],
        ["/notifications", "Notifications"],
      ];
    }
    const links: [string, string][] = [
      ["/dashboard", "Dashboard"],
      ["/technicians", "Technicians"],
      ["/evaluations/new", "Evaluate"],
      ["/jobs", "Jobs & import"],
      ["/reports", "Reports"],
      ["/disputes", "Disputes"],
      ["/notifications", "Notifications"],
    ];
    if (role === "admin") links.push(["/admin", "Admin"]);
    return links.filter(([href]) => this.allowed(href.split("/")[1]));
  }

  private allowed(section: string): boolean {
    return !!this.user && SECTIONS_OF[this.user.role]?.includes(section);
  }

  render(): TemplateResult {
    if (!this.ready) return loading("Starting");
    const section = this.location.path.split("/")[1] || "";
    if (!this.user || section === "login") return html`<kpi-login-page></kpi-login-page>`;
    return html`
      <a class="skip" href="#main">Skip to content</a>
      <header>
        <a class="brand" href=${this.homePath()}>Handyman KPI</a>
        <nav aria-label="Main">
          <ul>
            ${this.links().map(
              ([href, label]) => html`<li>
                <a href=${href} aria-current=${this.isCurrent(href) ? "page" : "false"}>${label}</a>
              </li>`,
            )}
          </ul>
        </nav>
        <div class="user">
          <span>${this.user.display_name || this.user.username} (${this.user.role})</span>
          <button @click=${this.logout}>Log out</button>
        </div>
      </header>
      <main id="main" tabindex="-1">${this.page(section)}</main>
    `;
  }

  private isCurrent(href: string): boolean {
    const path = this.location.path;
    return path === href || (href !== "/" && path.startsWith(`${href}/`) && href.split("/").length > 2) || (href === "/jobs" && path.startsWith("/jobs"));
  }

  private page(section: string): TemplateResult {
    const load = PAGES[section];
    // "/jobs/" is not "/jobs": the app's pages have no trailing slash, so it is not found either.
    const trailingSlash = this.location.path.length > 1 && this.location.path.endsWith("/");
    if (!load || trailingSlash) {
      if (section === "") return loading("Opening");
      return html`<h1>Page not found</h1>
        <p>There is no page at this address. It may have been mistyped, or the link may be out of date.</p>
        <p><a class="button secondary" href=${this.homePath()}>Go to your start page</a></p>`;
    }
    if (!this.allowed(section)) {
      return html`<h1>Not available</h1>
        <p>This page is not available to your role (${this.user?.role}).</p>
        <p><a class="button secondary" href=${this.homePath()}>Go to your start page</a></p>`;
    }
    // Each page module defines its element when loaded; until then its tag shows the fallback.
    void load();
    const parts = this.location.path.split("/").slice(2);
    const params = this.location.params;
    switch (section) {
      case "dashboard":
        return html`<kpi-dashboard-page .params=${params} .user=${this.user}></kpi-dashboard-page>`;
      case "technicians":
        return html`<kpi-technician-page .technicianId=${parts[0] ? Number(parts[0]) : null} .params=${params}
          .user=${this.user}></kpi-technician-page>`;
      case "evaluations":
        return html`<kpi-evaluation-page .params=${params} .user=${this.user}></kpi-evaluation-page>`;
      case "jobs":
        return html`<kpi-jobs-page .sub=${parts[0] ?? ""} .params=${params} .user=${this.user}></kpi-jobs-page>`;
      case "reports":
        return html`<kpi-reports-page .params=${params} .user=${this.user}></kpi-reports-page>`;
      case "disputes":
        return html`<kpi-disputes-page .sub=${parts[0] ?? ""} .params=${params} .user=${this.user}></kpi-disputes-page>`;
      case "notifications":
        return html`<kpi-notifications-page .user=${this.user}></kpi-notifications-page>`;
      case "self-appraisal":
        return html`<kpi-self-appraisal-page .user=${this.user}></kpi-self-appraisal-page>`;
      default:
        return html`<kpi-admin-page .tab=${parts[0] ?? "users"} .user=${this.user}></kpi-admin-page>`;
    }
  }
}

customElements.define("kpi-app", KpiApp);
