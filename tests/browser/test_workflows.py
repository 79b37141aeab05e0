"""Workflows done by hand in a real Chromium, as each role does them (issue #16): an evaluation sent
twice is saved once, a technician reads an evaluation in full and acknowledges it, a rate target is
typed in per cent, a manager is offered only their teams, a technician is not offered what their
role cannot use, and a technician's scorecard ranks them among their peers."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from harness import Server

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def evaluations_of(server: Server, token: str, technician: int, start: str) -> list[dict]:
    query = urlencode({"technician": technician, "period_from": start, "period_to": start, "page_size": 100})
    return server.get(f"/api/v1/evaluations?{query}", token)


def fill_evaluation(page, technician: int, start: str, end: str) -> None:
    """The whole form, answered: every rating 4, every yes/no yes."""
    page.goto(f"/evaluations/new?technician={technician}")
    page.get_by_role("heading", name="New evaluation").wait_for()
    page.get_by_label("Period from").fill(start)
    page.get_by_label("Period to").fill(end)
    fields = page.locator("[data-field]")
    for index in range(fields.count()):
        field = fields.nth(index)
        if field.locator("input[type=radio][value='4']").count():
            field.locator("input[type=radio][value='4']").check()
        elif field.locator("input[type=radio][value='yes']").count():
            field.locator("input[type=radio][value='yes']").check()


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# --- evaluations -------------------------------------------------------------------------------


def test_a_double_click_on_submit_saves_one_evaluation(login, page, server, screenshot):
    token = server.token("manager")
    technician = server.people.technician_id
    login("manager")
    fill_evaluation(page, technician, "2024-03-01", "2024-03-31")

    page.get_by_role("button", name="Submit evaluation").dblclick()

    page.get_by_role("status").filter(has_text="Evaluation submitted").wait_for()
    screenshot("evaluation-submitted")
    assert len(evaluations_of(server, token, technician, "2024-03-01")) == 1


def test_a_retry_after_a_lost_answer_saves_one_evaluation(login, page, server):
    token = server.token("manager")
    technician = server.people.technician_id
    login("manager")
    fill_evaluation(page, technician, "2024-04-01", "2024-04-30")
    lost: list[int] = []

    def lose_the_first_answer(route):
        # The server saves the evaluation; its answer never reaches the page (a timeout on a phone).
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch().status)
            route.abort("timedout")
        else:
            route.continue_()

    page.route("**/api/v1/evaluations", lose_the_first_answer)
    page.get_by_role("button", name="Submit evaluation").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert "saved once" in summary.inner_text()
    assert lost == [201]

    page.get_by_role("button", name="Submit evaluation").click()

    page.get_by_role("status").filter(has_text="Evaluation submitted").wait_for()
    assert len(evaluations_of(server, token, technician, "2024-04-01")) == 1


def test_every_error_is_beside_its_field_and_summarised_on_top(login, page, server, screenshot):
    login("manager")
    page.set_viewport_size(PHONE)
    page.goto("/evaluations/new")
    page.get_by_role("heading", name="New evaluation").wait_for()
    page.get_by_label("Period from").fill("2024-05-31")
    page.get_by_label("Period to").fill("2024-05-01")

    page.get_by_role("button", name="Submit evaluation").click()

    summary = page.locator("#error-summary")
    summary.wait_for()
    links = summary.get_by_role("link")
    required = page.locator("[data-field] .field-error").count()
    errors = page.locator(".field-error")
    # The technician, the period's order and every required question, each beside its field and in the summary.
    assert required >= 6
    assert links.count() == errors.count() == required + 2
    assert "technician" in page.locator("#error-technician_id").inner_text().lower()
    no_horizontal_scroll(page)
    screenshot("evaluation-errors-phone")

    links.filter(has_text="Safety").click()
    focused = page.evaluate(
        "(() => { let e = document.activeElement; while (e && e.shadowRoot && e.shadowRoot.activeElement)"
        " e = e.shadowRoot.activeElement; return e && e.id; })()"
    )
    assert focused == "answer:quality.safety-1"


def test_a_rating_scale_says_what_its_ends_mean(login, page):
    login("manager")
    page.goto("/evaluations/new")
    safety = page.locator("[data-field='quality.safety']")
    safety.wait_for()

    assert "1 = Unsafe, 5 = Safe every time" in safety.inner_text()
    assert "kpi_quality" not in page.locator("form").inner_text()  # no plugin names on screen


def test_a_technician_reads_the_whole_evaluation_then_acknowledges_it(login, page, server, screenshot):
    manager = server.token("manager")
    form = server.get("/api/v1/evaluations/form", manager)
    answers = {
        field["key"]: (True if field["type"] == "yes_no" else 5 if field["type"] == "rating" else None)
        for field in form["fields"]
    }
    answers["quality.safety"] = 2
    created = server.call(
        "POST",
        "/api/v1/evaluations",
        {
            "technician_id": server.people.technician_id,
            "period_start": "2024-06-01",
            "period_end": "2024-06-30",
            "answers": answers,
            "status": "submitted",
        },
        token=manager,
    )
    login("tech")
    page.set_viewport_size(PHONE)
    query = urlencode({"technician": server.people.technician_id, "status": "submitted", "page_size": 100})
    waiting = server.get(f"/api/v1/evaluations?{query}", manager)
    card = page.locator(f"kpi-evaluation-card article[data-evaluation='{created['id']}']")
    card.wait_for()
    # One waiting evaluation is open; the others wait closed under it, each saying how to acknowledge it.
    opened = page.locator("kpi-evaluation-card article details[open]:not(.numbers)")
    opened.first.wait_for()
    assert opened.count() == 1
    assert page.locator("kpi-evaluation-card [data-read-first]").count() == len(waiting) - 1
    assert f"{len(waiting)} evaluations wait for you" in page.locator("[data-waiting-count]").inner_text()
    if card.locator("[data-read-first]").count():
        card.get_by_text("Read the evaluation", exact=True).click()
    safety = card.locator("[data-answer='quality.safety']")
    safety.wait_for()

    # Every question of the form it was made on, its answer in words, and the score, before the button.
    assert card.locator("[data-answer]").count() == len(form["fields"])
    assert "Safety" in safety.inner_text() and "2 out of 5" in safety.inner_text()
    assert "1 = Unsafe, 5 = Safe every time" in safety.inner_text()
    assert card.locator(".summary .score").get_attribute("data-score") == str(created["score"])
    assert re.search(r"\d+\.\d\b", card.locator(".summary .score").inner_text())  # rounded for reading
    no_horizontal_scroll(page)
    screenshot("technician-evaluation-phone")

    card.get_by_label("Your comment (optional)").fill("Read it; I will wear the harness.")
    card.get_by_role("button", name="Acknowledge").click()

    card.get_by_text("Read it; I will wear the harness.").wait_for()
    stored = server.get(f"/api/v1/evaluations/{created['id']}", manager)
    assert (stored["status"], stored["technician_comment"]) == ("acknowledged", "Read it; I will wear the harness.")


# --- targets typed as they are shown ------------------------------------------------------------


def test_a_rate_target_typed_as_90_is_stored_as_90_percent(login, page, server, screenshot):
    admin = server.token("admin")
    weight = next(t for t in server.get("/api/v1/targets", admin) if t["metric_key"] == "quality.first_time_fix_rate")[
        "company"
    ]["weight"]
    login("admin")
    page.goto("/admin/targets")
    row = page.locator("tr[data-target='quality.first_time_fix_rate']")
    row.wait_for()

    row.get_by_label("Green for First-time fix rate, in per cent").fill("90")
    row.get_by_label("Amber for First-time fix rate, in per cent").fill("80")
    row.get_by_role("button", name="Save").click()
    row.get_by_role("status").filter(has_text="Saved").wait_for()

    stored = next(t for t in server.get("/api/v1/targets", admin) if t["metric_key"] == "quality.first_time_fix_rate")
    assert (stored["company"]["green"], stored["company"]["amber"], stored["company"]["weight"]) == (0.9, 0.8, weight)
    assert row.get_by_label("Green for First-time fix rate, in per cent").input_value() == "90"
    screenshot("admin-targets")


def test_a_rate_target_out_of_range_is_refused_on_its_row(login, page, server, screenshot):
    admin = server.token("admin")
    before = server.get("/api/v1/targets", admin)
    login("admin")
    page.set_viewport_size(PHONE)
    page.goto("/admin/targets")
    row = page.locator("tr[data-target='timeliness.on_time_arrival_rate']")
    row.wait_for()

    row.get_by_label("Green for On-time arrival rate, in per cent").fill("150")
    row.get_by_role("button", name="Save").click()

    error = row.locator(".field-error")
    error.wait_for()
    assert error.inner_text().endswith("Enter a green threshold between 0 % and 100 %")
    assert server.get("/api/v1/targets", admin) == before
    no_horizontal_scroll(page)
    row.scroll_into_view_if_needed()
    screenshot("admin-target-error-phone", full_page=False)


# --- scope ----------------------------------------------------------------------------------


def test_a_managers_filters_list_only_their_teams(login, page, server):
    login("manager")
    page.goto("/dashboard")
    team = page.locator("select#team")
    team.locator("option").nth(1).wait_for(state="attached")

    offered = [text for text in team.locator("option").all_inner_texts() if text != "All teams"]
    assert offered == [server.people.managed_team]

    page.goto("/reports")
    teams = page.locator("select#r-team option")
    teams.first.wait_for(state="attached")
    assert teams.all_inner_texts() == [server.people.managed_team]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_technician_is_not_offered_reports_and_is_told_so_at_the_address(login, page, size, screenshot):
    login("tech")
    page.set_viewport_size(size)
    nav = page.get_by_role("navigation", name="Main")
    assert "Reports" not in nav.get_by_role("link").all_inner_texts()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    page.goto("/reports")

    page.get_by_role("heading", name="Not available").wait_for()
    assert "not available to your role" in page.locator("main").inner_text()
    assert page.locator("main form").count() == 0
    assert not [url for url in asked if "/api/v1/reports" in url or "/api/v1/schedules" in url]
    screenshot(f"technician-reports-{'phone' if size is PHONE else 'desktop'}")


def test_a_technicians_scorecard_ranks_them_among_their_team_and_the_company(login, page, server, screenshot):
    login("tech")
    page.set_viewport_size(PHONE)
    # The first period's scorecard has arrived, so the answer caught below is the chosen period's
    # (the page's own query, at its own moment), not the first one still on its way.
    page.locator("[data-rank='Company rank']").wait_for()
    with page.expect_response(lambda response: "/api/v1/scorecards?" in response.url) as answer:
        page.get_by_label("Period", exact=True).select_option(label="Last 3 months")
    page.wait_for_url(re.compile(r"start="))
    page.locator("[data-rank='Company rank']").wait_for()

    me = server.people.technician_id
    [row] = [card for card in answer.value.json()["technicians"] if card["technician_id"] == me]
    company = page.locator("[data-rank='Company rank']").inner_text()
    assert row["peers"]["company"]["of"] > 1
    assert company.endswith(f"of {row['peers']['company']['of']}") or "not ranked" in company
    assert "1 of 1" not in company
    # Beside each KPI: the team's value and the target; KPIs of weight 0 are left out of the table.
    scored = [part for part in row["contributions"] if part["weight"] > 0]
    assert page.locator(".score-table tbody tr").count() == len(scored)
    assert page.locator(".score-table thead th").all_inner_texts()[:4] == ["KPI", "Yours", "Team", "Target"]
    no_horizontal_scroll(page)
    screenshot("technician-scorecard-phone")


def test_the_trend_table_colours_each_value_by_its_status(login, page):
    login("tech")
    cell = page.locator("table.kpi-values td.cell.status-red a, table.kpi-values td.cell.status-green a").first
    cell.wait_for()

    colour = cell.evaluate("a => getComputedStyle(a).color")
    link = page.locator("table.kpi-values td.cell.status-none a").first
    assert colour != (link.evaluate("a => getComputedStyle(a).color") if link.count() else "rgb(29, 78, 216)")
    assert re.search(r"(on|close to|off) target", cell.inner_text())


# --- leaderboards ---------------------------------------------------------------------------


def test_each_leaderboard_ranks_by_the_kpi_it_is_about(login, page, server):
    login("admin")
    board = page.locator("[data-widget='productivity.jobs_per_day_leaderboard']")
    board.locator("tbody tr[data-rank]").first.wait_for()

    kpi = "productivity.jobs_per_working_day"
    ranked = board.locator("tbody tr[data-rank]:not([data-rank=''])")
    values = [
        float(v)
        for v in ranked.locator(f"td[data-kpi='{kpi}']").evaluate_all("cells => cells.map(c => c.dataset.value)")
    ]
    ranks = [int(r) for r in ranked.evaluate_all("rows => rows.map(r => r.dataset.rank)")]
    assert len(values) > 2
    assert values == sorted(values, reverse=True)  # more jobs a day is better
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert "Ranked by Completed jobs per working day" in board.inner_text()
    quality = page.locator("[data-widget='quality.leaderboard'] tbody tr[data-rank]:not([data-rank=''])")
    quality_order = quality.evaluate_all("rows => rows.map(r => r.dataset.technician)")
    jobs_order = ranked.evaluate_all("rows => rows.map(r => r.dataset.technician)")
    assert quality_order != jobs_order  # no longer a copy of the quality leaderboard
