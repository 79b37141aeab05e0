"""The admin's messages and webhooks in a real Chromium (issue #20): adding a webhook with the form's errors
first (GOV.UK's error summary linking to each field, the message beside it), on a 390 px phone and a
desktop; the secret shown once; turning it off and removing it; a test e-mail written as an .eml file (the
server has no mail server) listed under Messages sent with a Download button."""

from __future__ import annotations

import pytest
from harness import Server
from test_disputes_browser import DESKTOP, PHONE, usable

from kpi_core.storage.models import WebhookEndpoint

DEEPEST_FOCUS = """() => {
  let element = document.activeElement;
  while (element && element.shadowRoot && element.shadowRoot.activeElement) element = element.shadowRoot.activeElement;
  return element ? element.id : null;
}"""


@pytest.fixture
def no_endpoints_left(server: Server):
    """The endpoint this test adds asks only for an event nothing emits yet, and is removed whatever happens."""
    yield
    with server.database.session() as session:
        session.query(WebhookEndpoint).delete()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_an_admin_adds_a_webhook_after_correcting_the_form(page, login, screenshot, no_endpoints_left, size):
    page.set_viewport_size(size)
    login("admin")
    page.goto("/admin/webhooks")
    page.get_by_role("heading", name="Add a webhook").wait_for()

    page.get_by_label("Address (URL)").fill("http://127.0.0.1:8080/hook")
    page.get_by_role("button", name="Add the webhook").click()

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    summary.wait_for()
    assert "Name: Enter a name" in summary.inner_text()
    assert "Address (URL): The URL points at a private, loopback or link-local address" in summary.inner_text()
    assert "Events to send: Choose at least one event" in summary.inner_text()
    page.get_by_role("link", name="Address (URL): The URL points at a private").click()
    assert page.evaluate(DEEPEST_FOCUS) == "wh-url", "the summary's link takes the reader to the field"
    usable(page)
    screenshot(f"admin-webhooks-errors-{size['width']}")

    page.get_by_label("Name").fill("Dispatch chat room")
    page.get_by_label("Address (URL)").fill("https://8.8.8.8/hooks/kpi")
    page.get_by_label("An alert about a KPI was raised").check()
    page.get_by_label("A sentence for a chat room (Slack, Mattermost)").check()
    page.get_by_role("button", name="Add the webhook").click()

    page.get_by_role("heading", name="Copy the secret for Dispatch chat room now").wait_for()
    assert page.get_by_label("Secret", exact=True).input_value().startswith("whsec_")
    row = page.get_by_role("row").filter(has_text="Dispatch chat room")
    assert "An alert about a KPI was raised" in row.inner_text() and "On" in row.inner_text()
    usable(page)
    screenshot(f"admin-webhooks-{size['width']}")

    page.get_by_role("button", name="Turn off Dispatch chat room").click()
    page.get_by_role("status").filter(has_text="Dispatch chat room is off").wait_for()
    page.get_by_role("button", name="Remove Dispatch chat room").click()
    page.get_by_role("status").filter(has_text="Dispatch chat room is removed").wait_for()
    assert page.get_by_text("No webhooks yet.").is_visible()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_an_admin_sends_a_test_email_and_finds_it_under_messages_sent(page, login, screenshot, server, size):
    page.set_viewport_size(size)
    login("admin")
    page.goto("/admin/messages")
    page.get_by_role("heading", name="Where messages go").wait_for()
    assert "written as an .eml file" in page.get_by_text("No mail server is set").inner_text()

    page.get_by_label("Send a test e-mail to").fill("owner@")
    page.get_by_role("button", name="Send a test e-mail").click()
    page.get_by_role("alert").filter(has_text="E-mail address: Enter a valid e-mail address").wait_for()

    # The other size's test may have sent one already: the new message is the one beyond those.
    messages = server.get("/api/v1/notifications/messages", server.token("admin"))
    earlier = sum(message["to"] == "owner@example.com" for message in messages)
    page.get_by_label("Send a test e-mail to").fill("owner@example.com")
    page.get_by_role("button", name="Send a test e-mail").click()
    page.get_by_role("status").filter(has_text="A test e-mail to owner@example.com is on its way").wait_for()
    rows = page.get_by_role("row").filter(has_text="owner@example.com")
    newest = rows.first
    for _ in range(60):  # delivered in the background within seconds
        rows.nth(earlier).wait_for()  # the list shows the new message (newest first)
        if "Sent" in newest.inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
        page.get_by_role("heading", name="Messages sent").wait_for()
    assert rows.count() == earlier + 1
    assert "Sent" in newest.inner_text() and "Test message from Handyman KPI" in newest.inner_text()
    newest.get_by_role("button", name="Download the e-mail to owner@example.com").wait_for()
    usable(page)
    screenshot(f"admin-messages-{size['width']}")
