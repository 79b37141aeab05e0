"""Choosing what one receives, in a real Chromium (issue #20, point 4): a technician turns their weekly
scorecard off on the Notifications page (on a 390 px phone and a desktop), after the page told them where it
goes and when in words; a wrong address is named in GOV.UK's error summary and beside the field; a manager
moves their digest to Friday afternoon; an admin adds an alert rule after the form's errors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from harness import Server
from sqlalchemy import select
from test_disputes_browser import DESKTOP, PHONE, usable

from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.notify.alert_rules import create_rule
from kpi_core.notify.alerts import Found, raise_alert
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import AlertRule, NotificationSubscription, User

DEEPEST_FOCUS = """() => {
  let element = document.activeElement;
  while (element && element.shadowRoot && element.shadowRoot.activeElement) element = element.shadowRoot.activeElement;
  return element ? element.id : null;
}"""


def said(text: str) -> str:
    """Text as read: the narrow and the no-break spaces a locale writes in "7:00 AM" as plain spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def subscription(server: Server, username: str, kind: str) -> NotificationSubscription | None:
    with server.database.session(write=False) as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        row = session.scalar(
            select(NotificationSubscription).where(
                NotificationSubscription.user_id == user_id, NotificationSubscription.kind == kind
            )
        )
        if row is not None:
            session.expunge(row)
        return row


@pytest.fixture
def fresh_choices(server: Server):
    """Every choice and address made here is undone afterwards, whatever happens."""
    yield
    with server.database.session() as session:
        session.query(NotificationSubscription).delete()
        for user in session.scalars(select(User)):
            user.email = None
        session.query(AlertRule).filter(AlertRule.declared_key.is_(None)).delete()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_a_technician_turns_their_weekly_scorecard_off(page, login, screenshot, server, fresh_choices, size):
    page.set_viewport_size(size)
    login(server.people.technician)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications", level=1).wait_for()

    scorecard = page.get_by_role("group", name="My weekly scorecard")
    assert "Nobody else's numbers are in it" in scorecard.inner_text()
    assert "Every Monday at 7:00 AM, about the week before." in said(scorecard.inner_text())
    assert "the address on your technician record" in page.get_by_text("E-mail goes to").inner_text()
    assert page.get_by_label("Day").input_value() == "1" and page.get_by_label("Time").input_value() == "7"
    usable(page)
    screenshot(f"notifications-technician-{size['width']}")

    page.get_by_label("Send me my weekly scorecard").uncheck()
    assert page.get_by_label("Day").count() == 0, "the schedule is asked only while the scorecard is on"
    page.get_by_role("button", name="Save my choices").click()

    page.get_by_role("status").filter(has_text="Your choices are saved.").wait_for()
    row = subscription(server, server.people.technician, "weekly_scorecard")
    assert row is not None and row.enabled is False and row.unsubscribed_at is not None
    page.reload()
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    assert not page.get_by_label("Send me my weekly scorecard").is_checked()
    usable(page)
    screenshot(f"notifications-technician-off-{size['width']}")


def test_a_technician_asks_for_their_scorecard_as_a_pdf_too(page, login, screenshot, server, fresh_choices):
    page.set_viewport_size(PHONE)
    login(server.people.technician)
    page.goto("/notifications")
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    pdf = page.get_by_label("Attach these numbers as a PDF too, to print or keep")
    assert not pdf.is_checked()

    pdf.check()
    page.get_by_role("button", name="Save my choices").click()

    page.get_by_role("status").filter(has_text="Your choices are saved.").wait_for()
    row = subscription(server, server.people.technician, "weekly_scorecard")
    assert row is not None and row.enabled and row.options.get("attach_pdf") is True
    page.reload()
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    assert page.get_by_label("Attach these numbers as a PDF too, to print or keep").is_checked()
    usable(page)
    screenshot("notifications-technician-pdf-390")
    page.get_by_label("Send me my weekly scorecard").uncheck()
    assert page.get_by_label("Attach these numbers as a PDF too").count() == 0, "asked only while it is on"


def test_a_wrong_address_is_named_in_the_summary_and_beside_the_field(page, login, screenshot, server, fresh_choices):
    page.set_viewport_size(PHONE)
    login(server.people.manager)
    page.goto("/notifications")
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    assert "You have no e-mail address yet" in page.get_by_text("You have no e-mail address yet").inner_text()

    page.get_by_label("Your own e-mail address").fill("mona@")
    page.get_by_role("button", name="Save my choices").click()

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    summary.wait_for()
    assert "Your own e-mail address: Enter an e-mail address in the right form" in summary.inner_text()
    page.get_by_role("link", name="Your own e-mail address: Enter an e-mail address").click()
    assert page.evaluate(DEEPEST_FOCUS) == "n-email", "the summary's link takes the reader to the field"
    usable(page)
    screenshot("notifications-errors-390")

    page.get_by_label("Your own e-mail address").fill("mona@example.com")
    digest = page.get_by_role("group", name="My team's weekly digest")
    digest.get_by_label("Day").select_option(label="Friday")
    digest.get_by_label("Time").select_option(value="16")
    assert "Every Friday at 4:00 PM" in said(digest.inner_text())
    page.get_by_role("button", name="Save my choices").click()

    page.get_by_role("status").filter(has_text="Your choices are saved.").wait_for()
    row = subscription(server, server.people.manager, "team_digest")
    assert row is not None and row.options == {"schedule": "0 16 * * 5"}
    assert "E-mail goes to mona@example.com." in page.get_by_text("E-mail goes to").inner_text()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_an_admin_adds_an_alert_rule_after_correcting_the_form(page, login, screenshot, server, fresh_choices, size):
    page.set_viewport_size(size)
    login(server.people.admin)
    page.goto("/admin/alerts")
    page.get_by_role("heading", name="Add a rule").wait_for()
    assert page.get_by_text("First-time fix rate clearly off target for 2 months in a row").is_visible()

    page.get_by_label("Changed a lot against the period before").check()
    page.get_by_role("button", name="Add the rule").click()

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    summary.wait_for()
    assert "KPI: Choose the KPI the alert watches" in summary.inner_text()
    assert "By more than: Enter by how much the value must change" in summary.inner_text()
    usable(page)
    screenshot(f"admin-alerts-errors-{size['width']}")

    page.get_by_label("KPI").select_option(label="Complaint rate")
    page.get_by_label("By more than").fill("10")
    page.get_by_role("button", name="Add the rule").click()

    added = "Complaint rate changes for the worse by more than 10 points against the month before"
    page.get_by_role("status").filter(has_text=f"Added: {added}.").wait_for()
    assert page.get_by_role("row").filter(has_text=added).is_visible()
    usable(page)
    screenshot(f"admin-alerts-{size['width']}")


@pytest.fixture
def an_alert(server: Server, tmp_path):
    """An alert about the technician (of the manager's team): their first-time fix clearly off target last month."""
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="browser-alert-test-" + "x" * 30)
    plugins = load_plugins(settings)
    first = date.today().replace(day=1)
    start = (first - timedelta(days=1)).replace(day=1)
    streak = [{"period_start": start.isoformat(), "period_end": first.isoformat(), "value": 0.61, "denominator": 40}]
    with server.database.session() as session:
        data = {"kind": "clearly_red", "kpi": FTF, "period": "month", "periods": 1}
        rule = create_rule(session, plugins, Actor.system("test"), data)
        session.flush()
        found = Found(
            rule, server.people.technician_id, start.isoformat(), start, first, 0.61, None, {"streak": streak}
        )
        summary = raise_alert(session, plugins, settings, found).summary
    yield summary
    with server.database.session() as session:
        session.query(AlertRule).filter(AlertRule.declared_key.is_(None)).delete()


FTF = "quality.first_time_fix_rate"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_a_manager_sees_an_alert_on_the_dashboard_and_opens_the_jobs_behind_it(
    page, login, screenshot, server, an_alert, size
):
    page.set_viewport_size(size)
    login(server.people.manager)
    page.goto("/dashboard")
    alerts = page.get_by_role("region", name="Alerts")
    alerts.get_by_text(an_alert).wait_for()
    assert ": First-time fix rate clearly off target in " in an_alert and an_alert.endswith(" (61 %).")
    usable(page)
    screenshot(f"dashboard-alerts-{size['width']}")

    alerts.get_by_role("link", name="See the jobs behind it").click()

    page.wait_for_url("**/jobs/behind?**")
    page.get_by_role("heading", name="First-time fix rate: the jobs behind the value").wait_for()
