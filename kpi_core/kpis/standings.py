"""Ranks among peers: competition ranks of technicians by score or by one KPI, in a group.

A scorecard ranks a technician three ways: among the technicians the answer
lists (what a leaderboard shows), among their team, and among the whole
company. The team and company ranks are computed over every technician,
whatever the caller may see, and a caller who may not see the peers gets
only the rank and the number ranked, never the peers' rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Standing:
    """A rank (None: not ranked) among ``of`` ranked technicians."""

    rank: int | None
    of: int


@dataclass(frozen=True)
class Peers:
    """Where a technician stands in their team (None without a team) and in the company."""

    team: Standing | None
    company: Standing


def competition_ranks(values: Iterable[tuple[K, float]], *, higher_first: bool = True) -> dict[K, int]:
    """Competition ranks ("1, 1, 3") of ``(key, value)`` pairs: equal values share a rank, the next skips.

    Keys that compare equal on value keep their relative order in the output's
    ranks only (ties share the rank, so their order does not matter).
    """
    ordered = sorted(values, key=lambda item: -item[1] if higher_first else item[1])
    ranks: dict[K, int] = {}
    previous: float | None = None
    rank = 0
    for position, (key, value) in enumerate(ordered, start=1):
        if value != previous:
            rank, previous = position, value
        ranks[key] = rank
    return ranks


Ranks = tuple[dict[K, int], dict[K, int], dict[int, int]]
"""Company ranks, ranks within each team, and the number ranked per team (see :func:`group_ranks`)."""


def peers_of(key: K, team_of: dict[K, int | None], ranks: Ranks[K]) -> Peers:
    """Where ``key`` stands, from the :func:`group_ranks` of its peers."""
    company, within, sizes = ranks
    team = team_of.get(key)
    team_standing = None if team is None else Standing(within.get(key), sizes.get(team, 0))
    return Peers(team=team_standing, company=Standing(company.get(key), len(company)))


def group_ranks(eligible: dict[K, float], team_of: dict[K, int | None], *, higher_first: bool = True) -> Ranks[K]:
    """Company ranks, ranks within each team, and the number ranked per team, of the ``eligible`` values."""
    company = competition_ranks(eligible.items(), higher_first=higher_first)
    by_team: dict[int, list[tuple[K, float]]] = {}
    for key, value in eligible.items():
        team = team_of.get(key)
        if team is not None:
            by_team.setdefault(team, []).append((key, value))
    within: dict[K, int] = {}
    for members in by_team.values():
        within.update(competition_ranks(members, higher_first=higher_first))
    return company, within, {team: len(members) for team, members in by_team.items()}
