"""The statistics attached to a KPI value: its Wilson interval and its traffic-light status."""

from __future__ import annotations

import math
from typing import Protocol


class Thresholds(Protocol):
    """A target's thresholds: a declared ``Target`` or a stored one."""

    @property
    def green(self) -> float: ...

    @property
    def amber(self) -> float: ...


DEFAULT_STATUS_MIN_SAMPLE = 10
"""Fewest facts in a sample for a status, unless KPI_STATUS_MIN_SAMPLE or the KPI says otherwise."""
INSUFFICIENT = "insufficient"
"""The status of a value whose sample is below its KPI's minimum: too few jobs to judge."""

Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: a two-sided 95% interval."""


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes / trials`` (None without trials).

    Unlike the normal approximation it stays inside [0, 1] and is sensible
    for small samples and for rates of 0 or 1 (8 of 10 gives 0.4902..0.9433).
    """
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def status_of(value: float | None, target: Thresholds | None, direction: str) -> str | None:
    """``green``, ``amber`` or ``red`` for ``value`` against ``target`` (None if either is missing).

    With direction ``higher`` a value at or above green is green, at or above
    amber is amber; with ``lower`` the comparisons are reversed.
    """
    if value is None or target is None:
        return None
    if direction == "higher":
        if value >= target.green:
            return "green"
        return "amber" if value >= target.amber else "red"
    if value <= target.green:
        return "green"
    return "amber" if value <= target.amber else "red"
