"""A job's crew: who worked it, in which role, with what share of the credit.

The one set of rules every writer of crews follows (the jobs API, imports, the demo):

- a crew has one or more technicians, none twice;
- exactly one is the ``lead``; in a crew of one, that one is the lead unless said otherwise; in a
  larger crew a member without a role is a ``helper``;
- shares are above 0 and sum to 1; members without a share split what the others leave equally
  (so by default every member has an equal share).

:func:`parse_crew` reads the ``technicians`` import column (``T001:lead;T002`` or
``T001:lead:0.6;T002:helper:0.4``); :func:`settle_crew` checks and completes a crew whatever its
source; :func:`crew_rows` gives the ``job_assignments`` rows of a settled crew.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kpi_core.storage.models import CREW_ROLES

K = TypeVar("K", bound=Hashable)

MAX_CREW = 20
"""The most technicians one job can have: a larger crew is a typing error, not a job."""
SHARE_TOLERANCE = 1e-6
"""How far from 1 the shares may sum (rounded decimals such as 0.33;0.33;0.34 sum exactly; 1/3 does not)."""


class CrewProblem(ValueError):
    """A crew that breaks a rule; the message says which, in words, and ``member`` which member (0-based)."""

    def __init__(self, message: str, member: int | None = None) -> None:
        super().__init__(message)
        self.member = member


@dataclass(frozen=True)
class CrewMember(Generic[K]):
    """One technician on a crew: ``technician`` is their reference (an id, or an external ref while
    parsing); ``role`` and ``share`` are None where not given (before :func:`settle_crew`)."""

    technician: K
    role: str | None = None
    share: float | None = None


def parse_crew(text: str) -> list[CrewMember[str]]:
    """The members of a ``technicians`` cell: items ``ref[:role][:share]`` separated by ``;``.

    Raises CrewProblem for an empty item, an unknown role or a share that is not a number.
    Only the syntax is checked here; :func:`settle_crew` checks the crew.
    """
    members: list[CrewMember[str]] = []
    items = [item.strip() for item in text.split(";")]
    if items and items[-1] == "":
        items.pop()  # a trailing ";" as spreadsheets write it
    for index, item in enumerate(items):
        parts = [part.strip() for part in item.split(":")]
        if not parts[0]:
            raise CrewProblem(f"item {index + 1} has no technician (write ref[:role][:share], separated by ;)", index)
        if len(parts) > 3:
            raise CrewProblem(f"{item!r} has too many parts (write ref[:role][:share])", index)
        role = parts[1].lower() if len(parts) > 1 and parts[1] else None
        if role is not None and role not in CREW_ROLES:
            message = f"{parts[0]}'s role {parts[1]!r} is not one of {', '.join(CREW_ROLES)}"
            if _number(parts[1]) and len(parts) == 2:
                message += f" (a share without a role is written {parts[0]}::{parts[1]})"
            raise CrewProblem(message, index)
        share = None
        if len(parts) > 2 and parts[2]:
            try:
                share = float(parts[2])
            except ValueError:
                raise CrewProblem(f"{parts[0]}'s share {parts[2]!r} is not a number such as 0.5", index) from None
        members.append(CrewMember(parts[0], role, share))
    return members


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def settle_crew(members: Sequence[CrewMember[K]], label: Any = str) -> list[CrewMember[K]]:
    """The crew with every role and share filled in, the lead first; CrewProblem if it breaks a rule.

    ``label(technician)`` names a member in messages (by default its reference as text).
    """
    if not members:
        raise CrewProblem("a job needs at least one technician")
    if len(members) > MAX_CREW:
        raise CrewProblem(f"a crew has at most {MAX_CREW} technicians")
    seen: set[K] = set()
    for index, member in enumerate(members):
        if member.technician in seen:
            raise CrewProblem(f"{label(member.technician)} is listed twice", index)
        seen.add(member.technician)
        if member.share is not None and not (math.isfinite(member.share) and 0 < member.share <= 1):
            raise CrewProblem(f"{label(member.technician)}'s share must be above 0 and at most 1", index)
    leads = [index for index, member in enumerate(members) if member.role == "lead"]
    if len(leads) > 1:
        both = " and ".join(label(members[index].technician) for index in leads)
        every = "both" if len(leads) == 2 else "all"
        raise CrewProblem(f"only one technician can lead a job ({both} are {every} marked lead)", leads[1])
    if not leads:
        if len(members) > 1 or members[0].role == "helper":
            raise CrewProblem("no technician is the lead: mark one as lead (e.g. T001:lead;T002)")
        leads = [0]
    given = sum(member.share for member in members if member.share is not None)
    unshared = [member for member in members if member.share is None]
    if unshared:
        left = 1 - given
        if left <= SHARE_TOLERANCE:
            raise CrewProblem(f"the shares given already sum to {given:g}, leaving nothing for the others")
        each = left / len(unshared)
    elif abs(given - 1) > SHARE_TOLERANCE:
        raise CrewProblem(f"the shares sum to {given:g}; they must sum to 1")
    settled = [
        CrewMember(
            member.technician,
            "lead" if index == leads[0] else "helper",
            member.share if member.share is not None else each,
        )
        for index, member in enumerate(members)
    ]
    return [settled[leads[0]], *(member for index, member in enumerate(settled) if index != leads[0])]


def lead_of(crew: Sequence[CrewMember[K]]) -> K:
    """The lead's reference of a settled crew."""
    return next(member.technician for member in crew if member.role == "lead")


def crew_rows(job_id: int, crew: Sequence[CrewMember[int]]) -> list[dict[str, Any]]:
    """The ``job_assignments`` rows of a settled crew of technician ids."""
    return [
        {"job_id": job_id, "technician_id": member.technician, "role": member.role, "share": member.share}
        for member in crew
    ]


def format_crew(crew: Sequence[CrewMember[Any]]) -> str:
    """A settled crew as a ``technicians`` cell, the inverse of :func:`parse_crew`: equal shares are left
    out (``T1:lead;T2:helper``), others written to 10 significant digits, so that they still sum to 1."""
    equal = all(abs((member.share or 0) - (crew[0].share or 0)) <= SHARE_TOLERANCE for member in crew)
    return ";".join(
        f"{member.technician}:{member.role}" + ("" if equal else f":{member.share or 0:.10g}") for member in crew
    )
