"""Appraisals that use the numbers (issue #21, points 4 and 5): the evaluation form shows the technician's
KPI values for the period and the evaluation keeps them; technicians appraise themselves, their managers see
it beside their own answers, and the final score is made by the company's declared formula.

The app's clock is frozen on 15 November 2026 (UTC): October is over, November is not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kpi_core.declarations import DeclarationError, FormField
from kpi_core.storage.models import Feedback, Job, SelfAppraisal, Team, Technician
from kpi_core.web.state import EXTENSION_KEY

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
OCTOBER = {"period_start": "2026-10-01", "period_end": "2026-10-31"}
NOVEMBER = {"period_start": "2026-11-01", "period_end": "2026-11-30"}
FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
NUMBERS = "/api/v1/evaluations/kpi-values"
SELF = "/api/v1/self-appraisals"
SETTINGS = "/api/v1/plugins/settings"
MANAGER_ANSWERS = {
    "quality.workmanship": 5,
    "quality.cleanliness": 4,
    "quality.communication": 3,
    "quality.safety": 4,
    "timeliness.punctuality": 2,
    "timeliness.paperwork_on_time": True,
    "core.overall_comment": "Solid month.",
}
SELF_ANSWERS = {
    "quality.workmanship": 4,
    "quality.cleanliness": 4,
    "quality.communication": 4,
    "quality.safety": 5,
    "timeliness.punctuality": 4,
    "timeliness.paperwork_on_time": False,
}


@pytest.fixture
def org(database, make_user, app) -> SimpleNamespace:
    """North (Tina, Tess) managed by Mandy; South (Tom). Tina's October: jobs on the 3rd, 6th and 9th fixed
    the first time (rated 5, 4, 5), one on the 7th called back on the 10th, and one on the 25th whose
    30-day callback window is still open on 15 November."""
    app.extensions[EXTENSION_KEY].clock = lambda: NOW
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        tina = Technician(external_ref="T1", name="Tina", team_id=north.id)
        tess = Technician(external_ref="T3", name="Tess", team_id=north.id)
        tom = Technician(external_ref="T2", name="Tom", team_id=south.id)
        session.add_all([tina, tess, tom])
        session.flush()
        ids = SimpleNamespace(north=north.id, tina=tina.id, tess=tess.id, tom=tom.id)
    jobs = Jobs(database)
    for day, rating in ((3, 5), (6, 4), (9, 5)):
        jobs.add(ids.tina, datetime(2026, 10, day, 15, tzinfo=UTC), rating=rating)
    jobs.add(ids.tina, datetime(2026, 10, 7, 15, tzinfo=UTC), called_back=True)
    jobs.add(ids.tina, datetime(2026, 10, 25, 15, tzinfo=UTC))
    ids.jobs = jobs
    make_user("manager", username="mandy", teams=("North",))
    make_user("technician", username="tina", technician_ref="T1")
    make_user("technician", username="tom", technician_ref="T2")
    return ids


class Jobs:
    def __init__(self, database) -> None:
        self.database = database
        self.count = 0

    def add(self, technician: int, done: datetime, *, rating: int | None = None, called_back: bool = False) -> None:
        self.count += 1
        with self.database.session() as session:
            job = Job(
                external_ref=f"J-{self.count}",
                technician_id=technician,
                category="plumbing",
                status="completed",
                completed_at=done,
            )
            session.add(job)
            session.flush()
            if rating is not None:
                session.add(Feedback(job_id=job.id, rating=rating, received_at=done))
            if called_back:
                session.add(
                    Job(
                        external_ref=f"J-{self.count}-back",
                        technician_id=technician,
                        category="plumbing",
                        status="scheduled",
                        scheduled_start=done + timedelta(days=3),
                        callback_of_id=job.id,
                    )
                )


@pytest.fixture
def mandy(org, login) -> dict[str, str]:
    return login("mandy")


@pytest.fixture
def tina(org, login) -> dict[str, str]:
    return login("tina")


@pytest.fixture
def tom(org, login) -> dict[str, str]:
    return login("tom")


def numbers(client, headers, technician: int, period: dict) -> dict:
    response = client.get(NUMBERS, query_string={"technician": technician, **period}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def by_kpi(snapshot: dict) -> dict[str, dict]:
    return {row["kpi"]: row for row in snapshot["kpis"]}


def evaluate(client, headers, technician: int, period: dict = OCTOBER, **fields) -> dict:
    body = {"technician_id": technician, **period, "answers": MANAGER_ANSWERS, "status": "submitted", **fields}
    response = client.post("/api/v1/evaluations", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return client.get(f"/api/v1/evaluations/{response.json['id']}", headers=headers).json


def appraise(client, headers, period: dict = OCTOBER, **fields) -> dict:
    body = {**period, "answers": SELF_ANSWERS, "status": "submitted", "comment": "A busy month.", **fields}
    response = client.post(SELF, json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def put_setting(client, admin_headers, key: str, value) -> None:
    response = client.put(f"{SETTINGS}/{key}", json={"value": value}, headers=admin_headers)
    assert response.status_code == 200, response.json


# --- the numbers beside the questions ---------------------------------------------------------


def test_the_form_shows_the_periods_kpi_values_with_samples_targets_and_honest_marks(client, mandy, org):
    snapshot = numbers(client, mandy, org.tina, OCTOBER)

    assert (snapshot["technician"], snapshot["team"], snapshot["period_end"]) == ("Tina", "North", "2026-10-31")
    assert snapshot["complete"] is True
    ftf = by_kpi(snapshot)[FTF]
    # Settled by 15 November: the 3rd, 6th and 9th fixed, the 7th called back; the 25th is still pending.
    assert (ftf["numerator"], ftf["denominator"], ftf["value"]) == (3, 4, 0.75)
    assert (ftf["provisional"], ftf["pending"], ftf["provisional_note"]) == (True, 1, "Callback window still open")
    # Four jobs are too few to judge against the target (KPI_STATUS_MIN_SAMPLE is 10): "too few jobs".
    assert ftf["status"] == "insufficient"
    assert ftf["target"] == {"green": 0.9, "amber": 0.8}
    assert (ftf["label"], ftf["unit"], ftf["direction"], ftf["source"]) == (
        "First-time fix rate",
        "ratio",
        "higher",
        "jobs",
    )
    rating = by_kpi(snapshot)[RATING]
    assert (rating["numerator"], rating["denominator"]) == (14, 3)
    assert rating["value"] == pytest.approx(14 / 3)


def test_the_team_value_is_shown_only_where_it_tells_nobody_a_colleagues_number(client, mandy, org):
    # North has two technicians: its value would tell Tina (who reads the evaluation later) Tess's.
    assert {row["team_value"] for row in numbers(client, mandy, org.tina, OCTOBER)["kpis"]} == {None}


def test_a_period_under_way_is_marked_so_far(client, mandy, org):
    org.jobs.add(org.tina, datetime(2026, 11, 3, 15, tzinfo=UTC), rating=3)

    snapshot = numbers(client, mandy, org.tina, NOVEMBER)

    assert snapshot["complete"] is False
    assert by_kpi(snapshot)[RATING]["complete"] is False
    assert by_kpi(snapshot)[RATING]["value"] == 3


def test_every_kpi_is_listed_even_without_jobs(client, mandy, org, plugins):
    snapshot = numbers(client, mandy, org.tess, OCTOBER)

    assert [row["kpi"] for row in snapshot["kpis"]] == list(plugins.metrics)
    assert by_kpi(snapshot)[FTF]["value"] is None
    assert by_kpi(snapshot)[FTF]["denominator"] == 0


def test_the_numbers_of_a_technician_one_may_not_see_are_not_found(client, mandy, tina, org):
    assert client.get(NUMBERS, query_string={"technician": org.tom, **OCTOBER}, headers=mandy).status_code == 404
    assert client.get(NUMBERS, query_string={"technician": org.tom, **OCTOBER}, headers=tina).status_code == 404
    assert client.get(NUMBERS, query_string={"technician": org.tina, **OCTOBER}, headers=tina).status_code == 200


def test_numbers_of_a_period_that_ends_before_it_starts_are_refused(client, mandy, org):
    backwards = {"period_start": "2026-10-31", "period_end": "2026-10-01"}

    response = client.get(NUMBERS, query_string={"technician": org.tina, **backwards}, headers=mandy)

    assert response.status_code == 422
    assert "period_end" in response.json["errors"]["query"]


def test_a_submitted_evaluation_keeps_the_numbers_the_evaluator_saw(client, mandy, org):
    shown = numbers(client, mandy, org.tina, OCTOBER)

    kept = evaluate(client, mandy, org.tina)["kpi_snapshot"]

    assert {**kept, "taken_at": None} == {**shown, "taken_at": None}


def test_a_late_job_does_not_change_what_the_evaluation_kept(client, mandy, org):
    evaluation = evaluate(client, mandy, org.tina)
    org.jobs.add(org.tina, datetime(2026, 10, 12, 15, tzinfo=UTC), rating=1)

    now_shown = by_kpi(numbers(client, mandy, org.tina, OCTOBER))[RATING]
    kept = client.get(f"/api/v1/evaluations/{evaluation['id']}", headers=mandy).json["kpi_snapshot"]

    assert now_shown["denominator"] == 4
    assert by_kpi(kept)[RATING]["denominator"] == 3


def test_a_draft_shows_the_numbers_live_and_keeps_them_when_submitted(client, mandy, org):
    body = {"technician_id": org.tina, **OCTOBER, "answers": MANAGER_ANSWERS}
    draft = client.post("/api/v1/evaluations", json=body, headers=mandy).json
    assert draft["kpi_snapshot"] is None

    submitted = client.post(f"/api/v1/evaluations/{draft['id']}/submit", headers=mandy).json

    assert by_kpi(submitted["kpi_snapshot"])[FTF]["denominator"] == 4


def test_the_technician_reads_the_numbers_on_their_evaluation(client, mandy, tina, org):
    evaluation = evaluate(client, mandy, org.tina)

    read = client.get(f"/api/v1/evaluations/{evaluation['id']}", headers=tina).json

    assert by_kpi(read["kpi_snapshot"])[FTF]["value"] == 0.75


def test_listed_evaluations_leave_the_numbers_out(client, mandy, org):
    evaluate(client, mandy, org.tina)

    listed = client.get("/api/v1/evaluations", headers=mandy).json

    assert "kpi_snapshot" not in listed[0]


# --- self-appraisal ---------------------------------------------------------------------------


def test_the_self_appraisal_form_asks_only_the_questions_asked_of_technicians(client, tina, plugins):
    form = client.get(f"{SELF}/form", headers=tina).json

    asked = [key for key, field in plugins.form_fields.items() if field.asked_of_technicians]
    assert [field["key"] for field in form["fields"]] == asked
    assert "core.overall_comment" not in asked


def test_asked_of_technicians_must_be_a_boolean():
    with pytest.raises(DeclarationError, match="asked_of_technicians"):
        FormField("extra.q", "Q", "rating", asked_of_technicians="yes")  # type: ignore[arg-type]


def test_a_technician_appraises_themselves_and_their_manager_sees_it(client, tina, mandy, org):
    mine = appraise(client, tina)
    assert (mine["technician_id"], mine["status"], mine["comment"]) == (org.tina, "submitted", "A busy month.")
    assert mine["score"] is not None
    assert by_kpi(mine["kpi_snapshot"])[FTF]["value"] == 0.75

    seen = client.get(SELF, query_string={"technician": org.tina, **OCTOBER}, headers=mandy).json

    assert [item["id"] for item in seen] == [mine["id"]]
    full = client.get(f"{SELF}/{mine['id']}", headers=mandy).json
    assert full["answers"] == SELF_ANSWERS


def test_the_evaluation_keeps_the_self_appraisal_beside_it(client, tina, mandy, org):
    mine = appraise(client, tina)

    evaluation = evaluate(client, mandy, org.tina)

    assert (evaluation["self_appraisal_id"], evaluation["self_score"]) == (mine["id"], mine["score"])
    # The company's formula by default: the manager's score alone.
    assert (evaluation["final_formula"], evaluation["final_score"]) == ("manager_only", evaluation["score"])


def test_a_manager_does_not_see_a_technicians_draft(client, tina, mandy, org):
    draft = appraise(client, tina, status="draft")

    assert client.get(SELF, headers=mandy).json == []
    assert client.get(f"{SELF}/{draft['id']}", headers=mandy).status_code == 404
    assert client.get(SELF, headers=tina).json[0]["id"] == draft["id"]
    assert evaluate(client, mandy, org.tina)["self_appraisal_id"] is None


def test_a_draft_is_changed_and_then_submitted(client, tina, org):
    draft = appraise(client, tina, status="draft", answers={"quality.workmanship": 3})
    etag = client.get(f"{SELF}/{draft['id']}", headers=tina).headers["ETag"]

    response = client.patch(
        f"{SELF}/{draft['id']}",
        json={"answers": SELF_ANSWERS, "status": "submitted"},
        headers={**tina, "If-Match": etag},
    )

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["answers"]) == ("submitted", SELF_ANSWERS)
    etag = client.get(f"{SELF}/{draft['id']}", headers=tina).headers["ETag"]
    again = client.patch(f"{SELF}/{draft['id']}", json={"comment": "x"}, headers={**tina, "If-Match": etag})
    assert again.status_code == 409


def test_the_final_score_is_the_mean_when_the_company_says_so(client, tina, mandy, admin_headers, org):
    put_setting(client, admin_headers, "core.final_score_formula", "mean")
    mine = appraise(client, tina)

    evaluation = evaluate(client, mandy, org.tina)

    assert evaluation["final_formula"] == "mean"
    assert evaluation["final_score"] == pytest.approx((evaluation["score"] + mine["score"]) / 2)


def test_the_final_score_is_weighted_by_the_declared_share(client, tina, mandy, admin_headers, org):
    put_setting(client, admin_headers, "core.final_score_formula", "weighted")
    put_setting(client, admin_headers, "core.self_appraisal_weight", 40)
    mine = appraise(client, tina)

    evaluation = evaluate(client, mandy, org.tina)

    assert (evaluation["final_formula"], evaluation["self_weight"]) == ("weighted", 0.4)
    assert evaluation["final_score"] == pytest.approx(0.6 * evaluation["score"] + 0.4 * mine["score"])


def test_the_formula_is_one_of_the_declared_options_never_code(client, admin_headers, org):
    response = client.put(f"{SETTINGS}/core.final_score_formula", json={"value": "score * 2"}, headers=admin_headers)

    assert response.status_code == 422


def test_without_a_self_appraisal_the_final_score_is_the_managers(client, mandy, admin_headers, org):
    put_setting(client, admin_headers, "core.final_score_formula", "mean")

    evaluation = evaluate(client, mandy, org.tina)

    assert (evaluation["final_formula"], evaluation["final_score"]) == ("manager_only", evaluation["score"])


# --- bad input --------------------------------------------------------------------------------


def test_a_self_appraisal_for_another_technician_is_forbidden(client, tina, org, database):
    for someone in (org.tom, org.tess, 999_999):
        response = client.post(SELF, json={"technician_id": someone, **OCTOBER, "answers": SELF_ANSWERS}, headers=tina)
        assert response.status_code == 403, response.json
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(SelfAppraisal)) == 0


def test_a_manager_cannot_appraise_themselves(client, mandy, admin_headers, org):
    body = {"technician_id": org.tina, **OCTOBER, "answers": SELF_ANSWERS}

    assert client.post(SELF, json=body, headers=mandy).status_code == 403
    assert client.post(SELF, json=body, headers=admin_headers).status_code == 403


def test_another_technicians_self_appraisal_is_not_found(client, tina, tom):
    mine = appraise(client, tina)

    assert client.get(f"{SELF}/{mine['id']}", headers=tom).status_code == 404
    assert client.patch(f"{SELF}/{mine['id']}", json={}, headers={**tom, "If-Match": "x"}).status_code == 404


def test_a_period_still_open_is_refused_unless_the_company_allows_it(client, tina, admin_headers, org):
    response = client.post(SELF, json={**NOVEMBER, "answers": SELF_ANSWERS}, headers=tina)

    assert response.status_code == 422
    assert "has not ended" in response.json["errors"]["json"]["period_end"][0]

    put_setting(client, admin_headers, "core.self_appraisal_before_period_end", True)
    assert client.post(SELF, json={**NOVEMBER, "answers": SELF_ANSWERS}, headers=tina).status_code == 201


def test_one_self_appraisal_per_period(client, tina):
    appraise(client, tina, status="draft")

    response = client.post(SELF, json={**OCTOBER, "answers": {}}, headers=tina)

    assert response.status_code == 409
    assert "period_start" in response.json["errors"]["json"]


def test_a_question_not_asked_of_technicians_is_refused_with_every_other_problem(client, tina):
    answers = {**SELF_ANSWERS, "core.overall_comment": "Me", "quality.safety": 9}

    response = client.post(SELF, json={**NOVEMBER, "answers": answers, "status": "submitted"}, headers=tina)

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {
        "period_end",
        "answers.quality.safety",
        "answers.core.overall_comment",
    }


def test_submitting_needs_every_required_question(client, tina):
    response = client.post(
        SELF, json={**OCTOBER, "answers": {"quality.workmanship": 4}, "status": "submitted"}, headers=tina
    )

    assert response.status_code == 422
    assert "answers.quality.safety" in response.json["errors"]["json"]


def test_a_self_appraisal_is_audited(client, tina, database):
    from kpi_core.storage.models import AuditEntry

    mine = appraise(client, tina)

    with database.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "self_appraisal")).all()
        assert [(entry.action, entry.entity_id) for entry in entries] == [("create", str(mine["id"]))]


def test_a_period_too_long_for_a_scorecard_still_shows_its_numbers(client, mandy, org):
    decades = {"period_start": "1970-01-01", "period_end": "2069-12-31"}

    snapshot = numbers(client, mandy, org.tina, decades)

    assert snapshot["score"] is None  # a scorecard covers at most 1,000 months
    assert by_kpi(snapshot)[RATING]["denominator"] == 3
