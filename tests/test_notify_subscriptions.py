"""Each user's choices of what they receive (issue #20, point 4): the kinds their role receives with sensible
defaults, their own e-mail address (a technician's falls back to their technician record), changes checked
whole with every problem named, and admins setting a user's address on the users API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kpi_core.storage.models import AuditEntry, NotificationSubscription, Team, Technician, User

MINE = "/api/v1/notifications/subscriptions"


@pytest.fixture
def people(database, make_user) -> dict[str, int]:
    with database.session() as session:
        team = Team(name="North")
        session.add(team)
        session.flush()
        session.add(Technician(external_ref="T-A", name="Ana Flores", email="ana@example.com", team_id=team.id))
    return {
        "ana": make_user("technician", username="ana", technician_ref="T-A"),
        "mona": make_user("manager", username="mona", teams=("North",)),
        "boss": make_user("admin", username="boss"),
    }


def kinds(body: dict) -> dict[str, dict]:
    return {item["kind"]: item for item in body["subscriptions"]}


def test_a_technician_gets_their_weekly_scorecard_on_monday_at_seven_by_default(client, login, people):
    response = client.get(MINE, headers=login("ana"))

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["email"], body["email_source"], body["own_email"]) == ("ana@example.com", "technician", None)
    (scorecard,) = body["subscriptions"]
    assert scorecard | {"title": "My weekly scorecard"} == {
        "kind": "weekly_scorecard",
        "title": "My weekly scorecard",
        "description": scorecard["description"],
        "enabled": True,
        "channel": "email",
        "frequency": "week",
        "schedule": "0 7 * * 1",
        "default_schedule": "0 7 * * 1",
        "address": None,
        "chosen": False,
        "attach_pdf": False,
    }
    assert [channel["key"] for channel in body["channels"]] == ["email"], "webhooks go to systems, not people"


def test_managers_get_their_teams_digest_and_alerts_and_admins_the_monthly_summary(client, login, people):
    manager = kinds(client.get(MINE, headers=login("mona")).json)
    admin = kinds(client.get(MINE, headers=login("boss")).json)

    assert list(manager) == ["team_digest", "alerts"]
    assert list(admin) == ["monthly_summary", "alerts"]
    assert admin["monthly_summary"]["schedule"] == "0 7 1 * *"
    assert manager["alerts"]["schedule"] is None and manager["alerts"]["frequency"] is None


def test_a_user_chooses_when_and_whether_and_sets_their_own_address(client, login, people, database):
    headers = login("mona")

    response = client.put(
        MINE,
        json={
            "email": "mona@example.com",
            "subscriptions": [
                {"kind": "team_digest", "enabled": True, "schedule": "0  16 * * 5"},
                {"kind": "alerts", "enabled": False},
            ],
        },
        headers=headers,
    )

    assert response.status_code == 200, response.json
    chosen = kinds(response.json)
    assert (response.json["email"], response.json["email_source"]) == ("mona@example.com", "account")
    assert chosen["team_digest"]["schedule"] == "0 16 * * 5" and chosen["team_digest"]["chosen"] is True
    assert chosen["alerts"]["enabled"] is False
    assert kinds(client.get(MINE, headers=headers).json) == chosen
    with database.session(write=False) as session:
        entries = session.scalars(select(AuditEntry.entity).where(AuditEntry.action == "update")).all()
    assert sorted(entries) == ["notification_subscription", "notification_subscription", "user"]


def test_an_invalid_address_is_refused_naming_email_and_nothing_is_saved(client, login, people, database):
    response = client.put(
        MINE,
        json={"email": "mona@", "subscriptions": [{"kind": "alerts", "enabled": False}]},
        headers=login("mona"),
    )

    assert response.status_code == 422
    assert "Enter an e-mail address in the right form" in response.json["errors"]["json"]["email"][0]
    with database.session(write=False) as session:
        assert session.scalar(select(NotificationSubscription.id)) is None
        assert session.get(User, people["mona"]).email is None


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        (
            {"kind": "team_digest", "enabled": True, "schedule": "30 7 * * 1"},
            "schedule",
            "a day of the week and an hour",
        ),
        ({"kind": "team_digest", "enabled": True, "schedule": "0 7 1 * *"}, "schedule", "a day of the week"),
        ({"kind": "team_digest", "enabled": True, "schedule": "0 25 * * 1"}, "schedule", "an hour"),
        ({"kind": "alerts", "enabled": True, "schedule": "0 7 * * 1"}, "schedule", "as they happen"),
        ({"kind": "weekly_digest", "enabled": True}, "kind", "Must be one of"),
        ({"kind": "team_digest"}, "enabled", "Say whether"),
    ],
)
def test_a_bad_choice_is_refused_naming_the_field(client, login, people, item, field, words):
    response = client.put(MINE, json={"subscriptions": [item]}, headers=login("mona"))

    assert response.status_code == 422, response.json
    assert words in response.json["errors"]["json"]["subscriptions"]["0"][field][0]


def test_every_problem_is_named_at_once(client, login, people):
    body = {
        "email": "not an address",
        "subscriptions": [
            {"kind": "team_digest", "enabled": True, "schedule": "daily"},
            {"kind": "alerts", "enabled": "sometimes"},
        ],
    }

    errors = client.put(MINE, json=body, headers=login("mona")).json["errors"]["json"]

    assert set(errors) == {"email", "subscriptions"}
    assert set(errors["subscriptions"]) == {"0", "1"}


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"kind": "weekly_scorecard", "enabled": True}, "subscriptions.0.kind", "managers do not receive"),
        ({"kind": "alerts", "enabled": True, "channel": "webhook"}, "subscriptions.0.channel", "cannot send"),
        ({"kind": "alerts", "enabled": True, "channel": "pigeon"}, "subscriptions.0.channel", "cannot send"),
        ({"kind": "alerts", "enabled": True, "attach_pdf": True}, "subscriptions.0.attach_pdf", "without a PDF"),
    ],
)
def test_a_kind_or_channel_the_user_cannot_have_is_refused(client, login, people, item, field, words):
    response = client.put(MINE, json={"subscriptions": [item]}, headers=login("mona"))

    assert response.status_code == 422, response.json
    assert words in response.json["errors"]["json"][field][0]


def test_removing_ones_own_address_falls_back_to_the_technician_record(client, login, people):
    headers = login("ana")
    client.put(MINE, json={"email": "ana.f@example.com"}, headers=headers)

    own = client.get(MINE, headers=headers).json
    removed = client.put(MINE, json={"email": ""}, headers=headers).json

    assert (own["email"], own["email_source"]) == ("ana.f@example.com", "account")
    assert (removed["email"], removed["email_source"], removed["own_email"]) == ("ana@example.com", "technician", None)


def test_admins_set_a_users_address_and_an_invalid_one_is_refused_naming_email(client, login, people):
    headers = login("boss")
    user = client.get(f"/api/v1/users/{people['mona']}", headers=headers)

    bad = client.patch(
        f"/api/v1/users/{people['mona']}", json={"email": "mona@@example"},
        headers={**headers, "If-Match": user.headers["ETag"]},
    )  # fmt: skip
    good = client.patch(
        f"/api/v1/users/{people['mona']}", json={"email": "mona@example.com"},
        headers={**headers, "If-Match": user.headers["ETag"]},
    )  # fmt: skip
    created = client.post(
        "/api/v1/users",
        json={"username": "lee", "password": "a-long-enough-password-7", "role": "manager", "email": "lee@"},
        headers=headers,
    )

    assert bad.status_code == 422 and "email" in bad.json["errors"]["json"]
    assert good.status_code == 200 and good.json["email"] == "mona@example.com"
    assert created.status_code == 422 and "email" in created.json["errors"]["json"]


def test_subscriptions_need_a_login(client, people):
    assert client.get(MINE).status_code == 401
