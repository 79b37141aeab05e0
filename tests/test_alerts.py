"""Alerts (issue #20, point 5): rules per KPI set by admins or shipped by plugins, evaluated by the
``notify.alerts`` job; an alert is raised once per rule, technician and period (never again for the same
period), sent by e-mail to the technician's managers (a real SMTP server on loopback), emitted as the
``alert.raised`` webhook event, and listed with a link to the jobs behind it."""

from __future__ import annotations

import re
import time
import types
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from kpi_core.audit.trail import Actor
from kpi_core.jobs.context import JobContext
from kpi_core.notify import alerts, webhooks
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import Alert, AlertRule, Feedback, Job, JobRun, NotificationMessage, Team, Technician, User
from kpi_core.testing.mail import smtp_server
from kpi_core.web.jobs_runs_api import RUNNER_KEY

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
COMPLAINTS = "quality.complaint_rate"
APRIL = "2026-04-02T09:00:00+00:00"
"""February and March 2026 are the last two complete months."""
MAY = "2026-05-04T09:00:00+00:00"


@pytest.fixture
def smtp():
    with smtp_server() as (recorder, port):
        yield recorder, port


@pytest.fixture
def settings(settings, smtp):
    return replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp[1]}", public_url="https://kpi.example.com")


def rated_jobs(session, technician: Technician, month: date, complaints: int, total: int = 30) -> None:
    """``total`` completed, rated jobs in ``month``; ``complaints`` of them rated 1 star, the rest 5."""
    for index in range(total):
        done = datetime(month.year, month.month, 1 + index % 27, 15, tzinfo=UTC)
        job = Job(
            external_ref=f"{technician.external_ref}-{month:%Y%m}-{index}",
            technician_id=technician.id,
            category="plumbing",
            status="completed",
            scheduled_start=done - timedelta(hours=2),
            completed_at=done,
        )
        session.add(job)
        session.flush()
        session.add(Feedback(job_id=job.id, rating=1 if index < complaints else 5, received_at=done))


@pytest.fixture
def shop(database, make_user) -> dict[str, int]:
    """North: Ana (complaints on half her jobs in February and March: clearly red) and Bo (one in 30);
    South: Cy. Mona manages North (mona@example.com), Sam South; an admin without an address."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        people = {
            "Ana": Technician(external_ref="T-A", name="Ana Flores", team_id=north.id),
            "Bo": Technician(external_ref="T-B", name="Bo Chan", team_id=north.id),
            "Cy": Technician(external_ref="T-C", name="Cy Diaz", team_id=south.id),
        }
        session.add_all(people.values())
        session.flush()
        for month in (date(2026, 2, 1), date(2026, 3, 1)):
            rated_jobs(session, people["Ana"], month, complaints=15)
            rated_jobs(session, people["Bo"], month, complaints=1)
            rated_jobs(session, people["Cy"], month, complaints=1)
        ids = {name: technician.id for name, technician in people.items()}
    ids["mona"] = make_user("manager", username="mona", teams=("North",))
    ids["sam"] = make_user("manager", username="sam", teams=("South",))
    ids["boss"] = make_user("admin", username="boss")
    with database.session() as session:
        session.get(User, ids["mona"]).email = "mona@example.com"
        session.get(User, ids["sam"]).email = "sam@example.com"
    return ids


def add_rule(database, plugins, **fields) -> int:
    from kpi_core.notify.alert_rules import create_rule

    with database.session() as session:
        rule = create_rule(session, plugins, Actor.system("test"), {"kpi": COMPLAINTS, "period": "month", **fields})
        session.flush()
        return rule.id


def evaluate(database, settings, plugins, now: str = APRIL) -> dict:
    return alerts.evaluate_alerts(JobContext(engine=database.engine, settings=settings, plugins=plugins), now=now)


def stored_alerts(database) -> list[Alert]:
    with database.session(write=False) as session:
        found = list(session.scalars(select(Alert).order_by(Alert.id)))
        session.expunge_all()
        return found


def test_an_alert_is_raised_once_after_two_clearly_red_months_and_never_again_for_that_month(
    database, settings, plugins, shop, smtp
):
    recorder, _port = smtp
    rule_id = add_rule(database, plugins, kind="clearly_red", periods=2)

    first = evaluate(database, settings, plugins)
    again = evaluate(database, settings, plugins, now="2026-04-20T09:00:00+00:00")

    (alert,) = [alert for alert in stored_alerts(database) if alert.rule_id == rule_id]
    assert (alert.technician_id, alert.period_key, alert.period_start) == (shop["Ana"], "2026-03-01", date(2026, 3, 1))
    assert alert.summary == "Ana Flores: Complaint rate clearly off target for 2 months in a row (50 % in March 2026)."
    assert first["raised"] == 1 and again["raised"] == 0
    (mail,) = [message.parsed() for message in recorder.messages]
    assert [message.rcpt_tos for message in recorder.messages] == [["mona@example.com"]], "North's manager only"
    assert mail["Subject"] == f"Alert: {alert.summary}"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()
    assert "February 2026: 50 %, on 30 jobs." in text and "March 2026: 50 %, on 30 jobs." in text
    link = re.search(r"See the jobs behind it: (\S+)", text).group(1)
    assert link.startswith("https://kpi.example.com/jobs/behind?")
    params = {key: value[0] for key, value in parse_qs(urlsplit(link).query).items()}
    assert params | {"kpi": COMPLAINTS, "group_by": "technician", "group_id": str(shop["Ana"])} == params
    assert (params["period"], params["period_start"], params["start"], params["end"]) == (
        "month", "2026-03-01", "2026-03-01", "2026-04-01",
    )  # fmt: skip


def test_a_third_clearly_red_month_is_a_new_period_and_a_new_alert(database, settings, plugins, shop, smtp):
    add_rule(database, plugins, kind="clearly_red", periods=2)
    evaluate(database, settings, plugins)
    with database.session() as session:
        rated_jobs(session, session.get(Technician, shop["Ana"]), date(2026, 4, 1), complaints=15)

    evaluate(database, settings, plugins, now=MAY)

    keys = [alert.period_key for alert in stored_alerts(database) if alert.kind == "clearly_red"]
    assert keys == ["2026-03-01", "2026-04-01"]


def test_one_red_month_is_not_enough_for_a_two_month_rule(database, settings, plugins, shop, smtp):
    """In May the last two complete months are March and April: Bo is red in April only, and Ana has no
    April (her red February and March are no longer the last two)."""
    add_rule(database, plugins, kind="clearly_red", periods=2)
    with database.session() as session:
        rated_jobs(session, session.get(Technician, shop["Bo"]), date(2026, 4, 1), complaints=15)

    evaluate(database, settings, plugins, now=MAY)

    assert stored_alerts(database) == []


def test_a_change_for_the_worse_beyond_the_threshold_raises_an_alert(database, settings, plugins, shop, smtp):
    recorder, _port = smtp
    add_rule(database, plugins, kind="changed", threshold=0.2, direction="worse")
    with database.session() as session:
        rated_jobs(session, session.get(Technician, shop["Cy"]), date(2026, 4, 1), complaints=12)

    evaluate(database, settings, plugins, now=MAY)

    (alert,) = [alert for alert in stored_alerts(database) if alert.kind == "changed"]
    assert alert.technician_id == shop["Cy"] and alert.period_key == "2026-04-01"
    assert alert.summary == (
        "Cy Diaz: Complaint rate went up by 37 points in April 2026, for the worse (from 3 % to 40 %)."
    )
    assert [message.rcpt_tos for message in recorder.messages] == [["sam@example.com"]]


def test_a_disputed_callback_raises_an_alert_for_the_original_jobs_technician(
    database, settings, plugins, shop, smtp, client, login
):
    recorder, _port = smtp
    evaluate(database, settings, plugins, now=datetime.now(UTC).isoformat())  # stores the plugins' rules
    with database.session() as session:
        original = session.scalar(select(Job).where(Job.external_ref == "T-B-202603-5"))
        back = original.completed_at + timedelta(days=3)
        callback = Job(
            external_ref="CB-1",
            technician_id=shop["Bo"],
            category="plumbing",
            status="completed",
            scheduled_start=back,
            completed_at=back + timedelta(hours=1),
            callback_of_id=original.id,
        )
        session.add(callback)
        session.flush()
        callback_id, original_id = callback.id, original.id
    body = {"reason": "customer_damage"}
    opened = client.post(f"/api/v1/jobs/{callback_id}/disputes", json=body, headers=login("mona"))
    assert opened.status_code == 201, opened.json

    evaluate(database, settings, plugins, now=datetime.now(UTC).isoformat())

    (alert,) = [alert for alert in stored_alerts(database) if alert.kind == "callback_disputed"]
    assert alert.technician_id == shop["Bo"] and alert.period_key == f"dispute:{opened.json['id']}"
    assert alert.summary.startswith("Bo Chan: callback CB-1 of job T-B-202603-5 was disputed (the customer")
    assert alerts.jobs_path(alert) == f"/jobs/{original_id}"
    assert any(message.rcpt_tos == ["mona@example.com"] for message in recorder.messages)


def test_an_alert_is_the_alert_raised_webhook_event(database, settings, plugins, shop, smtp):
    with database.session() as session:
        data = {"name": "Ops", "url": "http://127.0.0.1:9/hook", "events": ["alert.raised"], "secret": "s" * 20}
        webhooks.create_endpoint(session, Actor.system("test"), data, allow_private=True)
    add_rule(database, plugins, kind="clearly_red", periods=2)

    evaluate(database, settings, plugins)

    with database.session(write=False) as session:
        (event,) = session.scalars(select(NotificationMessage).where(NotificationMessage.event == "alert.raised"))
        payload = event.payload
    assert payload["event"] == "alert.raised" and payload["event_id"].startswith("alert:")
    assert payload["data"]["technician"] == "Ana Flores" and payload["data"]["kpi"] == COMPLAINTS
    assert payload["data"]["jobs"].startswith("https://kpi.example.com/jobs/behind?")


def test_a_manager_who_turned_alerts_off_is_not_told(database, settings, plugins, shop, smtp, client, login):
    recorder, _port = smtp
    off = client.put(
        "/api/v1/notifications/subscriptions",
        json={"subscriptions": [{"kind": "alerts", "enabled": False}]},
        headers=login("mona"),
    )
    assert off.status_code == 200, off.json
    add_rule(database, plugins, kind="clearly_red", periods=2)

    evaluate(database, settings, plugins)

    assert len(stored_alerts(database)) == 1 and recorder.messages == []


def test_alerts_are_listed_for_the_technicians_managers_only_with_the_jobs_behind_them(
    database, settings, plugins, shop, smtp, client, login
):
    add_rule(database, plugins, kind="clearly_red", periods=2)
    evaluate(database, settings, plugins)

    mona = client.get("/api/v1/alerts", headers=login("mona"))
    sam = client.get("/api/v1/alerts", headers=login("sam"))
    admin = client.get("/api/v1/alerts", headers=login("boss"))

    assert mona.status_code == 200 and [item["technician"] for item in mona.json] == ["Ana Flores"]
    assert mona.json[0]["jobs_path"].startswith("/jobs/behind?kpi=quality.complaint_rate&group_by=technician")
    assert sam.json == [] and len(admin.json) == 1


def test_technicians_do_not_read_alerts_and_managers_do_not_set_rules(client, make_user, login, shop):
    make_user("technician", username="ana", technician_ref="T-A")

    listed = client.get("/api/v1/alerts", headers=login("ana"))
    added = client.post("/api/v1/alert-rules", json={"kind": "callback_disputed"}, headers=login("mona"))

    assert (listed.status_code, added.status_code) == (403, 403)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "clearly_red", "kpi": COMPLAINTS}, "period", "weeks or months"),
        ({"kind": "clearly_red", "kpi": "quality.avg_customer_rating", "period": "month"}, "kpi", "an average"),
        ({"kind": "clearly_red", "kpi": "no.such_kpi", "period": "month"}, "kpi", "There is no KPI"),
        ({"kind": "changed", "kpi": COMPLAINTS, "period": "week"}, "threshold", "more than 0"),
        ({"kind": "changed", "kpi": COMPLAINTS, "period": "week", "threshold": 1.5}, "threshold", "100 points"),
        ({"kind": "clearly_red", "kpi": COMPLAINTS, "period": "month", "periods": 40}, "periods", "1 to 24"),
        ({"kind": "sometimes"}, "kind", "what the alert is about"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(client, admin_headers, body, field, words):
    response = client.post("/api/v1/alert-rules", json=body, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert words in response.json["errors"]["json"][field][0]


def test_admins_add_change_and_remove_rules_in_words(client, admin_headers):
    added = client.post(
        "/api/v1/alert-rules",
        json={"kind": "changed", "kpi": COMPLAINTS, "period": "week", "threshold": 0.1},
        headers=admin_headers,
    )
    rule_id = added.json["id"]
    changed = client.patch(f"/api/v1/alert-rules/{rule_id}", json={"direction": "either"}, headers=admin_headers)
    removed = client.delete(f"/api/v1/alert-rules/{rule_id}", headers=admin_headers)

    assert added.status_code == 201, added.json
    worse = "Complaint rate changes for the worse by more than 10 points against the week before"
    assert added.json["description"] == worse
    assert added.json["source"] == "admin"
    assert changed.json["description"] == "Complaint rate changes by more than 10 points against the week before"
    assert removed.status_code == 204


def test_the_quality_plugins_rules_are_listed_and_may_be_turned_off_but_not_removed(client, admin_headers):
    rules = client.get("/api/v1/alert-rules", headers=admin_headers).json
    shipped = {rule["description"]: rule for rule in rules if rule["source"] == "kpi_quality"}

    assert set(shipped) == {
        "First-time fix rate clearly off target for 2 months in a row",
        "A callback is disputed (it counts against the First-time fix rate)",
    }
    rule_id = shipped["First-time fix rate clearly off target for 2 months in a row"]["id"]
    removed = client.delete(f"/api/v1/alert-rules/{rule_id}", headers=admin_headers)
    off = client.patch(f"/api/v1/alert-rules/{rule_id}", json={"enabled": False}, headers=admin_headers)
    assert removed.status_code == 422 and "turn it off" in removed.json["errors"]["json"]["id"][0]
    assert off.status_code == 200 and off.json["enabled"] is False


def documented_rules_plugin() -> types.ModuleType:
    """The example of docs/plugins.md, as the module a third party would ship."""
    found = re.search(r"<!-- example: alert rules[^>]*-->\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found, "docs/plugins.md lost its alert rules example"
    module = types.ModuleType("fixture_alert_rules")
    exec(compile(found.group(1), "docs/plugins.md", "exec"), module.__dict__)
    return module


def test_a_third_party_plugins_rules_are_stored_once_and_evaluated(database, settings, shop, smtp):
    plugins = load_plugins(settings, extra=[("acme_rules", documented_rules_plugin())])
    assert not [problem for problem in plugins.problems if problem.name == "acme_rules"]
    assert plugins.owner_of("kpi_alert_rules", "acme.rating_drop") == "acme_rules"

    evaluate(database, settings, plugins)
    evaluate(database, settings, plugins)

    with database.session(write=False) as session:
        keys = sorted(session.scalars(select(AlertRule.declared_key).where(AlertRule.declared_key.like("acme.%"))))
        count = session.scalar(select(func.count()).select_from(AlertRule))
    assert keys == ["acme.complaints_clearly_red", "acme.rating_drop"]
    assert count == 4, "the two of kpi_quality and the two of acme, each once"


def test_an_import_starts_the_alerts_job(client, admin_headers, app, shop, alerts_after_imports, database):
    csv = "external_ref,technician_ref,category,status,scheduled_start,completed_at\n" \
          "E1,T-A,plumbing,completed,2026-03-30T09:00:00Z,2026-03-30T10:00:00Z\n"  # fmt: skip
    runner = app.extensions[RUNNER_KEY]

    done = client.post("/api/v1/imports/jobs", data=csv, headers={**admin_headers, "Content-Type": "text/csv"})

    assert done.status_code == 200, done.json
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with database.session(write=False) as session:
            run = session.scalar(select(JobRun).where(JobRun.job_key == "notify.alerts"))
            if run is not None and run.status in ("finished", "failed"):
                break
        time.sleep(0.05)
    runner.shutdown(wait=True)
    assert run is not None and run.status == "finished", run and run.error
