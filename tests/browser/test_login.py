"""Logging in with ``?next=``: an in-app path is honoured, anything that could leave the site
(or make the router throw) lands on the start page instead, with no error in the page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from harness import PASSWORD, Server


def log_in_at(page, url: str | None, username: str = "admin") -> None:
    """Log in through the form at ``url`` (None: the login page already shown)."""
    if url:
        page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.get_by_role("button", name="Log out").wait_for()


OFF_SITE = {
    "encoded backslash": "/%5Cevil.example",
    "backslashes": "/%5C%5Cevil.example/jobs",
    "protocol-relative": "//evil.example",
    "encoded slash": "/%2Fevil.example",
    "tab before a slash": "/%09/evil.example",
    "absolute URL": "https%3A%2F%2Fevil.example%2F",
    "script URL": "javascript:alert(1)",
    "the login page": "/login",
}


@pytest.mark.parametrize("next_", OFF_SITE.values(), ids=OFF_SITE.keys())
def test_a_next_that_is_not_an_in_app_path_lands_on_the_dashboard(page, server: Server, next_):
    log_in_at(page, f"/login?next={next_}")

    page.wait_for_url(f"{server.url}/dashboard")
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    assert page.problems.errors == []  # the fixture checks again at the end


def test_an_in_app_next_is_honoured(page, server: Server):
    log_in_at(page, "/login?next=/jobs")

    page.wait_for_url(f"{server.url}/jobs")
    page.get_by_role("heading", name="Jobs").first.wait_for()


def test_a_page_asked_for_before_logging_in_opens_after_it(page, server: Server):
    page.goto("/jobs?page=2")
    page.wait_for_url("**/login?next=**")

    log_in_at(page, None, "manager")

    page.wait_for_url(f"{server.url}/jobs?page=2")
