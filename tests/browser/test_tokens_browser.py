"""The integration token form's errors, as GOV.UK's pattern has them: every problem in a summary on
top, each a link that takes the reader to its field, and the same words beside the field."""

from __future__ import annotations

import pytest
from test_disputes_browser import DESKTOP, PHONE, usable
from test_notifications_browser import DEEPEST_FOCUS


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_a_token_without_a_name_is_refused_in_a_summary_linked_to_the_field(page, login, screenshot, size):
    page.set_viewport_size(size)
    login("admin")
    page.goto("/admin/tokens")
    page.get_by_role("button", name="Make the token").click()

    summary = page.get_by_role("alert").filter(has_text="The token was not made")
    summary.wait_for()
    link = summary.get_by_role("link", name="Name:")
    words = link.inner_text().removeprefix("Name: ")
    assert words and words in page.locator(".field.invalid").filter(has=page.get_by_label("Name")).inner_text()
    link.click()
    assert page.evaluate(DEEPEST_FOCUS) == "tk-name", "the summary's link takes the reader to the field"
    usable(page)
    screenshot(f"admin-tokens-errors-{'390' if size == PHONE else '1366'}")
