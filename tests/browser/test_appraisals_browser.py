"""Appraisals in a real Chromium (issue #21, points 4 to 6): a technician appraises themselves for last month
on a 390 px phone (the form's errors first, GOV.UK's way) beside their own numbers; their manager, on a
desktop and on a phone, evaluates them with the KPI numbers beside the questions and the technician's own
answer beside each question (side by side on the desktop, one under the other on the phone); the submitted
evaluation keeps the numbers; an admin reads in plain words which evaluator scores higher than the others."""

from __future__ import annotations

import urllib.error
from datetime import UTC, date, datetime, timedelta

from test_disputes_browser import DESKTOP, PHONE, no_horizontal_scroll, usable

SELF = "/api/v1/self-appraisals"


def last_month() -> tuple[date, date]:
    first = datetime.now(UTC).date().replace(day=1)
    end = first - timedelta(days=1)
    return end.replace(day=1), end


def months_ago(count: int) -> tuple[date, date]:
    first = datetime.now(UTC).date().replace(day=1)
    index = first.year * 12 + first.month - 1 - count
    start = date(index // 12, index % 12 + 1, 1)
    following = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return start, following - timedelta(days=1)


def boxes(page, selector: str) -> list[dict]:
    return page.locator(selector).evaluate_all("nodes => nodes.map(node => node.getBoundingClientRect().toJSON())")


def answers_for(server, token: str, rating: int) -> dict:
    """An answer to every required question of the evaluation form: ``rating`` for ratings, yes for yes/no."""
    fields = server.get("/api/v1/evaluations/form", token)["fields"]
    answers = {}
    for field in fields:
        if field["type"] == "rating":
            answers[field["key"]] = rating
        elif field["type"] == "yes_no":
            answers[field["key"]] = True
    return answers


def test_a_technician_appraises_themselves_and_their_manager_sees_it_side_by_side(login, page, server, screenshot):
    start, end = last_month()
    me = server.people.technician_id

    # The technician, on a phone: their numbers above the questions; sent empty, every problem listed.
    login("tech")
    page.set_viewport_size(PHONE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Self-appraisal").click()
    page.get_by_role("heading", name="Your self-appraisal").wait_for()
    numbers = page.locator("kpi-appraisal-numbers")
    numbers.locator("h3").wait_for()
    assert numbers.locator("h3").inner_text() == "Your numbers"
    # On a phone the KPIs are folded under the scorecard score, so the questions are near the top.
    numbers.get_by_text("Show the", exact=False).click()
    numbers.locator("li[data-kpi]").first.wait_for()
    assert page.get_by_label("Month").input_value() == start.isoformat()
    page.get_by_role("button", name="Submit self-appraisal").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert summary.evaluate("node => node.matches(':focus')")
    assert "Choose a rating for Workmanship" in summary.inner_text()
    usable(page)
    screenshot("self-appraisal-errors-phone")

    form = page.get_by_role("form", name="Self-appraisal")
    for fieldset in form.locator("fieldset").all():
        choices = fieldset.locator("label")
        choices.nth(3 if choices.count() == 5 else 0).click()  # 4 out of 5, or yes
    page.get_by_label("Your comment (optional)").fill("Two callbacks were on parts that failed, not my fitting.")
    usable(page)
    screenshot("self-appraisal-form-phone")
    page.get_by_role("button", name="Submit self-appraisal").click()
    page.get_by_role("status").filter(has_text="Self-appraisal submitted").wait_for()
    page.get_by_text("It is final").wait_for()
    no_horizontal_scroll(page)
    screenshot("self-appraisal-submitted-phone")
    token = server.token("tech")
    mine = server.get(f"{SELF}?period_start={start}&period_end={end}", token)
    assert [item["status"] for item in mine] == ["submitted"]

    # The manager, on a desktop: the numbers beside the questions, and the technician's answers beside theirs.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login**")
    login("manager")
    page.set_viewport_size(DESKTOP)
    page.goto(f"/evaluations/new?technician={me}")
    page.locator("[data-self-appraisal]").wait_for()
    page.locator("kpi-appraisal-numbers li[data-kpi]").first.wait_for()
    assert "Two callbacks were on parts that failed" in page.locator(".self-summary").inner_text()
    workmanship = '[data-field="quality.workmanship"]'
    theirs = '[data-self-answer="quality.workmanship"]'
    assert "4 out of 5" in page.locator(theirs).inner_text()
    control, own = boxes(page, workmanship)[0], boxes(page, theirs)[0]
    assert own["x"] >= control["x"] + control["width"] - 1  # side by side
    assert abs(own["y"] - control["y"]) < 40
    aside, questions = boxes(page, "aside")[0], boxes(page, ".questions")[0]
    assert aside["x"] >= questions["x"] + questions["width"] - 1  # the numbers beside the questions
    usable(page)
    screenshot("evaluation-with-self-appraisal-desktop")

    # On a phone: one under the other, the numbers first (folded under the scorecard score), nothing wider than
    # the screen.
    page.set_viewport_size(PHONE)
    page.reload()
    page.locator("[data-self-appraisal]").wait_for()
    page.get_by_text("Show the", exact=False).wait_for()
    control, own = boxes(page, workmanship)[0], boxes(page, theirs)[0]
    assert own["y"] >= control["y"] + control["height"] - 1
    assert abs(own["x"] - control["x"]) < 20
    aside, questions = boxes(page, "aside")[0], boxes(page, ".questions")[0]
    assert questions["y"] >= aside["y"] + aside["height"] - 1
    usable(page)
    screenshot("evaluation-with-self-appraisal-phone")

    # Submitted, the evaluation keeps the numbers the manager saw; the technician reads them on it.
    page.set_viewport_size(DESKTOP)
    page.evaluate("window.scrollTo(0, 0)")
    for fieldset in page.get_by_role("form", name="Evaluation").locator("fieldset").all():
        choices = fieldset.locator("label")
        choices.nth(2 if choices.count() == 5 else 0).click()
    page.get_by_role("button", name="Submit evaluation").click()
    page.get_by_role("status").filter(has_text="Evaluation submitted").wait_for()
    manager = server.token("manager")
    evaluations = server.get(f"/api/v1/evaluations?technician={me}&period_from={start}&period_to={end}", manager)
    evaluation = server.get(f"/api/v1/evaluations/{evaluations[0]['id']}", manager)
    assert evaluation["self_appraisal_id"] == mine[0]["id"]
    assert evaluation["kpi_snapshot"]["period_start"] == start.isoformat()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login**")
    login("tech")
    page.set_viewport_size(PHONE)
    mine_card = page.locator(f'article[data-evaluation="{evaluation["id"]}"]')
    card = page.locator("kpi-evaluation-card").filter(has=mine_card)
    mine_card.wait_for()
    if card.locator("[data-read-first]").count():  # another waiting evaluation is the one shown open
        card.get_by_text("Read the evaluation", exact=True).click()
    card.get_by_text("The numbers the evaluator saw").click()
    card.locator("kpi-appraisal-numbers li[data-kpi]").first.wait_for()
    no_horizontal_scroll(page)
    screenshot("evaluation-card-numbers-phone", full_page=False)


def test_an_admin_reads_which_evaluator_scores_higher(login, page, server, screenshot):
    admin, manager = server.token("admin"), server.token("manager")
    start, end = months_ago(3)
    team = server.people.managed_team_id
    technicians = [
        person["id"]
        for person in server.get(f"/api/v1/technicians?team={team}&page_size=100", manager)
        if person["id"] != server.people.technician_id
    ][:3]
    assert len(technicians) == 3
    # Ada Admin rates the same three technicians 5, 4 and 5 where their manager rates each of them 3.
    for token, ratings in ((admin, (5, 4, 5)), (manager, (3, 3, 3))):
        for technician, rating in zip(technicians, ratings, strict=True):
            body = {
                "technician_id": technician,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "answers": answers_for(server, token, rating),
                "status": "submitted",
            }
            try:
                server.call("POST", "/api/v1/evaluations", body, token)
            except urllib.error.HTTPError as error:  # pragma: no cover - says what the API refused
                raise AssertionError(error.read().decode()) from None

    login("admin")
    for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(size)
        page.goto("/admin/calibration")
        card = page.locator("article[data-evaluator]").filter(has=page.get_by_role("heading", name="Ada Admin"))
        card.wait_for()
        says = card.locator("[data-leniency]").inner_text()
        assert "Ada Admin scores" in says and "points higher than others for the same technicians" in says, says
        usable(page)
        screenshot(f"admin-calibration-{name}")
