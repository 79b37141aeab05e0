"""The cell rules: formula neutralising and number formatting."""

from __future__ import annotations

import csv
import io
import math

import pytest
from reports_csv.cells import exact, neutralise, rounded, text


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
    writer.writerow(["first", *[text(value) for value in HOSTILE], rounded(-5.0), exact(-5.0), "last"])
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
    assert rounded(None) == ""
    assert exact(None) == ""


def test_rates_are_fractions_with_six_significant_digits():
    assert rounded(5 / 6) == "0.833333"
    assert rounded(0.5) == "0.5"
    assert rounded(1.0) == "1"


def test_numbers_never_use_exponents():
    assert rounded(1.2e-05) == "0.000012"
    assert exact(1e-07) == "0.0000001"
    assert rounded(1234567.8) == "1234570"


def test_negative_numbers_stay_plain_numbers():
    assert rounded(-0.25) == "-0.25"
    assert exact(-3.0) == "-3"
    assert float(rounded(-12.5)) == -12.5


def test_numerator_and_denominator_are_exact_and_whole_numbers_have_no_decimal_point():
    assert exact(12.0) == "12"
    assert exact(1234567.89) == "1234567.89"
    assert float(exact(0.1 + 0.2)) == 0.1 + 0.2


def test_negative_zero_is_written_as_zero():
    assert rounded(-0.0) == "0"
    assert rounded(-1e-12, significant=1) == "-0.000000000001"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        rounded(bad)
    with pytest.raises(ValueError, match="finite"):
        exact(bad)
