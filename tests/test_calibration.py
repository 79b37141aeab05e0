"""Evaluator calibration (issue #21, point 6), computed by hand: two evaluators who scored the same
technicians for the same period, the leniency difference with its 95 % t interval, the correlation with
the KPI scorecards, scoping, and the empty and bad ranges."""

from __future__ import annotations

import math
from datetime import date
from types import SimpleNamespace

import pytest

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.evaluations import calibration
from kpi_core.evaluations.statistics import correlation_interval, pearson, t_interval, t_quantile
from kpi_core.storage.models import Evaluation, Team, Technician

URL = "/api/v1/evaluations/calibration"
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
RANGE = {"start": "2026-10-01", "end": "2026-12-31"}
T_975_2 = 4.302652729749752
"""Student's t, 0.975 quantile, 2 degrees of freedom (any table: 4.303)."""


@pytest.fixture
def org(database, make_user) -> SimpleNamespace:
    """North (Tina, Tess, Theo) managed by Mandy; South (Tom). Dana is an admin. For October, Dana scored
    Tina 80, Tess 70 and Theo 90; Mandy scored them 72, 60 and 85. Dana also scored Tom 50."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        people = {
            name: Technician(external_ref=name, name=name, team_id=(south if name == "Tom" else north).id)
            for name in ("Tina", "Tess", "Theo", "Tom")
        }
        session.add_all(people.values())
        session.flush()
        ids = SimpleNamespace(**{name.lower(): person.id for name, person in people.items()})
    ids.dana = make_user("admin", username="dana")
    ids.mandy = make_user("manager", username="mandy", teams=("North",))
    make_user("technician", username="tina", technician_ref="Tina")
    with database.session() as session:
        for evaluator, scores in ((ids.dana, (80, 70, 90)), (ids.mandy, (72, 60, 85))):
            for technician, score in zip((ids.tina, ids.tess, ids.theo), scores, strict=True):
                session.add(evaluation(technician, evaluator, score))
        session.add(evaluation(ids.tom, ids.dana, 50))
    return ids


def evaluation(technician: int, evaluator: int, score: float, period=OCTOBER, **fields) -> Evaluation:
    values = {"status": "submitted", "revision": 1, **fields}
    return Evaluation(
        technician_id=technician,
        evaluator_id=evaluator,
        period_start=period[0],
        period_end=period[1],
        form_version="v",
        form_snapshot=[],
        answers={},
        score=score,
        **values,
    )


def calibrated(client, headers, **query) -> dict:
    response = client.get(URL, query_string={**RANGE, **query}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def of(body: dict, name: str) -> dict:
    return next(row for row in body["evaluators"] if row["evaluator"] == name)


def test_two_evaluators_of_the_same_technicians_by_hand(client, org, login):
    body = calibrated(client, login("dana"))

    dana, mandy = of(body, "dana"), of(body, "mandy")
    # Dana: Tina, Tess, Theo and Tom; mean (80 + 70 + 90 + 50) / 4 = 72.5.
    assert (dana["evaluations"], dana["mean_score"], dana["technicians"]) == (4, 72.5, 4)
    # Paired with Mandy on Tina, Tess and Theo: differences 8, 10, 5 (Tom has no other evaluator).
    assert dana["paired"] == 3
    assert dana["paired_mean"] == pytest.approx(80)
    assert dana["others_mean"] == pytest.approx(217 / 3)
    assert dana["leniency"] == pytest.approx(23 / 3)
    # s = sqrt(((8 - 23/3)^2 + (10 - 23/3)^2 + (5 - 23/3)^2) / 2) = sqrt(19/3); t interval with 2 df.
    half = T_975_2 * math.sqrt(19 / 3) / math.sqrt(3)
    assert (dana["leniency_low"], dana["leniency_high"]) == (
        pytest.approx(23 / 3 - half),
        pytest.approx(23 / 3 + half),
    )
    assert (round(dana["leniency_low"], 2), round(dana["leniency_high"], 2)) == (1.42, 13.92)
    assert dana["leniency_note"] is None
    # Mandy mirrors Dana.
    assert (mandy["evaluations"], mandy["mean_score"], mandy["paired"]) == (3, pytest.approx(217 / 3), 3)
    assert mandy["leniency"] == pytest.approx(-23 / 3)
    assert mandy["leniency_high"] == pytest.approx(-23 / 3 + half)
    assert body["evaluations"] == 7
    assert body["reason"] is None


def test_a_manager_compares_over_their_teams_technicians_only(client, org, login):
    body = calibrated(client, login("mandy"))

    # Tom (South) is not Mandy's: Dana's evaluation of him is left out.
    assert (of(body, "dana")["evaluations"], of(body, "dana")["mean_score"]) == (3, 80)
    assert body["evaluations"] == 6


def test_drafts_and_superseded_revisions_are_left_out(client, org, login, database):
    with database.session() as session:
        session.add(evaluation(org.tina, org.mandy, 10, status="draft"))
        first = evaluation(org.tess, org.dana, 0)
        session.add(first)
        session.flush()
        session.add(evaluation(org.tess, org.dana, 40, revision=2, supersedes_id=first.id))

    dana = of(calibrated(client, login("dana")), "dana")

    # 80, 70, 90, 50 and the revision's 40: not the 0 it replaced, nor Mandy's draft.
    assert dana["evaluations"] == 5
    # Tess by Dana: the mean of her 70 and 40 (55) against Mandy's 60.
    assert dana["leniency"] == pytest.approx((8 + (55 - 60) + 5) / 3)


def test_too_few_comparisons_say_why_there_is_no_interval(client, org, login, database, make_user):
    otto = make_user("admin", username="otto")
    november = (date(2026, 11, 1), date(2026, 11, 30))
    with database.session() as session:
        session.add(evaluation(org.tina, org.dana, 60, period=november))
        session.add(evaluation(org.tina, org.mandy, 50, period=november))
        session.add(evaluation(org.theo, otto, 75, period=november))

    body = calibrated(client, login("dana"), start="2026-11-01", end="2026-11-30")

    dana, otto_row = of(body, "dana"), of(body, "otto")
    assert (dana["paired"], dana["leniency"], dana["leniency_low"]) == (1, 10, None)
    assert dana["leniency_note"] == calibration.ONE_PAIR
    assert (otto_row["paired"], otto_row["leniency"], otto_row["leniency_note"]) == (0, None, calibration.NO_PAIRS)


def test_a_range_with_no_evaluations_answers_why(client, org, login):
    body = calibrated(client, login("dana"), start="2025-01-01", end="2025-03-31")

    assert (body["evaluators"], body["evaluations"]) == ([], 0)
    assert "No submitted evaluations" in body["reason"]
    assert "2025-01-01" in body["reason"]


def test_a_range_that_ends_before_it_starts_is_refused(client, org, login):
    response = client.get(URL, query_string={"start": "2026-10-31", "end": "2026-10-01"}, headers=login("dana"))

    assert response.status_code == 422
    assert "end" in response.json["errors"]["query"]


def test_technicians_cannot_compare_evaluators(client, org, login):
    assert client.get(URL, query_string=RANGE, headers=login("tina")).status_code == 403


def test_without_jobs_there_is_no_correlation_and_it_says_why(client, org, login):
    dana = of(calibrated(client, login("dana")), "dana")

    assert (dana["kpi_pairs"], dana["kpi_correlation"]) == (0, None)
    assert "at least three" in dana["kpi_note"]


# --- the service with scorecard scores given, and the statistics ------------------------------


def test_correlation_with_the_scorecards_by_hand(database, org):
    scorecards = {org.tina: 50.0, org.tess: 45.0, org.theo: 70.0, org.tom: None}
    asked: list[tuple[date, date]] = []

    def scores(start: date, end: date) -> dict[int, float | None]:
        asked.append((start, end))
        return scorecards

    with database.session() as session:
        result = calibration.calibration(session, UNSCOPED, date(2026, 10, 1), date(2026, 12, 31), scores)

    dana = next(row for row in result.evaluators if row.evaluator == "dana")
    # Dana's 80, 70, 90 against 50, 45, 70 (Tom has no scorecard score): deviations (0, -10, 10) and
    # (-5, -10, 15); r = 250 / sqrt(200 * 350).
    assert dana.kpi_pairs == 3
    assert dana.kpi_correlation == pytest.approx(250 / math.sqrt(200 * 350))
    assert dana.kpi_correlation_low is None  # an interval needs four pairs
    assert asked == [OCTOBER]  # one scorecard per period, whoever asks


def test_t_quantiles_match_the_tables():
    for df, table in ((1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)):
        assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-2.776, abs=5e-4)


def test_a_t_interval_needs_two_values():
    assert t_interval([3.0]) is None
    low, high = t_interval([1.0, 3.0])
    assert (low, high) == (pytest.approx(2 - 12.706204736 * 1 / 1), pytest.approx(2 + 12.706204736))


def test_pearson_needs_three_varying_pairs():
    assert pearson([1, 2], [1, 2]) is None
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert correlation_interval(0.5, 3) is None
    low, high = correlation_interval(0.5, 28)
    assert low == pytest.approx(math.tanh(math.atanh(0.5) - 1.959964 / 5), abs=1e-6)
    assert high == pytest.approx(math.tanh(math.atanh(0.5) + 1.959964 / 5), abs=1e-6)


def test_evaluations_that_name_no_evaluator_are_said_to_be_so(client, org, login, database):
    with database.session() as session:
        session.add(evaluation(org.tina, None, 70, period=(date(2025, 5, 1), date(2025, 5, 31))))

    body = calibrated(client, login("dana"), start="2025-05-01", end="2025-05-31")

    assert body["evaluators"] == []
    assert body["reason"].startswith("The submitted evaluations with a period between 2025-05-01 and 2025-05-31")
    assert "name no evaluator" in body["reason"]
