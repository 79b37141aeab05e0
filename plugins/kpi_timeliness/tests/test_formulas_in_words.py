"""Each KPI's formula is read by people (the drill-down, the PDF's definitions): words, not code."""

from __future__ import annotations

import re

import pytest
from kpi_timeliness import kpi_metrics

CODE = re.compile(r"[A-Za-z]+_[A-Za-z_]+|<=|>=|[<>/*=]|\bmax\(|\bsum of\b|\bdistinct\b")
"""Column names (snake_case), comparison and arithmetic signs, SQL words."""


@pytest.mark.parametrize("metric", kpi_metrics(), ids=lambda metric: metric.key)
def test_the_formula_is_a_sentence_without_column_names_or_operators(metric):
    assert CODE.findall(metric.formula) == []
    assert metric.formula[0].isupper()
    assert len(metric.formula.split()) >= 8
