"""/api/v1/targets: thresholds and weights per metric, stored for the company or a team, falling back
to the plugins' defaults; PUT creates without If-Match and replaces only with the current ETag."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kpi_core.records.targets import effective_targets, target_book, target_for
from kpi_core.storage.models import AuditEntry, KpiTarget, Team

URL = "/api/v1/targets"
RATE = "quality.first_time_fix_rate"  # higher is better; default green 0.90, amber 0.80, weight 2
DELAY = "timeliness.avg_arrival_delay_min"  # lower is better; default green 10, amber 20
GOOD = {"green": 0.95, "amber": 0.85, "weight": 3}


@pytest.fixture
def teams(database) -> SimpleNamespace:
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        return SimpleNamespace(north=north.id, south=south.id)


def listed(client, headers: dict, **query) -> dict[str, dict]:
    response = client.get(URL, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return {item["metric_key"]: item for item in response.json}


def put(client, headers: dict, metric: str, body: dict, team: int | None = None, etag: str | None = None):
    path = f"{URL}/{metric}" if team is None else f"{URL}/{metric}/teams/{team}"
    return client.put(path, json=body, headers={**headers, **({"If-Match": etag} if etag else {})})


def delete(client, headers: dict, metric: str, team: int | None = None, etag: str | None = None):
    path = f"{URL}/{metric}" if team is None else f"{URL}/{metric}/teams/{team}"
    return client.delete(path, headers={**headers, **({"If-Match": etag} if etag else {})})


def counts(database) -> tuple[int, int]:
    with database.session() as session:
        return (
            session.scalar(select(func.count()).select_from(KpiTarget)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def assert_422(response, field: str, location: str = "json") -> None:
    assert response.status_code == 422, response.json
    assert field in response.json["errors"][location], response.json


# --- listing ------------------------------------------------------------------------------


def test_every_metric_is_listed_with_its_plugins_default(client, admin_headers, plugins):
    targets = listed(client, admin_headers)

    assert list(targets) == list(plugins.metrics)
    assert targets[RATE]["company"] == {
        "metric_key": RATE,
        "team_id": None,
        "green": 0.9,
        "amber": 0.8,
        "weight": 2.0,
        "source": "default",
        "etag": None,
        "updated_at": None,
        "valid_from": None,
        "version_id": None,
    }
    assert targets[RATE]["teams"] == []
    assert (targets[RATE]["plugin"], targets[RATE]["direction"]) == ("kpi_quality", "higher")


def test_every_role_may_read_targets(client, make_user, login):
    make_user("manager", username="mandy")

    assert client.get(URL, headers=login("mandy")).status_code == 200


def test_list_filters_by_metric_and_team(client, admin_headers, teams):
    put(client, admin_headers, RATE, GOOD, team=teams.north)
    put(client, admin_headers, RATE, GOOD, team=teams.south)

    only = listed(client, admin_headers, metric=RATE, team=teams.south)

    assert list(only) == [RATE]
    assert [target["team_id"] for target in only[RATE]["teams"]] == [teams.south]


# --- company targets ------------------------------------------------------------------------


def test_put_creates_a_company_target_without_if_match(client, admin_headers):
    response = put(client, admin_headers, RATE, GOOD)

    assert response.status_code == 201, response.json
    assert response.json["source"] == "stored"
    assert response.headers["ETag"] == response.json["etag"]
    assert listed(client, admin_headers)[RATE]["company"] == response.json


def test_put_replaces_a_stored_target_with_its_etag(client, admin_headers):
    etag = put(client, admin_headers, RATE, GOOD).json["etag"]

    response = put(client, admin_headers, RATE, {**GOOD, "weight": 0}, etag=etag)

    assert response.status_code == 200, response.json
    assert response.json["weight"] == 0
    assert response.json["etag"] != etag


def test_put_over_a_stored_target_without_if_match_answers_428(client, admin_headers):
    put(client, admin_headers, RATE, GOOD)

    assert put(client, admin_headers, RATE, {**GOOD, "weight": 1}).status_code == 428
    assert listed(client, admin_headers)[RATE]["company"]["weight"] == 3


def test_put_with_a_stale_etag_answers_412(client, admin_headers):
    stale = put(client, admin_headers, RATE, GOOD).json["etag"]
    put(client, admin_headers, RATE, {**GOOD, "weight": 1}, etag=stale)

    assert put(client, admin_headers, RATE, {**GOOD, "weight": 5}, etag=stale).status_code == 412
    assert listed(client, admin_headers)[RATE]["company"]["weight"] == 1


def test_put_with_if_match_when_nothing_is_stored_answers_412(client, admin_headers, database):
    before = counts(database)

    assert put(client, admin_headers, RATE, GOOD, etag='"gone"').status_code == 412
    assert counts(database) == before


def test_listed_etag_is_the_one_put_accepts(client, admin_headers):
    put(client, admin_headers, RATE, GOOD)
    etag = listed(client, admin_headers)[RATE]["company"]["etag"]

    assert put(client, admin_headers, RATE, {**GOOD, "weight": 1}, etag=etag).status_code == 200


def test_deleting_a_company_target_falls_back_to_the_default(client, admin_headers):
    etag = put(client, admin_headers, RATE, GOOD).json["etag"]

    assert delete(client, admin_headers, RATE).status_code == 428
    assert delete(client, admin_headers, RATE, etag="stale").status_code == 412
    assert delete(client, admin_headers, RATE, etag=etag).status_code == 204
    assert listed(client, admin_headers)[RATE]["company"]["source"] == "default"


def test_deleting_a_default_answers_404(client, admin_headers):
    assert delete(client, admin_headers, RATE, etag="x").status_code == 404


# --- team overrides ------------------------------------------------------------------------


def test_a_team_override_is_listed_beside_the_company_target(client, admin_headers, teams):
    response = put(client, admin_headers, RATE, GOOD, team=teams.north)

    assert response.status_code == 201, response.json
    target = listed(client, admin_headers)[RATE]
    assert target["company"]["source"] == "default"
    assert [(t["team_id"], t["green"], t["source"]) for t in target["teams"]] == [(teams.north, 0.95, "stored")]


def test_a_team_override_needs_its_etag_to_change(client, admin_headers, teams):
    etag = put(client, admin_headers, RATE, GOOD, team=teams.north).json["etag"]

    assert put(client, admin_headers, RATE, GOOD, team=teams.north).status_code == 428
    assert put(client, admin_headers, RATE, {**GOOD, "weight": 1}, team=teams.north, etag=etag).status_code == 200


def test_deleting_a_team_override_falls_back_to_the_company_target(client, admin_headers, teams):
    etag = put(client, admin_headers, RATE, GOOD, team=teams.north).json["etag"]

    assert delete(client, admin_headers, RATE, team=teams.north, etag=etag).status_code == 204
    assert listed(client, admin_headers)[RATE]["teams"] == []
    assert delete(client, admin_headers, RATE, team=teams.north, etag=etag).status_code == 404


def test_an_override_for_an_unknown_team_answers_404(client, admin_headers):
    assert put(client, admin_headers, RATE, GOOD, team=999).status_code == 404


# --- validation: 422 naming the field, nothing written ------------------------------------------


def test_an_unknown_metric_is_rejected(client, admin_headers, teams, database):
    before = counts(database)

    assert_422(put(client, admin_headers, "quality.nope", GOOD), "metric_key", location="path")
    assert_422(put(client, admin_headers, "quality.nope", GOOD, team=teams.north), "metric_key", location="path")
    assert counts(database) == before


def test_green_below_amber_is_rejected_where_higher_is_better(client, admin_headers, database):
    before = counts(database)

    assert_422(put(client, admin_headers, RATE, {**GOOD, "green": 0.7}), "green")
    assert counts(database) == before


def test_green_above_amber_is_rejected_where_lower_is_better(client, admin_headers, database):
    before = counts(database)

    assert_422(put(client, admin_headers, DELAY, {"green": 30, "amber": 20, "weight": 1}), "green")
    assert counts(database) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"green": 90, "amber": 80, "weight": 1}, "green"),  # typed as per cent: every value would turn red
        ({"green": 0.9, "amber": 80, "weight": 1}, "amber"),
        ({"green": 0.9, "amber": -0.1, "weight": 1}, "amber"),
    ],
)
def test_a_rate_target_outside_zero_to_one_is_refused_naming_the_field(client, admin_headers, database, body, field):
    before = counts(database)

    response = put(client, admin_headers, RATE, body)
    assert_422(response, field)
    assert "between 0 and 1" in str(response.json["errors"]["json"][field])
    assert counts(database) == before


def test_green_may_equal_amber(client, admin_headers):
    assert put(client, admin_headers, DELAY, {"green": 15, "amber": 15, "weight": 1}).status_code == 201


def test_a_negative_weight_is_rejected(client, admin_headers):
    assert_422(put(client, admin_headers, RATE, {**GOOD, "weight": -1}), "weight")


def test_every_field_is_required(client, admin_headers):
    assert_422(put(client, admin_headers, RATE, {"green": 0.9, "amber": 0.8}), "weight")


def test_a_replacement_that_is_rejected_leaves_the_stored_target(client, admin_headers, database):
    etag = put(client, admin_headers, RATE, GOOD).json["etag"]
    before = counts(database)

    assert_422(put(client, admin_headers, RATE, {**GOOD, "amber": 0.99}, etag=etag), "green")
    assert counts(database) == before
    assert listed(client, admin_headers)[RATE]["company"]["amber"] == 0.85


# --- permissions and audit -------------------------------------------------------------------


def test_only_admins_may_set_targets(client, make_user, login, teams):
    make_user("manager", username="mandy", teams=("North",))
    mandy = login("mandy")

    assert put(client, mandy, RATE, GOOD).status_code == 403
    assert put(client, mandy, RATE, GOOD, team=teams.north).status_code == 403
    assert delete(client, mandy, RATE, etag="x").status_code == 403


def test_target_changes_are_audited(client, admin_headers, database):
    etag = put(client, admin_headers, RATE, GOOD).json["etag"]
    etag = put(client, admin_headers, RATE, {**GOOD, "weight": 1}, etag=etag).json["etag"]
    delete(client, admin_headers, RATE, etag=etag)

    with database.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "target").order_by(AuditEntry.id))
        trail = [(entry.action, entry.username, entry.changes.get("weight")) for entry in entries]
    assert trail == [
        ("create", "admin", [None, 3.0]),
        ("update", "admin", [3.0, 1.0]),
        ("delete", "admin", [1.0, None]),
    ]


# --- the service the KPI engine uses --------------------------------------------------------------


def test_effective_targets_combine_defaults_company_targets_and_team_overrides(
    client, admin_headers, teams, database, plugins
):
    put(client, admin_headers, RATE, GOOD)
    put(client, admin_headers, DELAY, {"green": 5, "amber": 8, "weight": 0}, team=teams.north)

    today = date.today()
    with database.session() as session:
        targets = effective_targets(session, plugins, today)
        book = target_book(session, plugins)

    assert (targets[(RATE, None)].green, targets[(RATE, None)].source) == (0.95, "stored")
    assert (targets[(DELAY, None)].green, targets[(DELAY, None)].source) == (10, "default")
    assert target_for(book, DELAY, teams.north, today).weight == 0
    assert target_for(book, DELAY, teams.south, today) == targets[(DELAY, None)]
    assert target_for(book, RATE, None, today) == targets[(RATE, None)]
    defaulted = {key for key, metric in plugins.metrics.items() if metric.default_target is not None}
    assert {key for key, _ in targets} == defaulted  # a metric without a default has no company entry
