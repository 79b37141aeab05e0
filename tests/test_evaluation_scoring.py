"""Evaluation scores: a weighted mean of normalised answers, and the form's version and snapshot."""

import dataclasses

import pytest

from kpi_core.declarations import FormField
from kpi_core.evaluations.form import fields_from_snapshot
from kpi_core.evaluations.scoring import AnswerRejected, form_snapshot, form_version, score_answers

WORKMANSHIP = FormField("test.workmanship", "Workmanship", "rating", required=True, weight=3)
PAPERWORK = FormField("test.paperwork", "Paperwork on time", "yes_no", weight=1)
JOBS_CHECKED = FormField("test.jobs_checked", "Jobs checked", "number", weight=2, minimum=0, maximum=20)
TIDINESS = FormField("test.tidiness", "Tidiness", "choice", weight=2, choices=("poor", "fair", "good", "excellent"))
NOTES = FormField("test.notes", "Notes", "text", weight=0)
UNSCORED = FormField("test.unscored", "Asked, not scored", "rating", weight=0)
FORM = (WORKMANSHIP, PAPERWORK, JOBS_CHECKED, TIDINESS, NOTES, UNSCORED)


def test_rating_normalises_one_to_five_onto_zero_to_hundred():
    assert score_answers([WORKMANSHIP], {"test.workmanship": 1}) == 0
    assert score_answers([WORKMANSHIP], {"test.workmanship": 4}) == pytest.approx(75)
    assert score_answers([WORKMANSHIP], {"test.workmanship": 5}) == 100


def test_yes_no_scores_one_or_zero_and_accepts_bools_and_words():
    assert score_answers([PAPERWORK], {"test.paperwork": True}) == 100
    assert score_answers([PAPERWORK], {"test.paperwork": False}) == 0
    assert score_answers([PAPERWORK], {"test.paperwork": "Yes"}) == 100
    assert score_answers([PAPERWORK], {"test.paperwork": "no"}) == 0


def test_number_is_placed_between_its_minimum_and_maximum():
    assert score_answers([JOBS_CHECKED], {"test.jobs_checked": 5}) == pytest.approx(25)
    assert score_answers([JOBS_CHECKED], {"test.jobs_checked": 20}) == 100


def test_choice_scores_its_position_from_worst_to_best():
    assert score_answers([TIDINESS], {"test.tidiness": "poor"}) == 0
    assert score_answers([TIDINESS], {"test.tidiness": "good"}) == pytest.approx(200 / 3)
    assert score_answers([TIDINESS], {"test.tidiness": "excellent"}) == 100


def test_score_is_the_weighted_mean_of_all_scored_answers():
    answers = {
        "test.workmanship": 4,  # 0.75 x 3
        "test.paperwork": False,  # 0 x 1
        "test.jobs_checked": 10,  # 0.5 x 2
        "test.tidiness": "fair",  # 1/3 x 2
        "test.notes": "Good month.",
        "test.unscored": 1,
    }
    expected = 100 * (0.75 * 3 + 0 * 1 + 0.5 * 2 + (1 / 3) * 2) / (3 + 1 + 2 + 2)
    assert score_answers(FORM, answers) == pytest.approx(expected)  # 48.96
    assert score_answers(FORM, answers) == pytest.approx(48.958333)


def test_unanswered_fields_are_left_out_of_the_weights():
    # Only workmanship (weight 3, 0.5) and tidiness (weight 2, 1.0) answered: (1.5 + 2) / 5.
    answers = {"test.workmanship": 3, "test.tidiness": "excellent", "test.jobs_checked": None}
    assert score_answers(FORM, answers) == pytest.approx(70)


def test_text_and_weight_zero_fields_never_change_the_score():
    base = score_answers(FORM, {"test.workmanship": 5})
    assert base == 100
    assert score_answers(FORM, {"test.workmanship": 5, "test.notes": "x", "test.unscored": 1}) == base


def test_nothing_scored_gives_none():
    assert score_answers(FORM, {}) is None
    assert score_answers([NOTES, UNSCORED], {"test.notes": "fine", "test.unscored": 5}) is None
    assert score_answers([], {}) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (WORKMANSHIP, 6),
        (WORKMANSHIP, 0),
        (WORKMANSHIP, True),
        (WORKMANSHIP, "5"),
        (PAPERWORK, "maybe"),
        (PAPERWORK, 1),
        (JOBS_CHECKED, 21),
        (TIDINESS, "superb"),
    ],
)
def test_answers_a_field_cannot_take_are_rejected_naming_the_field(field, value):
    with pytest.raises(AnswerRejected) as caught:
        score_answers([field], {field.key: value})
    assert caught.value.key == field.key


def test_form_version_is_short_and_stable():
    version = form_version(FORM)
    assert version == form_version(list(FORM))
    assert len(version) == 12
    assert all(character in "0123456789abcdef" for character in version)


def test_form_version_changes_when_a_field_changes():
    reweighted = dataclasses.replace(WORKMANSHIP, weight=2)
    assert form_version([reweighted, *FORM[1:]]) != form_version(FORM)
    assert form_version(FORM[:-1]) != form_version(FORM)
    assert form_version(tuple(reversed(FORM))) != form_version(FORM)


def test_form_snapshot_keeps_every_declared_attribute_as_json_ready_values():
    snapshot = form_snapshot([TIDINESS, JOBS_CHECKED])
    assert snapshot[0] == {
        "key": "test.tidiness",
        "label": "Tidiness",
        "type": "choice",
        "required": False,
        "weight": 2,
        "help_text": "",
        "choices": ["poor", "fair", "good", "excellent"],
        "minimum": None,
        "maximum": None,
        "scale_labels": [],
        "asked_of_technicians": True,
    }
    assert (snapshot[1]["minimum"], snapshot[1]["maximum"]) == (0, 20)


def test_a_snapshot_from_before_the_technicians_flag_rebuilds_asked_of_technicians():
    older = {key: value for key, value in form_snapshot([TIDINESS])[0].items() if key != "asked_of_technicians"}

    assert fields_from_snapshot([older])[0].asked_of_technicians is True


def test_a_snapshot_can_be_turned_back_into_fields_that_score_the_same():
    answers = {"test.workmanship": 2, "test.paperwork": True, "test.tidiness": "good"}
    rebuilt = [FormField(**{**item, "choices": tuple(item["choices"])}) for item in form_snapshot(FORM)]
    assert score_answers(rebuilt, answers) == score_answers(FORM, answers)
    assert form_version(rebuilt) == form_version(FORM)
