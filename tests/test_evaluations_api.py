"""/api/v1/evaluations: the plugins' form, drafts, submission, acknowledgement, revisions,
scoping (technicians their own, managers their teams') and form versions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.declarations import FormField
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import AuditEntry, Evaluation, Team, Technician
from kpi_core.testing.fixtures import TEST_PASSWORD
from kpi_core.web.app import create_app

URL = "/api/v1/evaluations"
FORM = f"{URL}/form"
COMPLETE = {
    "quality.workmanship": 5,
    "quality.cleanliness": 4,
    "quality.communication": 3,
    "quality.safety": 4,
    "timeliness.punctuality": 2,
    "timeliness.paperwork_on_time": True,
}
PERIOD = {"period_start": "2026-10-01", "period_end": "2026-10-31"}
EXTRA_FIELDS = [
    FormField("extra.jobs_checked", "Jobs checked", "number", weight=2, minimum=0, maximum=20),
    FormField("extra.tidiness", "Tidiness", "choice", weight=1, choices=("poor", "fair", "good")),
]


@hookimpl
def extra_form_fields() -> list[FormField]:
    return EXTRA_FIELDS


# --- factories ----------------------------------------------------------------------


@pytest.fixture
def org(database, make_user) -> SimpleNamespace:
    """Two teams with a technician each; a manager of North; users for both technicians."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        tina = Technician(external_ref="T1", name="Tina", team_id=north.id)
        tom = Technician(external_ref="T2", name="Tom", team_id=south.id)
        session.add_all([tina, tom])
        session.flush()
        ids = SimpleNamespace(north=north.id, south=south.id, tina=tina.id, tom=tom.id)
    ids.manager_user = make_user("manager", username="mandy", teams=("North",))
    make_user("technician", username="tina", technician_ref="T1")
    make_user("technician", username="tom", technician_ref="T2")
    return ids


@pytest.fixture
def mandy(org, login) -> dict[str, str]:
    return login("mandy")


@pytest.fixture
def tina(org, login) -> dict[str, str]:
    return login("tina")


@pytest.fixture
def tom(org, login) -> dict[str, str]:
    return login("tom")


@pytest.fixture
def create(client, admin_headers, org):
    """``create(technician_id, headers=admin, **fields)`` -> the created evaluation (asserts 201)."""

    def make(technician_id: int, headers: dict | None = None, **fields) -> dict:
        body = {"technician_id": technician_id, **PERIOD, "answers": {}, **fields}
        response = client.post(URL, json=body, headers=headers or admin_headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


def if_match(headers: dict, etag: str) -> dict:
    return {**headers, "If-Match": etag}


def etag_of(client, headers: dict, evaluation_id: int) -> str:
    return client.get(f"{URL}/{evaluation_id}", headers=headers).headers["ETag"]


def counts(database) -> tuple[int, int]:
    with database.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Evaluation)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def assert_422(response, field: str) -> None:
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"], response.json


# --- the form -----------------------------------------------------------------------


def test_form_lists_every_plugins_fields_in_plugin_order(client, admin_headers, plugins):
    form = client.get(FORM, headers=admin_headers).json

    assert [field["key"] for field in form["fields"]] == list(plugins.form_fields)
    workmanship = next(field for field in form["fields"] if field["key"] == "quality.workmanship")
    assert workmanship == {
        "key": "quality.workmanship",
        "label": "Workmanship",
        "type": "rating",
        "required": True,
        "weight": 3.0,
        "help_text": plugins.form_fields["quality.workmanship"].help_text,
        "choices": [],
        "minimum": None,
        "maximum": None,
        "scale_labels": ["Needs redoing", "Flawless"],
        "asked_of_technicians": True,
        "plugin": "kpi_quality",
    }


def test_form_version_changes_when_plugin_fields_change(client, admin_headers, extended):
    version = client.get(FORM, headers=admin_headers).json["version"]
    extended_form = extended.client.get(FORM, headers=extended.admin).json

    assert extended_form["version"] != version
    assert [f["plugin"] for f in extended_form["fields"] if f["key"].startswith("extra.")] == ["extra", "extra"]
    assert client.get(FORM, headers=admin_headers).json["version"] == version


@pytest.fixture
def extended(settings, database, admin_headers):
    """The same database served by an app whose plugins add EXTRA_FIELDS to the form."""
    plugins = load_plugins(settings, extra=[("extra", SimpleNamespace(kpi_form_fields=extra_form_fields))])
    client = create_app(settings, database=database, plugins=plugins).test_client()
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": TEST_PASSWORD}).json
    return SimpleNamespace(client=client, admin={"Authorization": f"Bearer {token['access_token']}"})


def test_old_evaluation_still_displays_with_its_own_form_after_fields_change(client, create, org, extended):
    old = create(org.tina, status="submitted", answers=COMPLETE)

    shown = extended.client.get(f"{URL}/{old['id']}", headers=extended.admin)

    assert shown.status_code == 200
    assert shown.json["form_version"] == old["form_version"]
    assert shown.json["form_snapshot"] == old["form_snapshot"]
    assert "extra.tidiness" not in {field["key"] for field in shown.json["form_snapshot"]}
    assert shown.json["score"] == old["score"]


def test_new_evaluation_keeps_the_form_version_and_snapshot_it_was_made_on(client, admin_headers, create, org):
    form = client.get(FORM, headers=admin_headers).json

    evaluation = create(org.tina)

    assert evaluation["form_version"] == form["version"]
    assert [field["key"] for field in evaluation["form_snapshot"]] == [field["key"] for field in form["fields"]]


def test_a_draft_is_checked_against_its_own_form_not_todays(create, org, extended, admin_headers, client):
    draft = create(org.tina)
    etag = etag_of(extended.client, extended.admin, draft["id"])

    response = extended.client.patch(
        f"{URL}/{draft['id']}", json={"answers": {"extra.tidiness": "good"}}, headers=if_match(extended.admin, etag)
    )

    assert_422(response, "answers.extra.tidiness")


# --- creating and scoring -------------------------------------------------------------


def test_draft_may_be_incomplete_and_is_scored_on_what_is_answered(create, org):
    draft = create(org.tina, answers={"quality.workmanship": 4})

    assert draft["status"] == "draft"
    assert draft["score"] == pytest.approx(75)
    assert draft["revision"] == 1
    assert draft["supersedes_id"] is None
    assert draft["submitted_at"] is None


def test_evaluator_is_the_user_creating_it(create, org, mandy):
    assert create(org.tina, headers=mandy)["evaluator_id"] == org.manager_user


def test_score_is_the_weighted_mean_of_normalised_answers(create, org):
    # Normalised: rating r -> (r-1)/4, yes -> 1. Weights 3, 1, 2, 2 (quality), 2, 1 (timeliness).
    weighted = 3 * 1.0 + 1 * 0.75 + 2 * 0.5 + 2 * 0.75 + 2 * 0.25 + 1 * 1.0  # = 7.75
    expected = 100 * weighted / (3 + 1 + 2 + 2 + 2 + 1)  # = 70.45...

    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert evaluation["score"] == pytest.approx(expected)
    assert evaluation["score"] == pytest.approx(70.4545, abs=1e-4)


def test_create_submitted_directly_sets_submitted_at(create, org):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert evaluation["status"] == "submitted"
    assert evaluation["submitted_at"] is not None


def test_create_answers_201_with_an_etag_that_get_repeats(client, admin_headers, org):
    body = {"technician_id": org.tina, **PERIOD}
    created = client.post(URL, json=body, headers=admin_headers)

    assert created.status_code == 201
    assert created.headers["ETag"] == etag_of(client, admin_headers, created.json["id"])


# --- validation: 422 naming the field, nothing written ------------------------------------


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"quality.nope": 3}, "answers.quality.nope"),
        ({"quality.workmanship": 6}, "answers.quality.workmanship"),
        ({"quality.workmanship": 0}, "answers.quality.workmanship"),
        ({"quality.workmanship": 3.5}, "answers.quality.workmanship"),
        ({"quality.workmanship": True}, "answers.quality.workmanship"),
        ({"quality.workmanship": "5"}, "answers.quality.workmanship"),
        ({"timeliness.paperwork_on_time": "yes"}, "answers.timeliness.paperwork_on_time"),
        ({"timeliness.paperwork_on_time": 1}, "answers.timeliness.paperwork_on_time"),
        ({"core.overall_comment": "x" * 2001}, "answers.core.overall_comment"),
        ({"core.overall_comment": 42}, "answers.core.overall_comment"),
    ],
    ids=[
        "unknown-key",
        "rating-above-5",
        "rating-below-1",
        "rating-not-whole",
        "rating-bool",
        "rating-string",
        "yes-no-word",
        "yes-no-number",
        "text-too-long",
        "text-not-string",
    ],
)
def test_an_answer_its_field_cannot_take_is_rejected_by_name(client, admin_headers, org, database, answers, field):
    before = counts(database)

    response = client.post(URL, json={"technician_id": org.tina, **PERIOD, "answers": answers}, headers=admin_headers)

    assert_422(response, field)
    assert counts(database) == before


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"extra.jobs_checked": 21}, "answers.extra.jobs_checked"),
        ({"extra.jobs_checked": -1}, "answers.extra.jobs_checked"),
        ({"extra.jobs_checked": "ten"}, "answers.extra.jobs_checked"),
        ({"extra.jobs_checked": 10**400}, "answers.extra.jobs_checked"),
        ({"extra.tidiness": "spotless"}, "answers.extra.tidiness"),
    ],
    ids=["number-above-maximum", "number-below-minimum", "number-not-number", "number-huge", "choice-not-a-choice"],
)
def test_number_and_choice_answers_are_checked_against_their_field(extended, org, answers, field):
    body = {"technician_id": org.tina, **PERIOD, "answers": answers}

    assert_422(extended.client.post(URL, json=body, headers=extended.admin), field)


def test_number_and_choice_answers_are_scored_by_position(extended, org):
    answers = {"extra.jobs_checked": 5, "extra.tidiness": "fair"}
    body = {"technician_id": org.tina, **PERIOD, "answers": answers}

    created = extended.client.post(URL, json=body, headers=extended.admin)

    assert created.json["score"] == pytest.approx(100 * (2 * 0.25 + 1 * 0.5) / 3)


def test_submitting_without_a_required_answer_is_rejected_by_name(client, admin_headers, org, database):
    answers = {key: value for key, value in COMPLETE.items() if key != "quality.safety"}
    before = counts(database)

    response = client.post(
        URL,
        json={"technician_id": org.tina, **PERIOD, "answers": answers, "status": "submitted"},
        headers=admin_headers,
    )

    assert_422(response, "answers.quality.safety")
    assert counts(database) == before


def test_period_end_before_start_is_rejected(client, admin_headers, org, database):
    before = counts(database)
    body = {"technician_id": org.tina, "period_start": "2026-10-31", "period_end": "2026-10-01"}

    assert_422(client.post(URL, json=body, headers=admin_headers), "period_end")
    assert counts(database) == before


def test_unknown_technician_is_rejected(client, admin_headers, org):
    assert_422(client.post(URL, json={"technician_id": 999, **PERIOD}, headers=admin_headers), "technician_id")


def test_manager_may_not_evaluate_another_teams_technician(client, mandy, org, database):
    before = counts(database)

    assert_422(client.post(URL, json={"technician_id": org.tom, **PERIOD}, headers=mandy), "technician_id")
    assert counts(database) == before


def test_unknown_body_field_is_rejected(client, admin_headers, org):
    body = {"technician_id": org.tina, **PERIOD, "score": 100}

    assert_422(client.post(URL, json=body, headers=admin_headers), "score")


def test_only_draft_or_submitted_may_be_created(client, admin_headers, org):
    body = {"technician_id": org.tina, **PERIOD, "status": "acknowledged"}

    assert_422(client.post(URL, json=body, headers=admin_headers), "status")


def test_technicians_may_not_create_evaluations(client, tina, org):
    assert client.post(URL, json={"technician_id": org.tina, **PERIOD}, headers=tina).status_code == 403


# --- draft -> submitted -> acknowledged ---------------------------------------------------


def submit(client, headers: dict, evaluation_id: int):
    return client.post(f"{URL}/{evaluation_id}/submit", headers=headers)


def acknowledge(client, headers: dict, evaluation_id: int, **body):
    return client.post(f"{URL}/{evaluation_id}/acknowledge", json=body, headers=headers)


def test_draft_is_submitted_then_acknowledged_by_its_technician(client, create, org, mandy, tina):
    draft = create(org.tina, headers=mandy, answers=COMPLETE)

    submitted = submit(client, mandy, draft["id"])
    acknowledged = acknowledge(client, tina, draft["id"], comment="Fair; I will work on punctuality.")

    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "submitted"
    assert submitted.json["submitted_at"] is not None
    assert acknowledged.status_code == 200, acknowledged.json
    assert acknowledged.json["status"] == "acknowledged"
    assert acknowledged.json["acknowledged_at"] is not None
    assert acknowledged.json["technician_comment"] == "Fair; I will work on punctuality."


def test_submit_requires_every_required_answer(client, create, org, admin_headers):
    draft = create(org.tina, answers={"quality.workmanship": 4})

    assert_422(submit(client, admin_headers, draft["id"]), "answers.quality.cleanliness")
    assert client.get(f"{URL}/{draft['id']}", headers=admin_headers).json["status"] == "draft"


def test_only_a_draft_can_be_submitted(client, create, org, admin_headers):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert submit(client, admin_headers, evaluation["id"]).status_code == 409


def test_acknowledge_needs_no_comment(client, create, org, tina):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    response = acknowledge(client, tina, evaluation["id"])

    assert response.status_code == 200
    assert response.json["technician_comment"] is None


def test_acknowledge_and_revise_need_no_body(client, create, org, tina, admin_headers):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert client.post(f"{URL}/{evaluation['id']}/acknowledge", headers=tina).status_code == 200
    assert client.post(f"{URL}/{evaluation['id']}/revisions", headers=admin_headers).status_code == 201


def test_acknowledge_comment_is_at_most_2000_characters(client, create, org, tina):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert_422(acknowledge(client, tina, evaluation["id"], comment="x" * 2001), "comment")


def test_technician_cannot_acknowledge_another_technicians_evaluation(client, create, org, tom):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert acknowledge(client, tom, evaluation["id"]).status_code == 404


def test_managers_and_admins_cannot_acknowledge(client, create, org, mandy, admin_headers):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)

    assert acknowledge(client, mandy, evaluation["id"]).status_code == 403
    assert acknowledge(client, admin_headers, evaluation["id"]).status_code == 403


def test_only_a_submitted_evaluation_can_be_acknowledged(client, create, org, tina):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)
    acknowledge(client, tina, evaluation["id"])

    assert acknowledge(client, tina, evaluation["id"]).status_code == 409


def test_every_change_is_audited(client, create, org, mandy, tina, database):
    draft = create(org.tina, headers=mandy, answers=COMPLETE)
    submit(client, mandy, draft["id"])
    acknowledge(client, tina, draft["id"], comment="ok")

    with database.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "evaluation").order_by(AuditEntry.id)
        ).all()
    assert [(entry.action, entry.entity_id, entry.username) for entry in entries] == [
        ("create", str(draft["id"]), "mandy"),
        ("submit", str(draft["id"]), "mandy"),
        ("acknowledge", str(draft["id"]), "tina"),
    ]
    assert entries[1].changes["status"] == ["draft", "submitted"]
    assert entries[2].changes["technician_comment"] == [None, "ok"]


# --- editing drafts with ETags, deleting ---------------------------------------------------


def test_patch_changes_a_draft_and_replaces_its_answers(client, create, org, admin_headers):
    draft = create(org.tina, answers={"quality.workmanship": 1, "quality.safety": 2})
    etag = etag_of(client, admin_headers, draft["id"])

    response = client.patch(
        f"{URL}/{draft['id']}",
        json={"answers": {"quality.workmanship": 5}, "period_end": "2026-10-15"},
        headers=if_match(admin_headers, etag),
    )

    assert response.status_code == 200, response.json
    assert response.json["answers"] == {"quality.workmanship": 5}
    assert response.json["score"] == 100
    assert response.json["period_end"] == "2026-10-15"


def test_patch_without_if_match_answers_428(client, create, org, admin_headers):
    draft = create(org.tina)

    assert client.patch(f"{URL}/{draft['id']}", json={}, headers=admin_headers).status_code == 428


def test_patch_with_a_stale_etag_answers_412_and_changes_nothing(client, create, org, admin_headers):
    draft = create(org.tina)
    stale = etag_of(client, admin_headers, draft["id"])
    first = client.patch(
        f"{URL}/{draft['id']}", json={"answers": {"quality.safety": 3}}, headers=if_match(admin_headers, stale)
    )

    second = client.patch(
        f"{URL}/{draft['id']}", json={"answers": {"quality.safety": 1}}, headers=if_match(admin_headers, stale)
    )

    assert first.status_code == 200
    assert second.status_code == 412
    assert client.get(f"{URL}/{draft['id']}", headers=admin_headers).json["answers"] == {"quality.safety": 3}


def test_patch_checks_the_period_against_the_stored_start(client, create, org, admin_headers):
    draft = create(org.tina)
    etag = etag_of(client, admin_headers, draft["id"])

    response = client.patch(
        f"{URL}/{draft['id']}", json={"period_end": "2026-09-30"}, headers=if_match(admin_headers, etag)
    )

    assert_422(response, "period_end")


def test_a_submitted_evaluation_is_not_edited_in_place(client, create, org, admin_headers):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)
    etag = etag_of(client, admin_headers, evaluation["id"])

    response = client.patch(f"{URL}/{evaluation['id']}", json={"answers": {}}, headers=if_match(admin_headers, etag))

    assert response.status_code == 409


def test_a_draft_can_be_deleted_with_its_etag(client, create, org, admin_headers, database):
    draft = create(org.tina)
    etag = etag_of(client, admin_headers, draft["id"])

    assert client.delete(f"{URL}/{draft['id']}", headers=admin_headers).status_code == 428
    assert client.delete(f"{URL}/{draft['id']}", headers=if_match(admin_headers, etag)).status_code == 204
    assert client.get(f"{URL}/{draft['id']}", headers=admin_headers).status_code == 404
    with database.session() as session:
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)) == "delete"


def test_a_submitted_evaluation_cannot_be_deleted(client, create, org, admin_headers):
    evaluation = create(org.tina, status="submitted", answers=COMPLETE)
    etag = etag_of(client, admin_headers, evaluation["id"])

    assert client.delete(f"{URL}/{evaluation['id']}", headers=if_match(admin_headers, etag)).status_code == 409


# --- revisions ----------------------------------------------------------------------------


def revise(client, headers: dict, evaluation_id: int, **body):
    return client.post(f"{URL}/{evaluation_id}/revisions", json=body, headers=headers)


def test_a_revision_supersedes_a_submitted_evaluation_and_keeps_the_earlier(client, create, org, admin_headers):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    before = client.get(f"{URL}/{original['id']}", headers=admin_headers)

    revision = revise(client, admin_headers, original["id"], answers={**COMPLETE, "quality.safety": 5})

    assert revision.status_code == 201, revision.json
    assert revision.json["revision"] == 2
    assert revision.json["supersedes_id"] == original["id"]
    assert revision.json["status"] == "draft"
    assert revision.json["score"] > original["score"]
    after = client.get(f"{URL}/{original['id']}", headers=admin_headers)
    assert after.json == before.json
    assert after.headers["ETag"] == before.headers["ETag"]


def test_a_revision_copies_what_it_is_not_given(client, create, org, admin_headers):
    original = create(org.tina, status="submitted", answers=COMPLETE)

    revision = revise(client, admin_headers, original["id"], status="submitted").json

    assert revision["answers"] == original["answers"]
    assert (revision["period_start"], revision["period_end"]) == (original["period_start"], original["period_end"])
    assert revision["status"] == "submitted"


def test_an_acknowledged_evaluation_can_be_revised(client, create, org, admin_headers, tina):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    acknowledge(client, tina, original["id"])

    assert revise(client, admin_headers, original["id"]).status_code == 201


def test_only_the_latest_revision_can_be_revised(client, create, org, admin_headers):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    revise(client, admin_headers, original["id"], status="submitted")

    assert revise(client, admin_headers, original["id"]).status_code == 409


def test_a_draft_is_not_revised(client, create, org, admin_headers):
    assert revise(client, admin_headers, create(org.tina)["id"]).status_code == 409


def test_a_revision_is_validated_like_a_new_evaluation(client, create, org, admin_headers, database):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    before = counts(database)

    response = revise(client, admin_headers, original["id"], answers={"quality.safety": 9})

    assert_422(response, "answers.quality.safety")
    assert counts(database) == before


def test_a_superseded_evaluation_cannot_be_acknowledged(client, create, org, admin_headers, tina):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    revise(client, admin_headers, original["id"], status="submitted")

    assert acknowledge(client, tina, original["id"]).status_code == 409


# --- reading: scoping and filters ---------------------------------------------------------


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json}


@pytest.fixture
def mixed(create, org, mandy) -> SimpleNamespace:
    """Tina (North): a draft and a submitted one; Tom (South): a submitted one."""
    return SimpleNamespace(
        tina_draft=create(org.tina, headers=mandy)["id"],
        tina_submitted=create(org.tina, headers=mandy, status="submitted", answers=COMPLETE)["id"],
        tom_submitted=create(
            org.tom, status="submitted", answers=COMPLETE, period_start="2026-11-01", period_end="2026-11-30"
        )["id"],
    )


def test_admin_lists_every_evaluation(client, admin_headers, mixed):
    assert ids(client.get(URL, headers=admin_headers)) == {mixed.tina_draft, mixed.tina_submitted, mixed.tom_submitted}


def test_technician_lists_only_their_own_submitted_evaluations(client, tina, mixed):
    assert ids(client.get(URL, headers=tina)) == {mixed.tina_submitted}


def test_technician_cannot_read_a_draft_or_another_technicians_evaluation(client, tina, mixed):
    assert client.get(f"{URL}/{mixed.tina_submitted}", headers=tina).status_code == 200
    assert client.get(f"{URL}/{mixed.tina_draft}", headers=tina).status_code == 404
    assert client.get(f"{URL}/{mixed.tom_submitted}", headers=tina).status_code == 404


def test_manager_sees_only_their_teams_evaluations(client, mandy, mixed):
    assert ids(client.get(URL, headers=mandy)) == {mixed.tina_draft, mixed.tina_submitted}
    assert client.get(f"{URL}/{mixed.tom_submitted}", headers=mandy).status_code == 404


def test_manager_cannot_change_another_teams_evaluation(client, mandy, mixed):
    assert revise(client, mandy, mixed.tom_submitted).status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"technician": "tom"}, {"tom_submitted"}),
        ({"team": "north"}, {"tina_draft", "tina_submitted"}),
        ({"status": "submitted"}, {"tina_submitted", "tom_submitted"}),
        ({"period_from": "2026-11-01"}, {"tom_submitted"}),
        ({"period_to": "2026-10-31"}, {"tina_draft", "tina_submitted"}),
    ],
)
def test_list_filters(client, admin_headers, org, mixed, query, expected):
    params = {name: getattr(org, value, value) for name, value in query.items()}

    assert ids(client.get(URL, query_string=params, headers=admin_headers)) == {getattr(mixed, x) for x in expected}


def test_list_filters_latest_revisions(client, admin_headers, org, create):
    original = create(org.tina, status="submitted", answers=COMPLETE)
    revision = revise(client, admin_headers, original["id"]).json

    assert ids(client.get(URL, query_string={"latest": "true"}, headers=admin_headers)) == {revision["id"]}
    assert ids(client.get(URL, query_string={"latest": "false"}, headers=admin_headers)) == {original["id"]}


def test_list_sorts_by_score(client, admin_headers, org, create):
    low = create(org.tina, answers={"quality.workmanship": 1})["id"]
    high = create(org.tina, answers={"quality.workmanship": 5})["id"]

    listed = client.get(URL, query_string={"sort": "-score"}, headers=admin_headers).json

    assert [item["id"] for item in listed] == [high, low]
    assert "form_snapshot" not in listed[0]


# --- rating scales labelled -------------------------------------------------------------


def test_a_third_party_plugins_rating_scale_is_labelled_on_the_form(settings, database, admin_headers):
    from tests.test_dashboard_api import thirdparty_plugin

    plugins = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin())])
    client = create_app(settings, database=database, plugins=plugins).test_client()

    form = client.get(FORM, headers=admin_headers).json

    field = next(item for item in form["fields"] if item["key"] == "fixture.cancellations_explained")
    assert (field["plugin"], field["type"]) == ("fixture_cancellations", "rating")
    assert field["scale_labels"] == ["Never explains", "Always explains"]


def test_every_built_in_rating_field_says_what_its_ends_mean(client, admin_headers):
    form = client.get(FORM, headers=admin_headers).json

    ratings = [field for field in form["fields"] if field["type"] == "rating"]
    assert ratings and all(len(field["scale_labels"]) == 2 for field in ratings)


def test_an_evaluation_keeps_the_scale_labels_of_its_form(create, org):
    evaluation = create(org.tina)

    safety = next(field for field in evaluation["form_snapshot"] if field["key"] == "quality.safety")
    assert safety["scale_labels"] == ["Unsafe", "Safe every time"]


@pytest.mark.parametrize(
    "declaration",
    [
        {"type": "yes_no", "scale_labels": ("No", "Yes")},
        {"type": "rating", "scale_labels": ("Poor",)},
        {"type": "rating", "scale_labels": ("Poor", " ")},
        {"type": "rating", "scale_labels": ["Poor", "Excellent"]},
    ],
)
def test_scale_labels_are_two_words_on_a_rating_or_number_field(declaration):
    from kpi_core.declarations import DeclarationError

    with pytest.raises(DeclarationError, match="scale_labels"):
        FormField("acme.care", "Care", **declaration)


# --- every field error at once ------------------------------------------------------------


def test_every_missing_and_wrong_answer_is_reported_at_once(client, admin_headers, org, database):
    answers = {"quality.workmanship": 9, "quality.cleanliness": 4, "timeliness.paperwork_on_time": "yes"}
    before = counts(database)

    response = client.post(
        URL,
        json={"technician_id": org.tina, **PERIOD, "answers": answers, "status": "submitted"},
        headers=admin_headers,
    )

    assert response.status_code == 422, response.json
    errors = response.json["errors"]["json"]
    assert set(errors) == {
        "answers.quality.workmanship",
        "answers.quality.communication",
        "answers.quality.safety",
        "answers.timeliness.punctuality",
        "answers.timeliness.paperwork_on_time",
    }
    assert errors["answers.quality.safety"] == ["Choose a rating for Safety (required to submit)"]
    assert "from 1 to 5" in errors["answers.quality.workmanship"][0]
    assert counts(database) == before


def test_the_technician_the_period_and_the_answers_are_reported_together(client, admin_headers, org):
    body = {"technician_id": 999, "period_start": "2026-10-31", "period_end": "2026-10-01", "status": "submitted"}

    response = client.post(URL, json=body, headers=admin_headers)

    errors = response.json["errors"]["json"]
    assert {"technician_id", "period_end", "answers.quality.workmanship", "answers.timeliness.punctuality"} <= set(
        errors
    )


def test_fields_missing_from_the_body_are_reported_with_the_answers(client, admin_headers, org):
    response = client.post(URL, json={"status": "submitted", "answers": {}}, headers=admin_headers)

    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert errors["technician_id"] == ["Choose the technician you are evaluating"]
    assert errors["period_start"] == ["Enter the first day of the period"]
    assert "answers.quality.safety" in errors


def test_submitting_a_draft_reports_every_unanswered_field(client, create, org, admin_headers):
    draft = create(org.tina, answers={"quality.workmanship": 4})

    errors = submit(client, admin_headers, draft["id"]).json["errors"]["json"]

    assert set(errors) == {f"answers.{key}" for key in COMPLETE if key != "quality.workmanship"}


# --- idempotent create --------------------------------------------------------------------


def post_with_key(client, headers, key: str, **changes):
    body = {"technician_id": changes.pop("technician_id"), **PERIOD, "answers": COMPLETE, "status": "submitted"}
    return client.post(URL, json={**body, **changes}, headers={**headers, "Idempotency-Key": key})


def test_the_same_key_twice_creates_one_evaluation_and_answers_it_again(client, admin_headers, org, database):
    before = counts(database)

    first = post_with_key(client, admin_headers, "3f6c1a3e-key-1", technician_id=org.tina)
    again = post_with_key(client, admin_headers, "3f6c1a3e-key-1", technician_id=org.tina)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    evaluations, audit = counts(database)
    assert evaluations == before[0] + 1
    assert audit == before[1] + 1  # the replay changed nothing, so recorded nothing


def test_the_same_key_with_another_body_is_refused_by_name(client, admin_headers, org, database):
    post_with_key(client, admin_headers, "key-2", technician_id=org.tina)
    before = counts(database)

    response = post_with_key(client, admin_headers, "key-2", technician_id=org.tina, status="draft")

    assert response.status_code == 422
    assert "different request" in response.json["errors"]["headers"]["Idempotency-Key"][0]
    assert counts(database) == before


def test_a_key_is_one_users_own(client, admin_headers, mandy, org, database):
    before = counts(database)

    post_with_key(client, admin_headers, "shared-key", technician_id=org.tina)
    other = post_with_key(client, mandy, "shared-key", technician_id=org.tina)

    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert counts(database)[0] == before[0] + 2


def test_a_refused_request_does_not_use_up_its_key(client, admin_headers, org):
    refused = post_with_key(client, admin_headers, "key-3", technician_id=org.tina, answers={})
    corrected = post_with_key(client, admin_headers, "key-3", technician_id=org.tina)

    assert (refused.status_code, corrected.status_code) == (422, 201)


def test_without_a_key_two_posts_are_two_evaluations(client, admin_headers, org, database):
    before = counts(database)
    body = {"technician_id": org.tina, **PERIOD}

    client.post(URL, json=body, headers=admin_headers)
    client.post(URL, json=body, headers=admin_headers)

    assert counts(database)[0] == before[0] + 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_refused_by_name(client, admin_headers, org, key):
    response = client.post(
        URL,
        json={"technician_id": org.tina, **PERIOD},
        headers={**admin_headers, "Idempotency-Key": key.encode().decode("latin-1")},
    )

    assert response.status_code == 422, response.json
    assert "Idempotency-Key" in response.json["errors"]["headers"]


def test_the_key_of_a_deleted_draft_says_so(client, admin_headers, org):
    draft = post_with_key(client, admin_headers, "key-4", technician_id=org.tina, status="draft").json
    etag = etag_of(client, admin_headers, draft["id"])
    assert client.delete(f"{URL}/{draft['id']}", headers=if_match(admin_headers, etag)).status_code == 204

    response = post_with_key(client, admin_headers, "key-4", technician_id=org.tina, status="draft")

    assert response.status_code == 409
    assert "deleted" in response.json["message"]


def test_concurrent_requests_with_one_key_create_one_evaluation(app, admin_headers, org, database):
    from concurrent.futures import ThreadPoolExecutor

    before = counts(database)[0]

    def send(_: int):
        return post_with_key(app.test_client(), admin_headers, "key-race", technician_id=org.tina)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, range(4)))

    assert [answer.status_code for answer in answers] == [201] * 4
    assert len({answer.json["id"] for answer in answers}) == 1
    assert counts(database)[0] == before + 1


def test_the_key_header_is_documented(client):
    spec = client.get("/api/openapi.json").json
    parameters = spec["paths"]["/api/v1/evaluations"]["post"]["parameters"]

    header = next(item for item in parameters if item["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert "same key" in header["description"]
