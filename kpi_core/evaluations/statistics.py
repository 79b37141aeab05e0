"""The few statistics evaluator calibration needs: a t interval of a mean and Pearson's correlation.

Written out (no SciPy): Student's t quantile by bisection on its distribution
function, which is a regularised incomplete beta function evaluated by its
continued fraction (Numerical Recipes, section 6.4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kpi_core.kpis.stats import Z_95


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The ``confidence`` t interval of the mean of ``values`` (None for fewer than two):
    mean ± t(1 - (1 - confidence)/2, n - 1) · s / √n, with s the sample standard deviation."""
    n = len(values)
    if n < 2:
        return None
    centre = mean(values)
    spread = math.sqrt(math.fsum((value - centre) ** 2 for value in values) / (n - 1))
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * spread / math.sqrt(n)
    return centre - half, centre + half


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation of paired values; None for fewer than three pairs or a constant side."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    mx, my = mean(xs), mean(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def correlation_interval(r: float | None, n: int) -> tuple[float, float] | None:
    """The 95 % interval of a correlation ``r`` over ``n`` pairs by Fisher's z (None for fewer than four)."""
    if r is None or n < 4:
        return None
    if abs(r) >= 1:
        return r, r
    z, half = math.atanh(r), Z_95 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1)."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError("p must be in (0, 1) and df above 0")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result
