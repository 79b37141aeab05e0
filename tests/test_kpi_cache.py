"""The KPI result cache: hits, invalidation by imports, edits and targets, scoping, other processes, Redis down."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi_core.audit.trail import Actor
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.kpis import segments, service
from kpi_core.kpis.cache import MemoryCache, RedisCache
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.periods import next_period_start, period_grid
from kpi_core.kpis.query import KpiQuery
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET
from kpi_core.web.app import create_app

VALUES = "/api/v1/kpis/values"
NEW_YORK = ZoneInfo("America/New_York")
MARCH = {"kpi": "quality.avg_customer_rating", "group_by": "technician", "start": "2026-03-01", "end": "2026-04-01"}
APRIL = {**MARCH, "start": "2026-04-01", "end": "2026-05-01"}
COMPLETED = {"kpi": "timeliness.on_budget_rate", "start": "2026-03-01", "end": "2026-05-01"}


def job_rows(*rows: tuple[str, str, str]) -> str:
    """CSV of completed jobs (ref, technician, day) lasting 60 of 90 estimated minutes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_ref", "technician_ref", "category", "status", "started_at", "completed_at"])
    for ref, technician, day in rows:
        writer.writerow([ref, technician, "plumbing", "completed", f"{day}T09:00:00Z", f"{day}T10:00:00Z"])
    return out.getvalue()


def feedback_rows(*rows: tuple[str, int]) -> str:
    return "job_ref,rating,received_at\n" + "".join(f"{ref},{rating},2026-05-01T00:00:00Z\n" for ref, rating in rows)


@pytest.fixture
def settings(settings):
    """One job is enough for a status here: these tests are about the cache, not about small samples."""
    return replace(settings, status_min_sample=1)


@pytest.fixture
def seeded(client, admin_headers) -> None:
    """T1 has a March job rated 4 and an April job rated 2."""
    imported = client.post(
        "/api/v1/imports/jobs?create_technicians=true",
        data=job_rows(("J1", "T1", "2026-03-10"), ("J2", "T1", "2026-04-10")),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.json
    rated = client.post(
        "/api/v1/imports/feedback",
        data=feedback_rows(("J1", 4), ("J2", 2)),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert rated.status_code == 200, rated.json


def ask(client, headers, query) -> tuple[str, list[dict]]:
    response = client.get(VALUES, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.headers["X-KPI-Cache"], response.json


def test_the_second_identical_request_is_a_hit_with_the_same_answer(client, admin_headers, seeded) -> None:
    first = ask(client, admin_headers, MARCH)
    second = ask(client, admin_headers, MARCH)
    assert (first[0], second[0]) == ("miss", "hit")
    assert first[1] == second[1]
    assert [row["value"] for row in second[1]] == [4.0]


def test_an_import_invalidates_the_months_it_touches_only(client, admin_headers, seeded) -> None:
    ask(client, admin_headers, MARCH)
    ask(client, admin_headers, APRIL)
    response = client.post(
        "/api/v1/imports/feedback",
        data=feedback_rows(("J1", 2)),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200
    state, rows = ask(client, admin_headers, MARCH)
    assert (state, [row["value"] for row in rows]) == ("miss", [2.0])
    assert ask(client, admin_headers, APRIL)[0] == "hit"  # April's facts did not change


def test_a_job_import_moving_a_job_invalidates_both_months(client, admin_headers, seeded) -> None:
    ask(client, admin_headers, MARCH)
    ask(client, admin_headers, APRIL)
    client.post(
        "/api/v1/imports/jobs?create_technicians=true",
        data=job_rows(("J1", "T1", "2026-04-20")),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert ask(client, admin_headers, MARCH) == ("miss", [])
    state, rows = ask(client, admin_headers, APRIL)
    assert (state, rows[0]["value"], rows[0]["denominator"]) == ("miss", 3.0, 2.0)


def test_an_edit_through_the_api_invalidates(client, admin_headers, seeded) -> None:
    ask(client, admin_headers, MARCH)
    listed = client.get("/api/v1/feedback", headers=admin_headers).json
    march = next(item for item in listed if item["rating"] == 4)
    current = client.get(f"/api/v1/feedback/{march['id']}", headers=admin_headers)
    changed = client.patch(
        f"/api/v1/feedback/{march['id']}",
        json={"rating": 5},
        headers={**admin_headers, "If-Match": current.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.json
    state, rows = ask(client, admin_headers, MARCH)
    assert (state, rows[0]["value"]) == ("miss", 5.0)


def test_a_target_change_changes_the_status(client, admin_headers, seeded) -> None:
    assert ask(client, admin_headers, MARCH)[1][0]["status"] == "amber"  # 4.0: amber 4.0, green 4.5
    response = client.put(
        "/api/v1/targets/quality.avg_customer_rating",
        json={"green": 3.5, "amber": 3.0, "weight": 2, "valid_from": "2026-03-01"},  # judges March on
        headers=admin_headers,
    )
    assert response.status_code in (200, 201), response.json
    state, rows = ask(client, admin_headers, MARCH)
    assert (state, rows[0]["status"]) == ("miss", "green")


def test_answers_are_kept_per_scope(client, admin_headers, make_user, login, seeded) -> None:
    make_user("technician", username="tom", technician_ref="T1")
    tom = login("tom")
    assert ask(client, tom, MARCH)[0] == "miss"
    assert ask(client, admin_headers, MARCH)[0] == "miss"  # never the technician's answer
    assert ask(client, tom, MARCH)[0] == "hit"


def test_without_a_cache_every_request_computes(settings, database, plugins, make_user, login) -> None:
    app = create_app(replace(settings, cache_ttl=0), database=database, plugins=plugins)
    client = app.test_client()
    make_user("admin", username="root")
    headers = token_for(client, "root")
    assert ask(client, headers, MARCH)[0] == "miss"
    assert ask(client, headers, MARCH)[0] == "miss"


def token_for(client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_memory_cache_is_bounded_and_expires() -> None:
    cache = MemoryCache(max_bytes=10)
    cache.set("a", b"12345", ttl=60)
    cache.set("b", b"12345", ttl=60)
    cache.get("a")  # a is now the most recently used
    cache.set("c", b"12345", ttl=60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"12345", None, b"12345")
    cache.set("d", b"1", ttl=-1)
    assert cache.get("d") is None
    cache.set("huge", b"x" * 11, ttl=60)
    assert cache.get("huge") is None


OTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    from kpi_core.config import Settings
    from kpi_core.web.app import create_app
    app = create_app(Settings.from_env(json.loads(sys.argv[1])))
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"username": "root", "password": "correct-horse-staple-42"})
    headers = {"Authorization": "Bearer " + token.json["access_token"]}
    if sys.argv[2] == "import":
        body = "job_ref,rating,received_at\\nJ1,1,2026-05-01T00:00:00Z\\n"
        answer = client.post("/api/v1/imports/feedback", data=body, headers={**headers, "Content-Type": "text/csv"})
        print(json.dumps({"status": answer.status_code}))
    else:
        answer = client.get("/api/v1/kpis/values", query_string=json.loads(sys.argv[3]), headers=headers)
        print(json.dumps({"cache": answer.headers["X-KPI-Cache"], "rows": answer.json}))
    """
)


def test_redis_shares_answers_and_invalidation_across_processes(
    settings, database, plugins, make_user, redis_url
) -> None:
    app = create_app(replace(settings, redis_url=redis_url), database=database, plugins=plugins)
    client = app.test_client()
    make_user("admin", username="root")
    headers = token_for(client, "root")
    for url, body in (("jobs", job_rows(("J1", "T1", "2026-03-10"))), ("feedback", feedback_rows(("J1", 4)))):
        response = client.post(
            f"/api/v1/imports/{url}?create_technicians={str(url == 'jobs').lower()}",
            data=body,
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.json
    environ = {
        "KPI_DATABASE_URL": settings.database_url,
        "KPI_DATA_DIR": str(settings.data_dir),
        "KPI_STATUS_MIN_SAMPLE": "1",
        "KPI_SECRET_KEY": TEST_SECRET,
        "KPI_REDIS_URL": redis_url,
    }

    def other(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, json.dumps(environ), *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert ask(client, headers, MARCH)[0] == "miss"
    seen = other("values", json.dumps(MARCH))
    assert (seen["cache"], [row["value"] for row in seen["rows"]]) == ("hit", [4.0])  # computed by this process
    assert other("import") == {"status": 200}  # the other process rates J1 1 instead of 4
    expected = {**seen["rows"][0], "value": 1.0, "numerator": 1.0, "status": "red"}
    assert ask(client, headers, MARCH) == ("miss", [expected])


def test_an_unreachable_redis_is_a_miss_never_an_error(database, plugins) -> None:
    cache = RedisCache("redis://127.0.0.1:9/0")
    assert cache.get("anything") is None
    cache.set("anything", b"[]", ttl=60)  # logged, not raised
    query = KpiQuery(start=date(2026, 3, 1), end=date(2026, 4, 1))
    with database.session() as session:
        answer = service.kpi_values(session, plugins, query, zone=ZoneInfo("UTC"), cache=cache)
    assert (answer.cached, answer.rows()) == (False, [])


def test_the_refresh_job_warms_the_dashboard_queries(settings, database, plugins, client, admin_headers) -> None:
    today = datetime.now(settings.zone).date()
    this_month = today.replace(day=1)
    index = this_month.year * 12 + this_month.month - 1 - 12
    dashboard = {
        "group_by": "team",
        "period": "month",
        "start": date(index // 12, index % 12 + 1, 1).isoformat(),
        "end": next_period_start(this_month, "month").isoformat(),
    }
    runner = InProcessRunner(JobEnvironment(settings, database, plugins))
    try:
        run_id = runner.enqueue("core.refresh_kpi_cache", requested_by=Actor.system("test"))
        deadline = time.monotonic() + 120
        while (run := runner.get_run(run_id)).status not in ("finished", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.shutdown()
    assert run.status == "finished", run.error
    # technician, team, company for the whole company, and what the default dashboard asks when opened
    assert (run.result["warmed"], run.progress) == (3 + run.result["default_dashboard"], 100)
    assert ask(client, admin_headers, dashboard)[0] == "hit"


SPRING = {"kpi": "quality.avg_customer_rating", "group_by": "technician", "start": "2026-03-01", "end": "2026-05-01"}


def ask_months(client, headers, query) -> tuple[str, str, list[dict]]:
    response = client.get(VALUES, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.headers["X-KPI-Cache"], response.headers["X-KPI-Months-Computed"], response.json


def test_a_change_to_one_month_recomputes_that_month_only(client, admin_headers, seeded) -> None:
    assert ask_months(client, admin_headers, SPRING)[:2] == ("miss", "2/2")
    assert ask_months(client, admin_headers, SPRING)[:2] == ("hit", "0/2")
    client.post(
        "/api/v1/imports/feedback",
        data=feedback_rows(("J1", 1)),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    state, months, rows = ask_months(client, admin_headers, SPRING)
    assert (state, months) == ("miss", "1/2")  # April's sums came from the cache
    assert [(row["period_start"], row["value"]) for row in rows] == [("2026-03-01", 1.0), ("2026-04-01", 2.0)]


def test_a_target_change_reuses_every_month_of_sums(client, admin_headers, seeded) -> None:
    assert ask_months(client, admin_headers, SPRING)[2][0]["status"] == "amber"
    response = client.put(
        "/api/v1/targets/quality.avg_customer_rating",
        json={"green": 3.5, "amber": 3.0, "weight": 2, "valid_from": "2026-03-01"},  # judges March on
        headers=admin_headers,
    )
    assert response.status_code in (200, 201), response.json
    state, months, rows = ask_months(client, admin_headers, SPRING)
    assert (state, months, [row["status"] for row in rows]) == ("miss", "0/2", ["green", "red"])


def test_weeks_across_a_month_boundary_pool_both_pieces(client, admin_headers) -> None:
    # 2026-03-30 (Monday) to 2026-04-05: one week, two months. A job on each side, rated 4 and 2.
    client.post(
        "/api/v1/imports/jobs?create_technicians=true",
        data=job_rows(("W1", "T1", "2026-03-31"), ("W2", "T1", "2026-04-02")),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    client.post(
        "/api/v1/imports/feedback",
        data=feedback_rows(("W1", 4), ("W2", 2)),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    weekly = {**SPRING, "period": "week", "start": "2026-03-30", "end": "2026-04-06"}
    state, months, rows = ask_months(client, admin_headers, weekly)
    assert (state, months) == ("miss", "2/2")
    assert [(row["period_start"], row["value"], row["denominator"]) for row in rows] == [("2026-03-30", 3.0, 2.0)]
    client.post(
        "/api/v1/imports/feedback",
        data=feedback_rows(("W1", 5)),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    state, months, rows = ask_months(client, admin_headers, weekly)
    assert (state, months) == ("miss", "1/2")  # March's half of the week again, April's from the cache
    assert [(row["period_start"], row["value"], row["denominator"]) for row in rows] == [("2026-03-30", 3.5, 2.0)]


def test_month_sums_over_a_range_starting_mid_month_are_labelled_by_their_month(database, plugins, seeded) -> None:
    """The first bucket of a range from 5 March is labelled 1 March: its piece (5-31 March) is relabelled,
    not passed on as a bucket of its own although no month bound cut it."""
    query = KpiQuery(
        start=date(2026, 3, 5), end=date(2026, 5, 1), kpis=("quality.avg_customer_rating",), group_by="technician"
    )
    grid = period_grid(query.start, query.end, "month", NEW_YORK)
    with database.session(write=False) as session:
        pooled = segments.pooled_sums(
            session, resolve_metrics(plugins, query.kpis), query, grid, zone=NEW_YORK, cache=MemoryCache(),
            key_of=lambda month_grid: str(month_grid.dates), ttl=60,
        )  # fmt: skip
    assert [(row.period_start, row.numerator / row.denominator) for row in pooled.sums] == [
        (date(2026, 3, 1), 4.0),
        (date(2026, 4, 1), 2.0),
    ]
