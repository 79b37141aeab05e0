"""The cell rules: formula neutralising and number formatting."""

from __future__ import annotations

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
