"""Fixtures of the browser tests: one server over the demo data and one Chromium for the session.

Each test gets a fresh browser context (no shared tokens) whose page records CSP
violations, uncaught errors and failed requests; the test fails if any happened.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    CSP_RECORDER,
    PASSWORD,
    SCREENSHOTS,
    Server,
    is_ci,
    launch_browser,
    missing_prerequisite,
    start_server,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = missing_prerequisite()
    if reason:
        if is_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    running = start_server(tmp_path_factory.mktemp("browser-server"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


class Problems:
    """What went wrong in the page: CSP violations, uncaught errors, 5xx answers."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.console: list[str] = []
        self.server_errors: list[str] = []


@pytest.fixture
def page(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="America/Chicago"
    )
    # Sized for a machine whose cores the suite's other workers share (conftest.py's WORKERS).
    context.set_default_timeout(30_000)
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    problems = Problems()
    page.on("pageerror", lambda error: problems.errors.append(str(error)))
    page.on("console", lambda message: problems.console.append(message.text) if message.type == "error" else None)
    page.on(
        "response",
        lambda response: (
            problems.server_errors.append(f"{response.status} {response.url}") if response.status >= 500 else None
        ),
    )
    page.problems = problems
    yield page
    violations = page.evaluate("window.__cspViolations || []") if not page.is_closed() else []
    context.close()
    assert violations == [], f"CSP violations: {violations}"
    assert problems.errors == [], f"uncaught errors in the page: {problems.errors}"
    assert problems.server_errors == [], f"server errors: {problems.server_errors}"
    csp_console = [text for text in problems.console if "Content Security Policy" in text]
    assert csp_console == [], csp_console


@pytest.fixture
def login(page: Any, server: Server):
    """``login(username)``: log in through the form, by keyboard, and wait for the start page."""

    def do_login(username: str) -> Any:
        page.goto("/")
        page.wait_for_url("**/login**")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        page.get_by_role("button", name="Log out").wait_for()
        return page

    return do_login


@pytest.fixture
def screenshot(page: Any):
    """``screenshot("dashboard")`` saves the page to artifacts/screenshots/dashboard.png."""

    def take(name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
