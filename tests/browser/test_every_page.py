"""Every page, for every role, on a 390 px phone and a 1366 px desktop, in a real Chromium.

Each page is opened once per role and size (and once more in dark mode on the phone), with
everything folded away opened; what it showed is kept, and each check below is its own
parametrised test over those visits:

- the page is no wider than the viewport: wide tables scroll inside their own labelled,
  focusable box, never the page;
- touch targets (buttons, inputs, selects, radio buttons and checkboxes with their labels, and
  every link: navigation, a KPI's value, a heatmap cell, an empty state's action) are at least
  44 px each way; a link inside a sentence is exempt, as WCAG 2.5.8's inline exception allows;
- axe-core finds no WCAG 2 A/AA violation (in light and in dark mode);
- the page loads without script errors, server errors, CSP violations or an error state;
- no text on screen is a plugin key or plugin name, a database column or an API parameter
  (the words checks: each its own test, so each can fail on its own); text in <code> is
  exempt, as what the reader must type literally (the headers of an import file).

Besides the pages a role opens, the visits include what a role cannot use (the plain "not
available" page), and states reached by doing something on a page (ACTIONS): the evaluation
form's errors after an empty submit, an import's result and its failure with row errors, and a
job's crew form with a row left empty.

Screenshots of every visit are saved as artifacts/screenshots/<role>-<page>-<size>.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from harness import CSP_RECORDER, PASSWORD, ROOT, SCREENSHOTS, Server, is_ci
from sqlalchemy import inspect

AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
SIZES = {"390x844": (390, 844), "1366x900": (1366, 900)}
PHONE = "390x844"
MIN_TARGET = 44
SECONDS = 40
"""How long a page may take to open and settle: a first visit computes its KPIs cold, while the
suite's other workers share the machine's cores."""

# (page, path) per role; {tech} is the technician's id, {job} the id of their latest job (a crew's,
# where the demo has one), {drill_*} a drill-down query (see below).
COMMON = [("dashboard", "/dashboard"), ("not-found", "/no-such-page")]
PAGES: dict[str, list[tuple[str, str]]] = {
    "visitor": [("login", "/login")],
    "technician": [
        ("scorecard", "/technicians/{tech}"),
        *COMMON,
        ("technicians", "/technicians"),
        ("jobs", "/jobs"),
        ("job", "/jobs/{job}"),
        ("drilldown", "/jobs/behind?{drill_own}"),
        ("notifications", "/notifications"),
        ("self-appraisal", "/self-appraisal"),
        ("reports-not-available", "/reports"),
        ("evaluation-not-available", "/evaluations/new"),
    ],
    "manager": [
        *COMMON,
        ("technicians", "/technicians"),
        ("scorecard", "/technicians/{tech}"),
        ("evaluation", "/evaluations/new?technician={tech}"),
        ("evaluation-errors", "/evaluations/new?technician={tech}"),
        ("jobs", "/jobs"),
        ("job", "/jobs/{job}"),
        ("job-crew-errors", "/jobs/{job}"),
        ("import-result", "/jobs"),
        ("import-failed", "/jobs"),
        ("drilldown", "/jobs/behind?{drill_company}"),
        ("reports", "/reports"),
        ("notifications", "/notifications"),
        ("admin-not-available", "/admin"),
    ],
    "admin": [
        *COMMON,
        ("technicians", "/technicians"),
        ("scorecard", "/technicians/{tech}"),
        ("evaluation", "/evaluations/new?technician={tech}"),
        ("jobs", "/jobs"),
        ("job", "/jobs/{job}"),
        ("drilldown", "/jobs/behind?{drill_company}"),
        ("reports", "/reports"),
        ("admin-users", "/admin/users"),
        ("admin-teams", "/admin/teams"),
        ("admin-targets", "/admin/targets"),
        ("admin-months", "/admin/months"),
        ("admin-plugins", "/admin/plugins"),
        ("admin-jobs", "/admin/jobs"),
        ("admin-tokens", "/admin/tokens"),
        ("admin-messages", "/admin/messages"),
        ("admin-webhooks", "/admin/webhooks"),
        ("admin-alerts", "/admin/alerts"),
        ("admin-calibration", "/admin/calibration"),
        ("notifications", "/notifications"),
    ],
}
USERNAMES = {"technician": "tech", "manager": "manager", "admin": "admin"}
CASES = [(role, name, size) for role, pages in PAGES.items() for name, _ in pages for size in SIZES]
DARK_CASES = [(role, name) for role, pages in PAGES.items() for name, _ in pages]


def case_id(case: tuple[str, ...]) -> str:
    return "-".join(case)


# --- what the page shows, read through every shadow root -------------------------------------

WALK = """
function* walk(root) {
  for (const node of root.childNodes) {
    yield node;
    if (node.shadowRoot) yield* walk(node.shadowRoot);
    yield* walk(node);
  }
}
"""

TEXT = (
    """
() => {"""
    + WALK
    + """
  const parts = [];
  for (const node of walk(document)) {
    if (node.nodeType === Node.TEXT_NODE) {
      const parent = node.parentElement;
      if (parent && ['STYLE', 'SCRIPT', 'TEMPLATE', 'NOSCRIPT'].includes(parent.tagName)) continue;
      // <code> is literal text the reader types (an import file's column headers, a cron line).
      if (parent && parent.closest('code')) continue;
      const text = node.textContent.trim();
      if (text) parts.push(text);
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      for (const name of ['title', 'aria-label', 'placeholder', 'alt']) {
        const value = node.getAttribute(name);
        if (value) parts.push(value);
      }
      if (node.tagName === 'INPUT' && node.type !== 'password' && node.value) parts.push(node.value);
    }
  }
  return parts.join('\\n');
}
"""
)

SETTLED = (
    """
() => {"""
    + WALK
    + """
  let heading = false;
  for (const node of walk(document)) {
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    // A loading state that is shown (not one in a closed <details>, which loads when opened).
    if (node.matches('.state[role=status]') && node.checkVisibility()) return false;
    heading ||= node.tagName === 'H1';
  }
  return heading;
}
"""
)
"""True once the app shows a page (a heading, or the login form) and no loading state."""

# Elements that stick out of the viewport without an ancestor that clips or scrolls them, and
# scroll boxes that a keyboard or screen-reader user could not reach or name.
LAYOUT = """
() => {
  const width = window.innerWidth;
  const sticking = [];
  const unlabelled = [];
  const describe = (el) => {
    const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).filter(Boolean) : [];
    const cls = classes.map((name) => '.' + name).join('');
    const host = el.getRootNode().host;
    return `${host ? host.tagName.toLowerCase() + ' ' : ''}${el.tagName.toLowerCase()}${cls}`;
  };
  const visit = (el, clipped) => {
    const style = getComputedStyle(el);
    if (style.display === 'none') return;
    const rect = el.getBoundingClientRect();
    // An absolutely placed element escapes a clipping ancestor that is not its containing block.
    const escapes = style.position === 'absolute';
    if ((!clipped || escapes) && rect.width > 0 && rect.right > width + 1 && style.position !== 'fixed') {
      sticking.push(`${describe(el)} (right edge at ${Math.round(rect.right)} px)`);
    }
    const scrolls = ['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
    if (scrolls && el !== document.documentElement && el !== document.body) {
      const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (el.tabIndex < 0 || !named || el.getAttribute('role') !== 'region') unlabelled.push(describe(el));
    }
    const clips = clipped || (style.overflowX !== 'visible' && el !== document.documentElement && el !== document.body);
    const children = [...el.children, ...(el.shadowRoot ? el.shadowRoot.children : [])];
    for (const child of children) visit(child, clips);
  };
  visit(document.documentElement, false);
  return {
    overflow: document.documentElement.scrollWidth - width,
    sticking: sticking.slice(0, 15),
    unlabelled,
  };
}
"""

# Interactive elements smaller than the minimum target; a radio button or checkbox counts with
# its label (the label is what a finger taps). Every link counts, except one inside a sentence
# (WCAG 2.5.8's inline exception): an inline link with the sentence's own text beside it, in its
# element or in an inline element around it ("... 3 unchanged. Show the imported jobs").
TARGETS = (
    """
(minimum) => {"""
    + WALK
    + """
  const small = [];
  const selector = 'button, select, textarea, input:not([type=hidden]), a[href], summary';
  const inSentence = (link) => {
    if (getComputedStyle(link).display !== 'inline') return false;
    for (let node = link; node.parentElement; node = node.parentElement) {
      const beside = [...node.parentElement.childNodes].some(
        (other) => other !== node && other.nodeType === Node.TEXT_NODE && other.textContent.trim());
      if (beside) return true;
      if (getComputedStyle(node.parentElement).display !== 'inline') return false;
    }
    return false;
  };
  for (const node of walk(document)) {
    if (node.nodeType !== Node.ELEMENT_NODE || !node.matches(selector)) continue;
    if (!node.checkVisibility({visibilityProperty: true})) continue;
    if (node.tagName === 'A' && inSentence(node)) continue;
    let box = node.getBoundingClientRect();
    if (box.width === 0 || box.right < 0) continue;
    if (['radio', 'checkbox'].includes(node.type)) {
      const label = node.closest('label') || (node.id && node.getRootNode().querySelector(`label[for="${node.id}"]`));
      if (label) box = label.getBoundingClientRect();
    }
    if (box.height + 0.5 < minimum || box.width + 0.5 < minimum) {
      const host = node.getRootNode().host;
      const name = (node.textContent || node.getAttribute('aria-label') || node.name || node.type || '')
        .trim().slice(0, 30);
      small.push(`${host ? host.tagName.toLowerCase() + ' ' : ''}${node.tagName.toLowerCase()} "${name}" ` +
                 `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}
"""
)

AXE_RUN = """
async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary.split('\\n')[1] ?? ''}`),
    count: v.nodes.length,
  }));
}
"""

# Everything folded away is opened, so that it is checked too (the numbers under a chart, the
# columns of an import file, an evaluation's answers); not a menu, which would cover the page.
OPEN_DETAILS = (
    """
() => {"""
    + WALK
    + """
  let opened = 0;
  for (const node of walk(document)) {
    if (node.nodeType !== Node.ELEMENT_NODE || node.tagName !== 'DETAILS' || node.open) continue;
    if (node.getRootNode().host?.tagName !== 'KPI-DOWNLOAD-MENU') {
      node.open = true;
      opened++;
    }
  }
  return opened;
}
"""
)

ERROR_STATES = (
    """
() => {"""
    + WALK
    + """
  const shown = [];
  for (const node of walk(document)) {
    if (node.nodeType === Node.ELEMENT_NODE && node.matches('.state.error')) shown.push(node.textContent.trim());
  }
  return shown;
}
"""
)


@dataclass
class Visit:
    """What one page showed in one browser, read once and checked by several tests."""

    url: str
    text: str = ""
    overflow: int = 0
    sticking: list[str] = field(default_factory=list)
    unlabelled_scrollers: list[str] = field(default_factory=list)
    small_targets: list[str] = field(default_factory=list)
    axe: list[dict[str, Any]] = field(default_factory=list)
    error_states: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- the words that must never be on screen ---------------------------------------------------


@dataclass
class Forbidden:
    """Identifiers a reader should never see, each list from its source of truth."""

    plugin_keys: list[str]
    plugin_names: list[str]
    columns: list[str]
    api_parameters: list[str]


def _words(words: set[str]) -> re.Pattern[str] | None:
    # Longest first, so that `quality.first_time_fix_rate` wins over a shorter overlapping key.
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, ordered)) + r")(?![\w])") if ordered else None


@pytest.fixture(scope="module")
def forbidden(server: Server) -> Forbidden:
    token = server.token(USERNAMES["admin"])
    listing = server.get("/api/v1/plugins", token)
    # Every key a plugin declares (metrics, widgets, form fields, jobs, settings, formats, ...);
    # a one-word key such as `pdf` is an ordinary word, so only keys with `.` or `_` count.
    keys = {key for plugin in listing["plugins"] for values in plugin["contributes"].values() for key in values}
    keys |= {setting["key"] for setting in server.get("/api/v1/plugins/settings", token)}
    plugin_keys = sorted(key for key in keys if "." in key or "_" in key)
    plugin_names = sorted({plugin["name"] for plugin in listing["plugins"] if "_" in plugin["name"]})
    # Every column of every table the migrations made (the host's and the plugins'); a one-word
    # column (`status`, `category`) is an ordinary word too.
    inspector = inspect(server.database.engine)
    columns = sorted(
        {column["name"] for table in inspector.get_table_names() for column in inspector.get_columns(table)} - {"id"}
    )
    columns = [name for name in columns if "_" in name]
    # Every parameter and body property the API document names.
    document = server.call("GET", "/api/openapi.json")
    components = document.get("components", {})
    parameters = {parameter["name"] for parameter in components.get("parameters", {}).values()}
    for path in document["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict):  # a parameter given by $ref is among the components
                parameters |= {p["name"] for p in operation.get("parameters", []) if "name" in p}
    for schema in components.get("schemas", {}).values():
        parameters |= set(schema.get("properties", {}))
    # A column's name is reported as a column, even where the API uses the same name.
    api_parameters = sorted(name for name in parameters - set(columns) if "_" in name)
    return Forbidden(plugin_keys, plugin_names, columns, api_parameters)


def found(text: str, words: list[str], also: str | None = None) -> list[str]:
    """Each forbidden word on screen, with the line it is on."""
    pattern = _words(set(words))
    hits: dict[str, str] = {}
    for line in text.splitlines():
        for regex in filter(None, [pattern, re.compile(also) if also else None]):
            for match in regex.finditer(line):
                hits.setdefault(match.group(0), line[:120])
    return [f"{word!r} in {line!r}" for word, line in sorted(hits.items())]


# --- visiting the pages -------------------------------------------------------------------------


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _drilldown(**group: str) -> str:
    """A drill-down query: the last complete month's on-time arrival rate."""
    last = _month_start(date.today(), 1)
    query = {
        "kpi": "timeliness.on_time_arrival_rate",  # its formula names the most columns
        "period": "month",
        "period_start": last.isoformat(),
        "start": _month_start(date.today(), 3).isoformat(),
        "end": _month_start(date.today()).isoformat(),
        **group,
    }
    return urlencode(query)


def _latest_job(server: Server, technician_id: int) -> int:
    """The latest job the technician leads, one with helpers if the demo gave them one (so its
    manager may change the crew)."""
    token = server.token(USERNAMES["admin"])
    jobs = server.get(f"/api/v1/jobs?{urlencode({'technician': technician_id, 'sort': '-scheduled_start'})}", token)
    led = [job for job in jobs if job["technician_id"] == technician_id]
    return next((job for job in led if len(job["technicians"]) > 1), led[0])["id"]


# --- states reached by doing something on a page --------------------------------------------------

IMPORT_HEADER = (
    "external_ref,technician_ref,customer_ref,customer_name,category,status,scheduled_start,scheduled_end,"
    "arrived_at,started_at,completed_at,estimated_minutes,revenue,callback_of"
)


def _import(page: Any, rows: list[str], shown: str) -> None:
    body = "\n".join([IMPORT_HEADER, *rows]) + "\n"
    upload = {"name": "jobs.csv", "mimeType": "text/csv", "buffer": body.encode()}
    page.get_by_label("File", exact=True).set_input_files(upload)
    page.get_by_role("button", name="Import", exact=True).click()
    page.locator(shown).wait_for()


def _import_a_good_file(page: Any, values: dict[str, str]) -> None:
    """One job two years back (outside every range the other pages show); importing it again
    changes nothing, so each visit shows the same result."""
    day = (_month_start(date.today(), 24) + timedelta(days=9)).isoformat()
    times = f"{day}T09:00,{day}T11:00,{day}T09:05,{day}T09:10,{day}T10:40"
    row = f"EVERY-PAGE-1,{values['tech_ref']},CUST-00001,,plumbing,completed,{times},90,150,"
    _import(page, [row], "p.import-result")


def _import_a_bad_file(page: Any, values: dict[str, str]) -> None:
    bad = "EVERY-PAGE-2,NO-SUCH-TECH,CUST-00001,,plumbing,finished,not-a-time,,,,,-5,,"
    _import(page, [bad], "table.row-errors")


def _submit_an_empty_evaluation(page: Any, values: dict[str, str]) -> None:
    page.get_by_role("button", name="Submit evaluation").click()
    page.locator("#error-summary").wait_for()


def _save_a_crew_with_an_empty_row(page: Any, values: dict[str, str]) -> None:
    page.get_by_role("button", name="Change the crew").click()
    page.get_by_role("button", name="Add a helper").click()
    page.get_by_role("button", name="Save the crew").click()
    page.locator("#crew-errors").wait_for()


ACTIONS: dict[str, Callable[[Any, dict[str, str]], None]] = {
    "evaluation-errors": _submit_an_empty_evaluation,
    "job-crew-errors": _save_a_crew_with_an_empty_row,
    "import-result": _import_a_good_file,
    "import-failed": _import_a_bad_file,
}
"""What is done on a page, once it has settled, to reach the state that the visit checks."""

EXPECTED_ERRORS = {"import-failed": "Import failed"}
"""Visits whose error message is the point: it must be there, and no other error state."""


class Visitor:
    """One logged-in browser context per role, size and colour scheme; each page visited once."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.contexts: dict[tuple[str, str, str], Any] = {}
        self.visits: dict[tuple[str, str, str, str], Visit | Exception] = {}
        self.axe_source = AXE.read_text(encoding="utf-8")
        tech = server.people.technician_id
        self.values = {
            "tech": str(tech),
            "job": str(_latest_job(server, tech)),
            "tech_ref": server.get(f"/api/v1/technicians/{tech}", server.token(USERNAMES["admin"]))["external_ref"],
            "drill_company": _drilldown(group_by="company"),
            "drill_own": _drilldown(group_by="technician", group_id=str(tech), technician=str(tech)),
        }

    def _page(self, role: str, size: str, scheme: str) -> Any:
        key = (role, size, scheme)
        if key not in self.contexts:
            width, height = SIZES[size]
            context = self.browser.new_context(
                base_url=self.server.url,
                viewport={"width": width, "height": height},
                has_touch=size == PHONE,
                color_scheme=scheme,
                locale="en-US",
                timezone_id="America/Chicago",
            )
            context.set_default_timeout(SECONDS * 1000)
            context.add_init_script(CSP_RECORDER)
            page = context.new_page()
            page.problems = []
            page.on("pageerror", lambda error: page.problems.append(f"uncaught error: {error}"))
            page.on(
                "response",
                lambda response: (
                    page.problems.append(f"server error: {response.status} {response.url}")
                    if response.status >= 500
                    else None
                ),
            )
            if role != "visitor":
                page.goto("/login")
                page.get_by_label("Username").fill(USERNAMES[role])
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_label("Password").press("Enter")
                page.get_by_role("button", name="Log out").wait_for()
            self.contexts[key] = page
        return self.contexts[key]

    def visit(self, role: str, name: str, size: str, scheme: str = "light") -> Visit:
        """The page's visit, made on first use; a visit that failed fails every test of it at once."""
        key = (role, name, size, scheme)
        if key not in self.visits:
            try:
                self.visits[key] = self._visit(role, name, size, scheme)
            except Exception as error:  # kept, so the other checks of this page need not wait for it again
                self.visits[key] = error
        visit = self.visits[key]
        if isinstance(visit, Exception):
            pytest.fail(f"{role} could not open {name} at {size} ({scheme}): {visit}"[:2000], pytrace=False)
        return visit

    def _visit(self, role: str, name: str, size: str, scheme: str) -> Visit:
        path = dict(PAGES[role])[name].format(**self.values)
        page = self._page(role, size, scheme)
        page.problems.clear()
        # While a build replaces the dashboard's files the server answers 503 ("not built"): wait it out.
        for _ in range(6):
            response = page.goto(path, wait_until="networkidle")
            if response is None or response.status != 503:
                break
            page.wait_for_timeout(5_000)
        page.problems.clear()
        try:
            self._settle(page)
        except Exception as error:
            why = f"{path} still shows a loading state ({type(error).__name__})"
            raise RuntimeError(f"{why}:{_listing(page.problems)}") from None
        if name in ACTIONS:
            ACTIONS[name](page, self.values)
            self._settle(page)
        if page.evaluate(OPEN_DETAILS):
            self._settle(page)
        visit = Visit(url=path)
        layout = page.evaluate(LAYOUT)
        visit.overflow, visit.sticking, visit.unlabelled_scrollers = (
            layout["overflow"],
            layout["sticking"],
            layout["unlabelled"],
        )
        visit.small_targets = page.evaluate(TARGETS, MIN_TARGET)
        visit.text = page.evaluate(TEXT)
        visit.error_states = page.evaluate(ERROR_STATES)
        suffix = "" if scheme == "light" else f"-{scheme}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{role}-{name}-{size}{suffix}.png"), full_page=True)
        # axe runs through the DevTools protocol (page.evaluate), which the page's CSP does not govern.
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_source)
        visit.axe = page.evaluate(AXE_RUN, AXE_TAGS)
        visit.problems = list(page.problems)
        visit.problems += [f"CSP violation: {v}" for v in page.evaluate("window.__cspViolations || []")]
        return visit

    @staticmethod
    def _settle(page: Any) -> None:
        """Wait until no loading state is shown, then for the network to go quiet again."""
        page.wait_for_function(SETTLED, timeout=SECONDS * 1000)
        page.wait_for_load_state("networkidle")
        page.wait_for_function(SETTLED, timeout=SECONDS * 1000)

    def close(self) -> None:
        for page in self.contexts.values():
            page.context.close()


@pytest.fixture(scope="module")
def visitor(browser: Any, server: Server) -> Iterator[Visitor]:
    if not AXE.is_file():
        reason = f"no {AXE.relative_to(ROOT)} (cd frontend && npm ci)"
        if is_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    visiting = Visitor(browser, server)
    yield visiting
    visiting.close()


def _listing(items: list[str]) -> str:
    return "\n  " + "\n  ".join(items)


def fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


# --- layout and accessibility -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_page_is_no_wider_than_the_screen(visitor: Visitor, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    if visit.overflow > 0:
        fail(f"{visit.url} is {visit.overflow} px wider than the screen:{_listing(visit.sticking)}")
    if visit.unlabelled_scrollers:
        boxes = _listing(visit.unlabelled_scrollers)
        fail(f"{visit.url}: boxes that scroll sideways must be named, focusable regions:{boxes}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_touch_targets_are_at_least_44_px(visitor: Visitor, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    if visit.small_targets:
        fail(f"{visit.url}: targets under {MIN_TARGET} px:{_listing(visit.small_targets)}")


def _axe_report(visit: Visit) -> str:
    return _listing(
        [f"{v['id']} ({v['impact']}, {v['count']}x): {v['help']}" + _listing(v["nodes"]) for v in visit.axe]
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_axe_finds_no_wcag_violation(visitor: Visitor, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    if visit.axe:
        fail(f"{visit.url}: axe-core WCAG 2 A/AA violations:{_axe_report(visit)}")


@pytest.mark.parametrize("case", DARK_CASES, ids=case_id)
def test_dark_mode_keeps_the_contrast(visitor: Visitor, case: tuple[str, str]):
    visit = visitor.visit(*case, PHONE, "dark")
    if visit.axe:
        fail(f"{visit.url} in dark mode: axe-core WCAG 2 A/AA violations:{_axe_report(visit)}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_page_loads_without_errors(visitor: Visitor, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    if visit.problems:
        fail(f"{visit.url}:{_listing(visit.problems)}")
    shown = visit.error_states
    expected = EXPECTED_ERRORS.get(case[1])
    if expected:
        if not any(expected in text for text in shown):
            fail(f"{visit.url} ({case[1]}) should show {expected!r}:{_listing(shown)}")
        shown = [text for text in shown if expected not in text]
    if shown:
        fail(f"{visit.url} shows an error:{_listing(shown)}")


# --- words ------------------------------------------------------------------------------------
# The admin's plugin page is about the installed packages: their names are what an admin
# installs and removes, so there (and only there) plugin names are the page's subject.
PLUGIN_NAMES_ARE_THE_SUBJECT = {"admin-plugins"}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_no_plugin_key_or_plugin_name_on_screen(visitor: Visitor, forbidden: Forbidden, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    words = forbidden.plugin_keys + ([] if case[1] in PLUGIN_NAMES_ARE_THE_SUBJECT else forbidden.plugin_names)
    hits = found(visit.text, words)
    if hits:
        fail(f"{visit.url} shows plugin keys or names:{_listing(hits)}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_no_database_column_on_screen(visitor: Visitor, forbidden: Forbidden, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    hits = found(visit.text, forbidden.columns)
    if hits:
        fail(f"{visit.url} shows database column names:{_listing(hits)}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_no_api_parameter_on_screen(visitor: Visitor, forbidden: Forbidden, case: tuple[str, str, str]):
    visit = visitor.visit(*case)
    # Also any `name=value` of an identifier, as in "use create_technicians=1".
    hits = found(visit.text, forbidden.api_parameters, also=r"\b[a-z]+(?:_[a-z0-9]+)+=")
    if hits:
        fail(f"{visit.url} shows API parameters:{_listing(hits)}")


# --- charts in both colour schemes --------------------------------------------------------------

CHART_PIXELS = """
(colour) => {
  const [r, g, b] = colour;
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS') return el;
      const inner = el.shadowRoot && find(el.shadowRoot);
      if (inner) return inner;
    }
    return null;
  };
  const canvas = find(document);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let near = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 30) near++;
  }
  return near;
}
"""

SERIES_COLOUR = """
() => {
  const probe = document.createElement('div');
  probe.style.color = getComputedStyle(document.documentElement).getPropertyValue('--chart-1');
  document.body.append(probe);
  const [r, g, b] = getComputedStyle(probe).color.match(/\\d+/g).map(Number);
  probe.remove();
  return [r, g, b];
}
"""


def test_charts_follow_the_colour_scheme(browser: Any, server: Server):
    """A trend line is drawn in the scheme's series colour, and redrawn when the scheme changes."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1366, "height": 900}, color_scheme="light")
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(USERNAMES["admin"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        page.locator("kpi-trend-widget canvas").first.wait_for()
        page.wait_for_load_state("networkidle")
        light = page.evaluate(SERIES_COLOUR)
        assert page.evaluate(CHART_PIXELS, light) > 50
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate(SERIES_COLOUR)
        assert dark != light
        page.wait_for_function(f"() => ({CHART_PIXELS})({dark}) > 50")
        assert page.evaluate(CHART_PIXELS, light) == 0
    finally:
        context.close()
