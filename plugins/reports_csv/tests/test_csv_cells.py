"""The cell rules: formula neutralising and number formatting."""

from __future__ import annotations

import csv
import io
import math

import pytest
from reports_csv.cells import (
    fixed,
    kpi_part,
    kpi_value,
    margin,
    neutralise,
    status_words,
    text,
    true_false,
    unit_label,
    yes_no,
)


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_with_a_formula_trigger_gets_a_leading_quote(trigger):
    assert neutralise(trigger + "1+1") == "'" + trigger + "1+1"


def test_hyperlink_formula_comes_out_inert():
    assert neutralise('=HYPERLINK("http://x","click")') == '\'=HYPERLINK("http://x","click")'


@pytest.mark.parametrize("safe", ["José Núñez", "Team A", "", "a=b", " =1", "'quoted", "1-2"])
def test_text_not_starting_with_a_trigger_is_unchanged(safe):
    assert neutralise(safe) == safe


def test_a_formula_after_a_semicolon_comes_out_inert():
    assert neutralise("Bob;=HYPERLINK(…)") == "Bob;'=HYPERLINK(…)"


@pytest.mark.parametrize("splitter", [",", ";", "\t", "\n", "\r"])
@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_a_trigger_after_any_separator_or_line_end_gets_a_quote(splitter, trigger):
    assert neutralise(f"Bob{splitter}{trigger}cmd") == f"Bob{splitter}'{trigger}cmd"


def test_a_trigger_behind_quote_marks_after_a_separator_gets_a_quote():
    assert neutralise('Bob;"=cmd"') == 'Bob;\'"=cmd"'


def test_every_formula_in_a_cell_is_neutralised():
    assert neutralise("=a;=b,@c") == "'=a;'=b,'@c"


@pytest.mark.parametrize("safe", ["a; =b", "1-2", "Smith, Jones", "a;b", "10;20"])
def test_separators_not_followed_by_a_trigger_are_left_alone(safe):
    assert neutralise(safe) == safe


HOSTILE = [
    "Bob;=HYPERLINK(…)",
    'Bob;=HYPERLINK("http://evil.example","click")',
    "Ann,+1",
    "Tab\t@SUM(A1)",
    'Eve;"=cmd"',
    "Line\n-2+3",
    "=top",
]


def cells_read_back(writer_delimiter: str, reader_delimiter: str) -> list[str]:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=writer_delimiter)
    writer.writerow(
        [
            "first",
            *[text(value) for value in HOSTILE],
            kpi_value(-5.0, "stars", "USD"),
            kpi_part(-5.0, "", "USD"),
            "last",
        ]
    )
    reader = csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=reader_delimiter)
    return [cell for row in reader for cell in row]


@pytest.mark.parametrize("writer_delimiter", [",", ";"], ids=["comma-file", "semicolon-file"])
@pytest.mark.parametrize("reader_delimiter", [",", ";", "\t"], ids=["comma-reader", "semicolon-reader", "tab-reader"])
def test_no_reader_finds_a_formula_whatever_the_separators(writer_delimiter, reader_delimiter):
    for cell in cells_read_back(writer_delimiter, reader_delimiter):
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        assert not cell.startswith("-") or cell == "-5", cell  # only the number


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_reader_splitting_as_the_writer_gets_the_text_back_behind_its_quotes(delimiter):
    cells = cells_read_back(delimiter, delimiter)

    assert cells[1:3] == ["Bob;'=HYPERLINK(…)", 'Bob;\'=HYPERLINK("http://evil.example","click")']
    assert cells[-3:-1] == ["-5", "-5"]  # numbers stay numbers


def test_text_cell_is_empty_for_none_and_neutralised_otherwise():
    assert text(None) == ""
    assert text("@SUM(A1)") == "'@SUM(A1)"


def test_missing_numbers_are_empty_not_zero():
    assert kpi_value(None, "ratio", "USD") == ""
    assert kpi_part(None, "stars", "USD") == ""


def test_rates_are_percentages_to_one_decimal():
    assert kpi_value(5 / 6, "ratio", "USD") == "83.3"
    assert kpi_value(0.5, "ratio", "USD") == "50"
    assert kpi_value(1.0, "ratio", "USD") == "100"


def test_money_is_rounded_to_the_currencys_smallest_unit_and_keeps_its_cents():
    assert kpi_value(268.3, "currency", "USD") == "268.30"
    assert kpi_part(13264.880000000001, "currency", "USD") == "13264.88"
    assert kpi_value(1262.6, "currency", "JPY") == "1263"
    assert kpi_value(1.2345, "currency", "KWD") == "1.234"


def test_means_are_rounded_to_two_decimals():
    assert kpi_value(67.3076923076923, "points", "USD") == "67.31"
    assert kpi_value(4.5, "stars", "USD") == "4.5"
    assert kpi_value(12.0, "minutes", "USD") == "12"


def test_numerators_and_denominators_lose_a_floats_noise_but_counts_stay_whole():
    assert kpi_part(12.0, "ratio", "USD") == "12"
    assert kpi_part(0.1 + 0.2, "minutes", "USD") == "0.3"
    assert kpi_part(1234567.89, "minutes", "USD") == "1234567.89"


def test_units_are_named_as_a_reader_knows_them():
    assert unit_label("ratio", "EUR") == "%"
    assert unit_label("currency", "EUR") == "EUR"
    assert unit_label("jobs per day", "EUR") == "jobs per day"


def test_numbers_never_use_exponents_or_thousands_separators():
    assert fixed(1.2e-05, 6) == "0.000012"
    assert fixed(1e-07, 7) == "0.0000001"
    assert fixed(1234567.8, 2) == "1234567.8"


def test_negative_numbers_stay_plain_numbers():
    assert kpi_value(-0.25, "stars", "USD") == "-0.25"
    assert kpi_part(-3.0, "ratio", "USD") == "-3"
    assert float(kpi_value(-12.5, "minutes", "USD")) == -12.5


def test_negative_zero_is_written_as_zero():
    assert fixed(-0.0, 2) == "0"
    assert fixed(-1e-12, 2) == "0"
    assert fixed(-0.001, 2, keep_zeros=True) == "0.00"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        kpi_value(bad, "stars", "USD")
    with pytest.raises(ValueError, match="finite"):
        kpi_part(bad, "ratio", "USD")


# How far a value can be trusted, in words (issue #17)


@pytest.mark.parametrize(
    ("status", "complete", "certain", "expected"),
    [
        ("green", True, True, "green"),
        ("amber", False, True, "amber so far"),
        ("red", True, False, "red, borderline"),
        ("amber", False, False, "amber so far, borderline"),
        ("insufficient", False, None, "too few jobs"),
        (None, True, None, "no target"),
    ],
)
def test_a_status_is_worded_as_the_dashboard_words_it(status, complete, certain, expected):
    assert status_words(status, has_value=True, complete=complete, certain=certain) == expected


def test_a_status_in_words_is_neutralised():
    assert status_words("=1+1", has_value=True) == "'=1+1"


def test_a_margin_is_the_wider_side_of_the_interval_in_points_and_only_for_rates():
    assert margin(0.5, 0.45, 0.6, "ratio") == "10"
    assert margin(0.945, 0.912, 0.966, "ratio") == "3.3"
    assert margin(4.5, 4.0, 5.0, "stars") == ""
    assert margin(None, 0.1, 0.2, "ratio") == margin(0.5, None, None, "ratio") == ""


def test_flags_read_yes_no_for_people_and_true_false_for_scripts():
    assert [yes_no(True), yes_no(False), yes_no(None)] == ["yes", "no", ""]
    assert [true_false(True), true_false(False), true_false(None)] == ["true", "false", ""]
