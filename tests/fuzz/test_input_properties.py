"""One property per shared input type, sent through real endpoints that take it, on SQLite and on
PostgreSQL: whatever the value, the answer is a 2xx or a 4xx in the one JSON error shape whose
``errors`` names the field, never a 5xx, and its body is standard JSON (no NaN, no Infinity).

Hypothesis generates from its full range, not from what the schemas allow: text with NUL, lone
surrogates and every other code point; timestamps from year 1 to 9999 with and without zones, in
several ISO spellings, and arbitrary text; date ranges with any period; floats with NaN, infinities
and huge magnitudes, huge integers, 400-digit numeric strings and raw JSON numbers too long to
convert; cron expressions of five random fields, impossible days included. The seed changes every
run (``derandomize=False``); a failure prints its falsifying example and the answer it got.
tests/reliability/test_input_limits.py keeps one example of each class found.
"""

from __future__ import annotations

import itertools
import json
import string
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, find, given, note, settings
from hypothesis import strategies as st

from kpi_core.kpis.periods import PERIODS
from kpi_core.storage.models import Team, Technician
from kpi_core.web.jobs_runs_api import RUNNER_KEY
from kpi_core.web.state import EXTENSION_KEY

EXAMPLES = 60
properties = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NUMBERS = itertools.count(1)

# --- the generators -----------------------------------------------------------------------------

# st.characters() without arguments excludes no category: NUL, lone surrogates (Cs), private use,
# unassigned and every other code point. Plain text rarely draws the few that break storage, so
# some strings get one of them spliced in.
EDGE_CHARACTERS = ["\x00", "\ud800", "\udfff", "\udbff\udfff", "\ufeff", "\ufffe", "\u202e", "\u2028", "\U0010ffff"]
ANY_TEXT = st.text(st.characters(), max_size=60)
TEXT = st.one_of(
    ANY_TEXT,
    st.builds(lambda a, edge, b: a + edge + b, ANY_TEXT, st.sampled_from(EDGE_CHARACTERS), ANY_TEXT),
    st.text(st.characters(), min_size=100, max_size=400),
    st.builds(lambda char, count: char * count, st.characters(), st.integers(1_000, 20_000)),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
ANY_JSON = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3)
)

ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.timezones(),
    st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
    ),
)
DATETIMES = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=ZONES)
ISO_SPELLINGS = st.sampled_from(["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"])


@st.composite
def iso_timestamps(draw: st.DrawFn) -> str:
    moment = draw(DATETIMES)
    text = moment.isoformat(sep=draw(st.sampled_from("T ")), timespec=draw(ISO_SPELLINGS))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


EDGE_DATES = [date(1, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(2200, 12, 31), date(2201, 1, 1), date.max]
DATES = st.one_of(st.dates(), st.sampled_from(EDGE_DATES), st.dates(date(1965, 1, 1), date(2205, 12, 31)))
TIMESTAMPS = st.one_of(
    iso_timestamps(),
    DATES.map(date.isoformat),
    st.sampled_from(["9999-12-31T23:59:59.999999+23:59", "0001-01-01T00:00:00-23:59", "2026-02-30T10:00:00Z"]),
    TEXT,
    st.integers(),
    st.floats(),
)
DATE_TEXTS = st.one_of(DATES.map(date.isoformat), iso_timestamps(), TEXT)
PERIOD_TEXTS = st.one_of(st.sampled_from(PERIODS), TEXT)

NUMBERS_ = st.one_of(
    st.floats(),  # NaN, both infinities, subnormals, +-1.8e308
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([1e308, -1e308, 5e-324, 10**400, -(10**30), 0, -0.0, 1e-7]),
    st.integers(1, 400).map(lambda digits: "9" * digits),
    st.text(string.digits, min_size=300, max_size=400),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e-400", "0x10", "1_000", " 12 ", "12.345", "1,5"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    JSON_SCALARS,
)


@st.composite
def number_json(draw: st.DrawFn) -> tuple[str, Any]:
    """(JSON text, value): json.dumps writes NaN and Infinity as hostile clients do; a raw number of
    thousands of digits (too long for Python to convert) is written by hand."""
    if draw(st.integers(0, 9)) == 0:
        digits = draw(st.integers(4_000, 6_000))
        return draw(st.sampled_from(["", "-"])) + "9" * digits, None
    value = draw(NUMBERS_)
    return json.dumps(value), value


CRON_FIELDS = st.one_of(
    st.just("*"),
    st.integers(-5, 99).map(str),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda pair: f"{pair[0]}-{pair[1]}"),
    st.integers(0, 10**25).map(lambda step: f"*/{step}"),
    st.lists(st.integers(0, 99), min_size=1, max_size=4).map(lambda items: ",".join(map(str, items))),
    st.sampled_from(["L", "W", "15W", "LW", "?", "5#3", "7#5", "mon-fri", "JAN", "feb,dec", "sun", "0/15", "H"]),
    ANY_TEXT,
)
IMPOSSIBLE_DAYS = st.tuples(st.sampled_from(["30", "31", "30,31"]), st.sampled_from(["2", "4", "2,4", "6,9,11", "feb"]))
CRONS = st.one_of(
    st.lists(CRON_FIELDS, min_size=5, max_size=5).map(" ".join),
    st.tuples(CRON_FIELDS, CRON_FIELDS, IMPOSSIBLE_DAYS, CRON_FIELDS).map(
        lambda parts: f"{parts[0]} {parts[1]} {parts[2][0]} {parts[2][1]} {parts[3]}"
    ),
    st.lists(CRON_FIELDS, max_size=8).map(" ".join),
    TEXT,
    JSON_SCALARS,
)
TIMEZONES = st.one_of(st.timezones().map(str), st.sampled_from(["UTC", "Etc/GMT+14", "America/Nuuk", "../etc"]), TEXT)


def test_the_text_drawn_holds_nul_and_lone_surrogates():
    # st.characters() excludes no category unless told to: the properties below do get the text
    # that broke storage (issue #15), not only the text a schema allows.
    assert find(ANY_TEXT, lambda text: any(0xD800 <= ord(char) <= 0xDFFF for char in text))
    assert find(ANY_TEXT, lambda text: "\x00" in text)


# --- the answer ---------------------------------------------------------------------------------


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"the answer holds {constant}, which standard JSON parsers refuse")

    return json.loads(text, parse_constant=refuse)


def assert_answered(response, fields: set[str], location: str = "json", other: tuple[int, ...] = ()) -> None:
    """A 2xx, or a 4xx in the one error shape naming one of ``fields`` (or a status in ``other``)."""
    text = response.get_data(as_text=True)
    note(f"answer: {response.status_code} {text[:600]}")
    status = response.status_code
    assert status < 500, f"a {status}: {text[:600]}"
    assert 200 <= status < 300 or 400 <= status < 500, f"unexpected {status}"
    body = strict_json(text) if text and response.mimetype == "application/json" else None
    if status < 300:
        return
    assert body is not None and body["code"] == status, text[:600]
    assert body["status"] and body["message"] and "request_id" in body, body
    if status in other:
        return
    named = body.get("errors", {}).get(location, {})
    # A body that cannot be read at all (malformed JSON) is named by its location alone.
    if status == 400 and location == "json" and isinstance(named, list) and named:
        return
    # A nested field is named by its path: answers.core.overall_comment names answers.
    names = {name.split(".")[0] for name in named} if isinstance(named, dict) else set()
    assert fields & names, f"{status} names none of {sorted(fields)}: {body}"


def send(client, method: str, path: str, headers: dict[str, str], payload: Any = None, raw: str | None = None):
    # json.dumps escapes a lone surrogate as \ud800 and writes NaN, exactly as a hostile client sends them.
    body = raw if raw is not None else json.dumps(payload)
    note(f"sent: {method} {path} {body[:600]}")
    return client.open(path, method=method, data=body, headers={**headers, "Content-Type": "application/json"})


def query_string(**parameters: Any) -> str:
    """A query string as a hostile client writes it: lone surrogates become bytes that are not UTF-8."""
    texts = {name: value if isinstance(value, str) else json.dumps(value) for name, value in parameters.items()}
    note(f"sent query: {texts!r:.600}")
    return "&".join(f"{quote(name)}={quote(text, safe='', errors='surrogatepass')}" for name, text in texts.items())


@pytest.fixture
def north(database) -> dict[str, int]:
    with database.session() as session:
        team = Team(name="North")
        session.add(team)
        session.flush()
        technician = Technician(external_ref="T1", name="Tina", team_id=team.id)
        session.add(technician)
        session.flush()
        return {"team": team.id, "technician": technician.id}


def job(north: dict[str, int], **fields: Any) -> dict[str, Any]:
    return {
        "external_ref": f"J-{next(NUMBERS)}",
        "technician_id": north["technician"],
        "category": "plumbing",
        **fields,
    }


# --- text ---------------------------------------------------------------------------------------


@properties
@given(username=TEXT, password=TEXT)
def test_any_text_as_a_login_is_refused_or_named(app, client, username, password):
    app.extensions[EXTENSION_KEY].authenticator.throttle.clear()
    response = send(client, "POST", "/api/v1/auth/login", {}, {"username": username, "password": password})

    assert_answered(response, {"username", "password"}, other=(401,))


@pytest.mark.parametrize(
    ("path", "field", "make"),
    [
        ("/api/v1/teams", "name", lambda text, north: {"name": text}),
        ("/api/v1/customers", "name", lambda text, north: {"external_ref": f"C-{next(NUMBERS)}", "name": text}),
        ("/api/v1/customers", "external_ref", lambda text, north: {"external_ref": text, "name": "Ann"}),
        ("/api/v1/jobs", "category", lambda text, north: job(north, category=text)),
    ],
    ids=["team name", "customer name", "customer reference", "job category"],
)
@properties
@given(text=TEXT)
def test_any_text_in_a_record_is_stored_or_named(client, admin_headers, north, path, field, make, text):
    response = send(client, "POST", path, admin_headers, make(text, north))

    assert_answered(response, {field})
    if response.status_code == 201:
        # As JSON reads it: "\\udbff\\udfff" sent as two escapes is one valid pair, U+10FFFF.
        sent = json.loads(json.dumps(text))
        assert response.json[field] in {sent, sent.strip(), sent.lower(), sent.strip().lower()}


@properties
@given(comment=TEXT)
def test_any_text_as_an_evaluation_comment_is_stored_or_named(client, admin_headers, north, comment):
    evaluation = {
        "technician_id": north["technician"],
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "answers": {"core.overall_comment": comment},
    }
    response = send(client, "POST", "/api/v1/evaluations", admin_headers, evaluation)

    assert_answered(response, {"answers"})


# --- timestamps ---------------------------------------------------------------------------------


@properties
@given(stamp=TIMESTAMPS)
def test_any_timestamp_as_a_jobs_scheduled_start_is_stored_or_named(client, admin_headers, north, stamp):
    response = send(client, "POST", "/api/v1/jobs", admin_headers, job(north, scheduled_start=stamp))

    assert_answered(response, {"scheduled_start"})


@pytest.mark.parametrize(("path", "parameter"), [("/api/v1/jobs", "from"), ("/api/v1/audit", "since")])
@properties
@given(stamp=TIMESTAMPS)
def test_any_timestamp_as_a_list_filter_is_answered_or_named(client, admin_headers, path, parameter, stamp):
    response = client.get(f"{path}?{query_string(**{parameter: stamp})}", headers=admin_headers)

    assert_answered(response, {parameter}, location="query")


# --- date ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/kpis/values", "/api/v1/scorecards"])
@properties
@given(start=DATE_TEXTS, end=DATE_TEXTS, period=PERIOD_TEXTS)
def test_any_date_range_and_period_is_answered_or_named(client, admin_headers, path, start, end, period):
    response = client.get(f"{path}?{query_string(start=start, end=end, period=period)}", headers=admin_headers)

    assert_answered(response, {"start", "end", "period"}, location="query")


@pytest.fixture
def runner_stopped_after(app):
    """The reports queued by the test finish before its database goes."""
    yield
    app.extensions[RUNNER_KEY].shutdown(wait=True)


@properties
@given(start=DATE_TEXTS, end=DATE_TEXTS, period=PERIOD_TEXTS)
def test_any_date_range_and_period_for_a_report_is_queued_or_named(
    client, admin_headers, runner_stopped_after, start, end, period
):
    spec = {"format": "csv", "start": start, "end": end, "period": period}
    response = send(client, "POST", "/api/v1/reports", admin_headers, spec)

    assert_answered(response, {"start", "end", "period"})


# --- numbers ------------------------------------------------------------------------------------


TARGET = "quality.first_time_fix_rate"


def forget_company_target(client, headers: dict[str, str]) -> None:
    """No stored company target: every example is a create, which needs no If-Match."""
    listed = client.get(f"/api/v1/targets?metric={TARGET}", headers=headers).json
    company = listed[0]["company"]
    # A removed target leaves its history (and so an ETag) behind, with the plugin's default in force.
    if company and company["source"] == "stored":
        if_match = {**headers, "If-Match": company["etag"]}
        assert client.delete(f"/api/v1/targets/{TARGET}", headers=if_match).status_code == 204


@pytest.mark.parametrize("field", ["green", "amber", "weight"])
@properties
@given(number=number_json())
def test_any_number_in_a_target_is_stored_or_named(client, admin_headers, field, number):
    forget_company_target(client, admin_headers)
    text, _ = number
    valid = {"green": "0.9", "amber": "0.8", "weight": "1", field: text}
    raw = "{" + ", ".join(f'"{name}": {value}' for name, value in valid.items()) + "}"
    response = send(client, "PUT", f"/api/v1/targets/{TARGET}", admin_headers, raw=raw)

    # green and amber are also checked against each other (green at least amber for a higher-is-better KPI).
    assert_answered(response, {field, "green", "amber"} if field != "weight" else {field})


@pytest.mark.parametrize("field", ["revenue", "estimated_minutes"])
@properties
@given(number=number_json())
def test_any_number_in_a_job_is_stored_or_named(client, admin_headers, north, field, number):
    text, _ = number
    body = json.dumps(job(north))[:-1] + f', "{field}": {text}}}'
    response = send(client, "POST", "/api/v1/jobs", admin_headers, raw=body)

    assert_answered(response, {field})


@pytest.mark.parametrize("key", ["timeliness.budget_tolerance", "quality.callback_window_days"])
@properties
@given(number=number_json())
def test_any_number_as_a_plugin_setting_is_stored_or_named(client, admin_headers, key, number):
    text, _ = number
    response = send(client, "PUT", f"/api/v1/plugins/settings/{key}", admin_headers, raw=f'{{"value": {text}}}')

    assert_answered(response, {"value"})


# --- cron ---------------------------------------------------------------------------------------


@properties
@given(cron=CRONS, zone=st.none() | TIMEZONES)
def test_any_cron_and_zone_for_a_schedule_is_stored_or_named(client, admin_headers, cron, zone):
    schedule = {"name": f"S-{next(NUMBERS)}", "kind": "job", "job_key": "core.report_retention", "cron": cron}
    if zone is not None:
        schedule["timezone"] = zone
    response = send(client, "POST", "/api/v1/schedules", admin_headers, schedule)

    assert_answered(response, {"cron", "timezone"})
    if response.status_code == 201:
        assert response.json["next_fire_at"] is not None
