# ruff: noqa: F811
"""Input at the edges of what a type can hold: each class is bounded where it enters (the shared
schema types, the period grid, the cron parser, the JSON encoder), so every endpoint answers a 4xx
naming the field and writes nothing. One example per class and endpoint family; the property
tests in tests/fuzz/test_input_properties.py generate the rest.
"""

from __future__ import annotations

import json

import pytest

# `org` and `unchanged` are fixtures shared with the bad-input corpus; tests name them as parameters.
from .test_bad_input import assert_error_shape, org, unchanged  # noqa: F401

SURROGATE = "\ud800"


@pytest.fixture
def north(org) -> dict[str, int]:
    """Team North and its technician T1: the bad-input corpus's organisation."""
    return org


def post_json(client, path: str, payload: object, headers: dict[str, str] | None = None, method: str = "post"):
    # json.dumps escapes a lone surrogate as \ud800, exactly as a hostile client sends it.
    body = json.dumps(payload)
    return getattr(client, method)(path, data=body, headers={**(headers or {}), "Content-Type": "application/json"})


def field_errors(response, status: int = 422, location: str = "json") -> dict:
    body = assert_error_shape(response, status)
    return body["errors"][location]


# --- 1. text that is not Unicode --------------------------------------------------------------


def test_a_lone_surrogate_in_the_login_is_a_422_naming_the_field(client, unchanged):
    with unchanged():
        response = post_json(client, "/api/v1/auth/login", {"username": SURROGATE, "password": "x"})

    assert "username" in field_errors(response)


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/teams", {"name": "A" + SURROGATE}, "name"),
        ("/api/v1/customers", {"external_ref": SURROGATE, "name": "Ann"}, "external_ref"),
        ("/api/v1/technicians", {"external_ref": "T9", "name": "x" + SURROGATE + "y"}, "name"),
        (
            "/api/v1/users",
            {"username": "u" + SURROGATE, "password": "a long enough passphrase", "role": "admin"},
            "username",
        ),
    ],
)
def test_a_lone_surrogate_in_a_body_is_a_422_naming_the_field(client, admin_headers, unchanged, path, payload, field):
    with unchanged():
        response = post_json(client, path, payload, admin_headers)

    assert field in field_errors(response)


def test_a_lone_surrogate_in_a_job_category_is_a_422(client, admin_headers, north, unchanged):
    job = {"external_ref": "J1", "technician_id": north["technician"], "category": "plumb" + SURROGATE}
    with unchanged():
        response = post_json(client, "/api/v1/jobs", job, admin_headers)

    assert "category" in field_errors(response)


def test_a_lone_surrogate_nested_in_evaluation_answers_is_a_422(client, admin_headers, north, unchanged):
    evaluation = {
        "technician_id": north["technician"],
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "answers": {"comments": "fine" + SURROGATE},
    }
    with unchanged():
        response = post_json(client, "/api/v1/evaluations", evaluation, admin_headers)

    assert "answers" in field_errors(response)


def test_a_lone_surrogate_in_a_json_lines_import_names_row_and_column(client, admin_headers, north, unchanged):
    line = json.dumps(
        {"external_ref": "J1", "technician_ref": "T1", "category": "plumbing", "customer_name": SURROGATE}
    )
    with unchanged():
        response = client.post(
            "/api/v1/imports/jobs", data=line + "\n", headers={**admin_headers, "Content-Type": "application/x-ndjson"}
        )

    body = assert_error_shape(response, 422)
    assert {"row": 1, "column": "customer_name"} in [
        {"row": error["row"], "column": error["column"]} for error in body["errors"]["rows"]
    ]


# --- 2. timestamps at the edge of the calendar ------------------------------------------------


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:00:00", "0001-01-01T00:30:00+01:00", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z"]
)
def test_a_timestamp_outside_the_supported_years_is_a_422(client, admin_headers, north, unchanged, stamp):
    job = {"external_ref": "J1", "technician_id": north["technician"], "category": "plumbing", "scheduled_start": stamp}
    with unchanged():
        response = post_json(client, "/api/v1/jobs", job, admin_headers)

    assert "1970" in field_errors(response)["scheduled_start"][0]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [("/api/v1/jobs?from=9999-12-31T23:00:00", "from"), ("/api/v1/audit?since=0001-01-01T00:30:00%2B01:00", "since")],
)
def test_a_list_filter_outside_the_supported_years_is_a_422(client, admin_headers, path, parameter):
    assert parameter in field_errors(client.get(path, headers=admin_headers), location="query")


def test_the_edges_of_the_supported_years_are_accepted(client, admin_headers, north):
    job = {
        "external_ref": "J-edge",
        "technician_id": north["technician"],
        "category": "plumbing",
        "scheduled_start": "1970-01-01T00:00:00Z",
        "scheduled_end": "2199-12-31T23:59:59Z",
    }
    assert post_json(client, "/api/v1/jobs", job, admin_headers).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/evaluations?period_from=0001-01-01",
        "/api/v1/kpis/values?start=9998-01-01&end=9999-12-31",
    ],
)
def test_a_date_outside_the_supported_years_is_a_422(client, admin_headers, path):
    assert_error_shape(client.get(path, headers=admin_headers), 422)


# --- 3. period grids at the edge --------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "period=year&start=9998-01-01&end=9999-12-31",
        "period=day&start=9999-12-29&end=9999-12-31",
        "period=month&start=0001-01-01&end=0002-01-01",
    ],
)
def test_kpi_values_at_the_edge_of_the_calendar_are_a_422(client, admin_headers, query):
    body = assert_error_shape(client.get(f"/api/v1/kpis/values?{query}", headers=admin_headers), 422)
    assert "query" in body["errors"]


def test_scorecards_over_year_one_are_a_422(client, admin_headers):
    response = client.get("/api/v1/scorecards?start=0001-01-01&end=0001-12-31", headers=admin_headers)
    assert_error_shape(response, 422)


def test_a_grid_of_too_many_buckets_is_refused_before_any_work(client, admin_headers):
    response = client.get("/api/v1/kpis/values?period=day&start=1970-01-01&end=2199-12-31", headers=admin_headers)

    assert "period" in field_errors(response, location="query") or "end" in field_errors(response, location="query")


def test_a_long_range_in_months_is_answered(client, admin_headers):
    # 1999-12 .. 2100-01: month keys compared as text ("10000-01" < "9999-12") once built a million months.
    response = client.get("/api/v1/kpis/values?period=year&start=1990-01-01&end=2100-01-01", headers=admin_headers)
    assert response.status_code == 200, response.json


# --- 4. cron that never fires -----------------------------------------------------------------


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_a_schedule_that_never_fires_is_a_422_saying_so(client, admin_headers, unchanged, cron):
    schedule = {"name": "Never", "kind": "job", "job_key": "core.report_retention", "cron": cron}
    with unchanged():
        response = post_json(client, "/api/v1/schedules", schedule, admin_headers)

    assert "never" in field_errors(response)["cron"][0]


# --- 5. numbers that overflow -----------------------------------------------------------------


@pytest.mark.parametrize("revenue", [1e308, "9" * 400, "1e308", -1e308, "NaN", "Infinity"])
def test_an_overflowing_revenue_is_a_422(client, admin_headers, north, unchanged, revenue):
    job = {"external_ref": "J1", "technician_id": north["technician"], "category": "plumbing", "revenue": revenue}
    with unchanged():
        response = post_json(client, "/api/v1/jobs", job, admin_headers)

    assert "revenue" in field_errors(response)


@pytest.mark.parametrize("number", [1e308, -1e308, 10**400])
@pytest.mark.parametrize("field", ["green", "amber", "weight"])
def test_a_target_beyond_its_meaning_is_a_422(client, admin_headers, unchanged, field, number):
    target = {"green": 0.9, "amber": 0.8, "weight": 1, field: number}
    with unchanged():
        response = post_json(client, "/api/v1/targets/quality.first_time_fix_rate", target, admin_headers, "put")

    assert field in field_errors(response)


def test_a_huge_integer_is_a_422_not_a_driver_error(client, admin_headers, north, unchanged):
    job = {"external_ref": "J1", "technician_id": north["technician"], "category": "x", "estimated_minutes": 10**30}
    with unchanged():
        response = post_json(client, "/api/v1/jobs", job, admin_headers)

    assert "estimated_minutes" in field_errors(response)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/api/v1/targets/quality.first_time_fix_rate", '{"green": %s, "amber": 0.8, "weight": 1}'),
        ("put", "/api/v1/plugins/settings/timeliness.budget_tolerance", '{"value": -%s}'),
        ("post", "/api/v1/teams", '{"name": "North", "extra": [%s]}'),
    ],
)
def test_a_json_number_too_long_to_read_is_a_400_like_malformed_json(
    client, admin_headers, unchanged, method, path, body
):
    # Python refuses to convert an integer of more than 4,300 digits: a ValueError the decoder lets
    # through, where webargs answers 400 only for malformed JSON (the raw numbers of
    # tests/fuzz/test_input_properties.py).
    with unchanged():
        response = getattr(client, method)(
            path, data=body % ("9" * 5000), headers={**admin_headers, "Content-Type": "application/json"}
        )

    assert "json" in assert_error_shape(response, 400)["errors"]


def test_the_json_encoder_refuses_nan_and_infinity(app):
    with app.app_context():
        for number in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ValueError):
                app.json.dumps({"score": number})
