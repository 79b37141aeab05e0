"""Addresses that are not pages of the app show the app's own not-found page, in its words."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/jobs/", "/no-such-page", "/technicians/1/"])
def test_a_trailing_slash_or_unknown_address_shows_the_apps_not_found_page(login, page, path):
    login("admin")
    page.goto(path)

    page.get_by_role("heading", name="Page not found").wait_for()
    assert page.get_by_role("link", name="Go to your start page").is_visible()
    assert page.get_by_role("navigation", name="Main").is_visible()  # still inside the app
    assert "{" not in page.locator("body").inner_text()[:1]
