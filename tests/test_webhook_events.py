"""Events reach the outbox from the code that makes them (issue #20, point 3), in the same transaction:
a finished report, a committed import (never a dry run or a refused file), a submitted evaluation. Each
event is queued once per endpoint that asked for it, however often its code runs."""

from __future__ import annotations

from sqlalchemy import select

from kpi_core.audit.trail import Actor
from kpi_core.notify import webhooks
from kpi_core.reports.job import store_file
from kpi_core.storage.models import NotificationMessage, ReportRun, Team, Technician

CSV_ROWS = (
    "external_ref,technician_ref,category,status,scheduled_start,completed_at\n"
    "E1,T1,plumbing,completed,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z\n"
)


def endpoint(database, *events: str) -> int:
    with database.session() as session:
        data = {"name": "Ops", "url": "http://127.0.0.1:9/never", "events": list(events), "secret": "s" * 20}
        return webhooks.create_endpoint(session, Actor.system("test"), data, allow_private=True)[0].id


def queued(database) -> list[NotificationMessage]:
    with database.session(write=False) as session:
        found = list(session.scalars(select(NotificationMessage).order_by(NotificationMessage.id)))
        session.expunge_all()
        return found


def test_a_finished_report_is_queued_once_even_when_its_job_is_retried(database):
    endpoint(database, "report.finished")
    with database.session() as session:
        run = ReportRun(format="csv", title="May KPIs", spec={}, status="running")
        session.add(run)
        session.flush()
        run_id = run.id

    store_file(database.engine, run_id, "may-kpis.csv", "text/csv", b"a,b\n")
    store_file(database.engine, run_id, "may-kpis.csv", "text/csv", b"a,b\n")  # a retried attempt

    (message,) = queued(database)
    assert (message.channel, message.event, message.status) == ("webhook", "report.finished", "queued")
    assert message.payload["data"]["report_run_id"] == run_id
    assert message.payload["data"]["download"] == f"/api/v1/reports/{run_id}/download"
    assert message.subject == 'The report "May KPIs" is ready: may-kpis.csv.'


def test_an_import_is_an_event_but_a_dry_run_or_a_refused_file_is_not(client, admin_headers, database):
    endpoint(database, "import.finished")
    with database.session() as session:
        team = Team(name="North")
        session.add(team)
        session.flush()
        session.add(Technician(external_ref="T1", name="Tess", team_id=team.id))
    send = {"headers": {**admin_headers, "Content-Type": "text/csv"}}

    dry = client.post("/api/v1/imports/jobs", data=CSV_ROWS, query_string={"dry_run": "true"}, **send)
    refused = client.post("/api/v1/imports/jobs", data=CSV_ROWS.replace("completed,", "finished,"), **send)
    done = client.post("/api/v1/imports/jobs", data=CSV_ROWS, **send)

    assert (dry.status_code, refused.status_code, done.status_code) == (200, 422, 200)
    (message,) = queued(database)
    assert message.event == "import.finished"
    assert {key: message.payload["data"][key] for key in ("kind", "rows", "created")} == {
        "kind": "jobs",
        "rows": 1,
        "created": 1,
    }


def test_an_endpoint_turned_off_gets_no_events(database):
    endpoint_id = endpoint(database, "report.finished")
    with database.session() as session:
        webhooks.update_endpoint(
            session, Actor.system("test"), webhooks.get_endpoint(session, endpoint_id), {"enabled": False},
            allow_private=True,
        )  # fmt: skip
        assert webhooks.emit_event(session, "report.finished", {}, event_id="r:1", summary="Ready") == []
