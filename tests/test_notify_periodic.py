"""Weekly scorecards and team digests (issue #20, point 4), delivered to a real SMTP server on loopback and
read back with the standard ``email`` package: each technician's message holds their numbers and no one
else's (every message to every recipient is parsed), both parts and the one-click unsubscribe; the
unsubscribe link turns the scorecard off; a manager's digest holds their teams only; a run repeated sends
nothing twice; the jobs run on demand through ``POST /api/v1/job-runs`` like any job."""

from __future__ import annotations

import subprocess
import time as clock
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kpi_core.audit.trail import Actor
from kpi_core.jobs.context import JobContext
from kpi_core.notify import periodic, preferences
from kpi_core.storage.models import Feedback, Job, NotificationMessage, ReportRun, Team, Technician, User
from kpi_core.testing.mail import smtp_server
from kpi_core.web.jobs_runs_api import RUNNER_KEY

MONDAY = date(2026, 4, 13)
AFTER_THE_WEEK = "2026-04-20T07:30:00+00:00"
"""Monday 20 April, half an hour after the default schedule (Monday 7:00): the week of 13-19 April is due."""
PEOPLE = {
    # name: (ref, team, e-mail, ratings this week, ratings the week before)
    "Ana Flores": ("T-A", "North", "ana@example.com", [5, 5, 5, 5, 4], [4, 4, 4]),
    "Bo Chan": ("T-B", "North", "bo@example.com", [3, 3, 4, 3, 3], [5, 5]),
    "Cy Diaz": ("T-C", "South", "cy@example.com", [2, 3, 2, 3], [1, 1, 1]),
}
RATING_WORDS = {"Ana Flores": "4.8 stars", "Bo Chan": "3.2 stars", "Cy Diaz": "2.5 stars"}
"""Each technician's average rating of the week, as the messages write it: nobody else's message has it."""


@pytest.fixture
def smtp():
    with smtp_server() as (recorder, port):
        yield recorder, port


@pytest.fixture
def settings(settings, smtp):
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{smtp[1]}",
        mail_from="Handyman KPI <kpi@example.com>",
        public_url="https://kpi.example.com",
        status_min_sample=3,
    )


@pytest.fixture
def people(database, make_user) -> dict[str, int]:
    """Three technicians with users (Ana and Bo in North, Cy in South), a manager of each team, an admin;
    each technician's jobs of the week and the week before, all rated."""
    refs = iter(range(1, 1000))
    with database.session() as session:
        teams = {name: Team(name=name) for name in ("North", "South")}
        session.add_all(teams.values())
        session.flush()
        for name, (ref, team, email, now, before) in PEOPLE.items():
            technician = Technician(external_ref=ref, name=name, email=email, team_id=teams[team].id)
            session.add(technician)
            session.flush()
            for start, ratings in ((MONDAY, now), (MONDAY - timedelta(days=7), before)):
                for day, rating in enumerate(ratings):
                    done = datetime.combine(start + timedelta(days=day), time(14), UTC)
                    job = Job(
                        external_ref=f"J{next(refs)}",
                        technician_id=technician.id,
                        category="plumbing",
                        status="completed",
                        scheduled_start=done - timedelta(hours=2),
                        completed_at=done,
                    )
                    session.add(job)
                    session.flush()
                    session.add(Feedback(job_id=job.id, rating=rating, received_at=done))
    users = {name: make_user("technician", username=name.split()[0].lower(), technician_ref=ref)
             for name, (ref, *_rest) in PEOPLE.items()}  # fmt: skip
    users["mona"] = make_user("manager", username="mona", teams=("North",))
    users["sam"] = make_user("manager", username="sam", teams=("South",))
    return users


def run_job(database, settings, plugins, job, now: str = AFTER_THE_WEEK) -> dict:
    return job(JobContext(engine=database.engine, settings=settings, plugins=plugins), now=now)


def set_email(database, user_id: int, address: str) -> None:
    from kpi_core.storage.models import User

    with database.session() as session:
        session.get(User, user_id).email = address


def received(recorder) -> dict[str, list[EmailMessage]]:
    """Every message the server accepted, parsed, by recipient."""
    by_recipient: dict[str, list[EmailMessage]] = {}
    for message in recorder.messages:
        for recipient in message.rcpt_tos:
            by_recipient.setdefault(recipient, []).append(message.parsed())
    return by_recipient


def both_parts(mail: EmailMessage) -> tuple[str, str]:
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


def test_each_technician_gets_their_own_weekly_scorecard_and_nobody_elses_numbers(
    database, settings, plugins, people, smtp
):
    recorder, _port = smtp

    result = run_job(database, settings, plugins, periodic.weekly_scorecards)

    assert result["queued"] == 3 and result["delivery"]["sent"] == 3, result
    by_recipient = received(recorder)
    assert sorted(by_recipient) == ["ana@example.com", "bo@example.com", "cy@example.com"]
    for name, (_ref, _team, email, *_ratings) in PEOPLE.items():
        (mail,) = by_recipient[email]
        text, html = both_parts(mail)
        assert mail["Subject"] == "Your week: 13\u201319 April 2026"
        assert f"Hello {name.split()[0]}," in text
        assert f"Average customer rating: {RATING_WORDS[name]}" in text, text
        assert RATING_WORDS[name] in html
        for other, words in RATING_WORDS.items():
            if other != name:
                for part in (text, html, mail["Subject"]):
                    assert other not in part and other.split()[0] not in part, f"{other} in {name}'s message"
                    assert words not in part, f"{other}'s rating in {name}'s message"


def test_a_scorecard_compares_with_the_week_before_and_marks_provisional_values(
    database, settings, plugins, people, smtp
):
    recorder, _port = smtp

    run_job(database, settings, plugins, periodic.weekly_scorecards)

    (mail,) = received(recorder)["ana@example.com"]
    text, html = both_parts(mail)
    assert "compared with the week before" in text
    assert "Average customer rating: 4.8 stars, on target. The week before: 4.0 stars (up 0.8 stars, better)." in text
    # First-time fixes of last week are still inside their 30-day callback window.
    assert "First-time fix rate: no value\u00b9" in text
    assert "\u00b9 No value yet: the outcome of 5 jobs is not known yet, so they are not counted" in text
    assert "callback window still open" in text
    assert "<table" in html and 'style="' in html and "<style" not in html and "<img" not in html
    assert "https://kpi.example.com/technicians/" in text


def test_a_scorecard_carries_the_one_click_unsubscribe_which_turns_it_off(
    database, settings, plugins, people, smtp, client
):
    recorder, _port = smtp
    run_job(database, settings, plugins, periodic.weekly_scorecards)
    (mail,) = received(recorder)["ana@example.com"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = urlsplit(mail["List-Unsubscribe"].strip("<>"))
    assert link.netloc == "kpi.example.com"

    answer = client.post(f"{link.path}?{link.query}", data="List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded")  # fmt: skip
    recorder.messages.clear()
    result = run_job(database, settings, plugins, periodic.weekly_scorecards, now="2026-04-27T07:30:00+00:00")

    assert answer.status_code == 200 and answer.json["enabled"] is False
    assert result["turned_off"] == 1 and result["queued"] == 2
    assert sorted(received(recorder)) == ["bo@example.com", "cy@example.com"]


def test_running_the_job_again_sends_nothing_twice(database, settings, plugins, people, smtp):
    recorder, _port = smtp
    run_job(database, settings, plugins, periodic.weekly_scorecards)

    again = run_job(database, settings, plugins, periodic.weekly_scorecards, now="2026-04-20T09:00:00+00:00")

    assert again["queued"] == 0 and again["already_queued"] == 3
    assert len(recorder.messages) == 3
    with database.session(write=False) as session:
        keys = sorted(session.scalars(select(NotificationMessage.idempotency_key)))
    assert keys == [f"weekly_scorecard:{people[name]}:2026-04-13" for name in sorted(PEOPLE, key=people.get)]


def test_before_the_chosen_time_the_week_before_is_the_one_due(database, settings, plugins, people, smtp):
    """At 6:30 on Monday the 7:00 occurrence has not come: the latest is a week earlier, reporting 6-12 April."""
    recorder, _port = smtp

    run_job(database, settings, plugins, periodic.weekly_scorecards, now="2026-04-20T06:30:00+00:00")

    assert {mail["Subject"] for mails in received(recorder).values() for mail in mails} == {
        "Your week: 6\u201312 April 2026"
    }


def test_a_scorecard_chosen_for_friday_afternoon_reports_the_week_so_far(
    database, settings, plugins, people, smtp, client, login
):
    recorder, _port = smtp
    headers = login("ana")
    chosen = client.put(
        "/api/v1/notifications/subscriptions",
        json={"subscriptions": [{"kind": "weekly_scorecard", "enabled": True, "schedule": "0 16 * * 5"}]},
        headers=headers,
    )
    assert chosen.status_code == 200, chosen.json

    run_job(database, settings, plugins, periodic.weekly_scorecards, now="2026-04-17T16:05:00+00:00")

    (mail,) = received(recorder)["ana@example.com"]
    text, _html = both_parts(mail)
    assert mail["Subject"] == "Your week so far: 13\u201317 April 2026 so far"
    assert "compared with the same days of the week before" in text
    assert "This week so far" in _html


def test_nobody_without_an_address_is_sent_anything(database, settings, plugins, people, smtp):
    with database.session() as session:
        session.scalar(select(Technician).where(Technician.external_ref == "T-C")).email = None

    result = run_job(database, settings, plugins, periodic.weekly_scorecards)

    assert result["no_address"] == 1 and result["queued"] == 2


def test_a_managers_digest_holds_their_teams_only(database, settings, plugins, people, smtp):
    recorder, _port = smtp
    set_email(database, people["mona"], "mona@example.com")
    set_email(database, people["sam"], "sam@example.com")

    result = run_job(database, settings, plugins, periodic.team_digests)

    assert result["queued"] == 2, result
    by_recipient = received(recorder)
    (north,) = by_recipient["mona@example.com"]
    (south,) = by_recipient["sam@example.com"]
    north_text, north_html = both_parts(north)
    south_text, south_html = both_parts(south)
    assert north["Subject"] == "North team: the week of 13\u201319 April 2026"
    for part in (north_text, north_html):
        assert "Ana Flores" in part and "Bo Chan" in part
        assert "Cy Diaz" not in part and "South" not in part and "2.5 stars" not in part
    assert "Average customer rating: 4.0 stars" in north_text, "North's pooled rating: 20 stars over 10 jobs"
    for part in (south_text, south_html):
        assert "Cy Diaz" in part and "2.5 stars" in part
        assert "Ana Flores" not in part and "Bo Chan" not in part and "North" not in part


def test_a_manager_without_teams_or_an_address_gets_no_digest(database, settings, plugins, people, make_user, smtp):
    lone = make_user("manager", username="lee")
    set_email(database, lone, "lee@example.com")

    result = run_job(database, settings, plugins, periodic.team_digests)

    assert result == result | {"queued": 0, "no_address": 2, "nothing_to_report": 1}


def test_the_admins_monthly_summary_covers_the_company_and_each_team(
    database, settings, plugins, people, make_user, smtp
):
    recorder, _port = smtp
    boss = make_user("admin", username="boss")
    set_email(database, boss, "boss@example.com")

    run_job(database, settings, plugins, periodic.company_summary, now="2026-05-01T07:10:00+00:00")

    (mail,) = received(recorder)["boss@example.com"]
    text, _html = both_parts(mail)
    assert mail["Subject"] == "The company's month: April 2026"
    assert "The company" in text and "North team" in text and "South team" in text
    assert "compared with the month before" in text


def test_the_weekly_scorecards_run_on_demand_through_the_job_runs_api(client, admin_headers, app, people, smtp):
    recorder, _port = smtp
    runner = app.extensions[RUNNER_KEY]

    response = client.post(
        "/api/v1/job-runs",
        json={"job_key": "notify.weekly_scorecards", "params": {"now": AFTER_THE_WEEK}},
        headers=admin_headers,
    )

    assert response.status_code == 202, response.json
    deadline = clock.monotonic() + 30
    while runner.get_run(response.json["id"]).status not in ("finished", "failed") and clock.monotonic() < deadline:
        clock.sleep(0.05)
    run = runner.get_run(response.json["id"])
    runner.shutdown(wait=True)
    assert run.status == "finished", run.error
    assert run.result["queued"] == 3 and len(recorder.messages) == 3


def test_the_jobs_are_declared_with_their_hourly_schedules(plugins):
    jobs = plugins.jobs

    for key in ("notify.weekly_scorecards", "notify.team_digests", "notify.company_summary", "notify.alerts"):
        assert jobs[key].schedule is not None and plugins.owner_of("kpi_jobs", key) == "notify"


@pytest.mark.parametrize(
    ("occurrence", "now", "expected"),
    [
        ("2026-04-20T07:00", "2026-04-20T07:30", ("2026-04-13", "2026-04-20", True)),
        ("2026-04-17T16:00", "2026-04-17T16:30", ("2026-04-13", "2026-04-18", False)),
        ("2026-04-19T18:00", "2026-04-19T19:00", ("2026-04-13", "2026-04-20", False)),
    ],
)
def test_a_schedule_reports_the_week_holding_the_day_before_it(occurrence, now, expected):
    zone = ZoneInfo("UTC")
    at = datetime.fromisoformat(occurrence).replace(tzinfo=UTC)

    window = preferences.window_at(at, "week", datetime.fromisoformat(now).replace(tzinfo=UTC), zone)

    assert (window.start.isoformat(), window.end.isoformat(), window.complete) == expected


# --- the PDF a subscription asks for ------------------------------------------------------------


def pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "attached.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_a_scorecard_asked_with_its_pdf_carries_the_technicians_own_report(
    database, settings, plugins, people, smtp, tmp_path
):
    recorder, _port = smtp
    with database.session() as session:
        ana = session.get(User, people["Ana Flores"])
        wanted = [{"kind": "weekly_scorecard", "enabled": True, "attach_pdf": True}]
        preferences.save_choices(session, ana, Actor.system("test"), wanted, channels=plugins.notification_channels)

    result = run_job(database, settings, plugins, periodic.weekly_scorecards)

    assert result["delivery"]["sent"] == 3, result
    by_recipient = received(recorder)
    (mail,) = by_recipient["ana@example.com"]
    assert mail.get_content_type() == "multipart/mixed"
    body = mail.get_body(("plain",)).get_content()
    assert "Average customer rating: 4.8 stars" in body
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename().endswith(".pdf")
    text = pdf_text(attachment.get_content(), tmp_path)
    assert "Ana Flores" in text
    assert "Bo Chan" not in text and "Cy Diaz" not in text  # rendered with Ana's own scope
    # The others asked for no PDF: their messages are as before.
    for email in ("bo@example.com", "cy@example.com"):
        (other,) = by_recipient[email]
        assert other.get_content_type() == "multipart/alternative" and not list(other.iter_attachments())
    # The report is Ana's: in her reports, made by the run that sent it.
    with database.session(write=False) as session:
        reports = session.scalars(select(ReportRun)).all()
    assert [(run.requested_by_id, run.format, run.status) for run in reports] == [
        (people["Ana Flores"], "pdf", "finished")
    ]
