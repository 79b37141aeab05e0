"""Browser fixtures for plugin tests: the test's app on a loopback port, and Chromium through Playwright.

Add them beside kpi-core's other fixtures in ``tests/conftest.py``::

    pytest_plugins = ["kpi_core.testing.fixtures", "kpi_core.testing.browser"]

and ``playwright`` to the plugin's ``test`` extra. Then a test opens the
dashboard as a user and looks at what the user sees::

    def test_my_widget_shows_the_rate(make_user, seed, dashboard_page):
        make_user("admin", username="ada")
        ...                                   # seed the jobs behind the number
        page = dashboard_page("ada")          # logged in, on /dashboard
        assert page.locator("kpi-custom-widget my-widget").inner_text() == "..."

The server is the production app of the ``app`` fixture (its database, on
SQLite and PostgreSQL, and the installed plugins) served by waitress. Chromium
is Debian's (``/usr/bin/chromium``, or the path in ``KPI_TEST_CHROMIUM``);
Playwright's own browser download is never needed. Without Chromium or the
built dashboard the browser tests are skipped, and fail when ``CI=true``. A
page that throws an uncaught error, breaks the content security policy or
gets a 5xx answer fails the test that opened it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from kpi_core.testing.fixtures import TEST_PASSWORD, _missing_service

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_WIDTH = 390
DESKTOP_WIDTH = 1280

CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
"""Runs before any page script (through the DevTools protocol, which the CSP does not govern)."""


def chromium_path() -> Path:
    """Debian's Chromium, or the one ``KPI_TEST_CHROMIUM`` names."""
    return Path(os.environ.get("KPI_TEST_CHROMIUM") or "/usr/bin/chromium")


def missing_browser_prerequisite() -> str | None:
    """Why a browser test cannot run here (no Chromium, dashboard not built), or None."""
    from kpi_core.web.spa import DIST_DIR

    if not chromium_path().exists():
        return f"no Chromium at {chromium_path()} (apt-get install chromium, or set KPI_TEST_CHROMIUM)"
    if not (DIST_DIR / "index.html").is_file():
        return "kpi-core's dashboard is not built (cd frontend && npm ci && npm run build)"
    return None


def launch_browser(playwright: Any) -> Any:
    """Chromium through Playwright, headless."""
    return playwright.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS, headless=True)


class PageProblems:
    """What went wrong in a page: uncaught errors and 5xx answers (CSP violations are read at the end)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.server_errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "response",
            lambda response: (
                self.server_errors.append(f"{response.status} {response.url}") if response.status >= 500 else None
            ),
        )

    def assert_none(self, page: Any) -> None:
        violations = page.evaluate("window.__cspViolations || []") if not page.is_closed() else []
        assert violations == [], f"content security policy violations: {violations}"
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"
        assert self.server_errors == [], f"server errors: {self.server_errors}"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium for the session (Playwright's ``Browser``)."""
    reason = missing_browser_prerequisite()
    if reason:
        _missing_service(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The ``app`` fixture served on a free loopback port: its base URL (``http://127.0.0.1:PORT``)."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="kpi-plugin-test")
    thread = threading.Thread(target=server.run, name="kpi-plugin-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


@pytest.fixture
def dashboard_page(chromium: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """``dashboard_page(username, width=1280)``: a Playwright page logged in as that user, on the dashboard.

    The user logs in through the login form with ``TEST_PASSWORD`` (as
    ``make_user`` sets it). ``width=PHONE_WIDTH`` (390) shows the phone layout.
    Each call opens its own browser context (no shared login); every page is
    checked for uncaught errors, CSP violations and 5xx answers when the test ends.
    """
    opened: list[tuple[Any, Any, PageProblems]] = []

    def open_as(username: str, *, width: int = DESKTOP_WIDTH, password: str = TEST_PASSWORD) -> Any:
        context = chromium.new_context(base_url=live_server, viewport={"width": width, "height": 900})
        context.add_init_script(CSP_RECORDER)
        page = context.new_page()
        problems = PageProblems(page)
        opened.append((context, page, problems))
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_label("Password").press("Enter")
        page.get_by_role("button", name="Log out").wait_for()
        if "/dashboard" not in page.url:
            page.goto("/dashboard")
        return page

    yield open_as
    for context, page, problems in opened:
        try:
            problems.assert_none(page)
        finally:
            context.close()
