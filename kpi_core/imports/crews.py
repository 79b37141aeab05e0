"""A job's crew in a jobs import: the ``technicians`` column, and crews written with bulk statements.

A row names its crew in the ``technicians`` column, read with the one set of crew rules
(:mod:`kpi_core.records.crews`): text items ``ref[:role][:share]`` separated by ``;`` (CSV, a
spreadsheet's cell, JSON Lines), or in JSON Lines a list of ``{"ref", "role", "share"}`` objects.
The single ``technician_ref`` column keeps working: a row that names only it has that technician as
its sole lead. A row with both must name the crew's lead in ``technician_ref``.

A row whose file has no ``technicians`` column (a JSON Lines object without the key) leaves an
existing job's crew as stored; when its ``technician_ref`` names another technician, that technician
becomes the lead as the jobs API makes them (the old lead leaves the crew, or stays as a helper if the
new lead was one). A ``technicians`` cell left empty means the ``technician_ref`` alone.

Crews are written per batch: one DELETE per chunk of jobs whose crew changed and one executemany
INSERT of their rows (every new job's too), like the jobs themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kpi_core.imports import cells
from kpi_core.imports.lookups import LOOKUP_CHUNK
from kpi_core.imports.readers import RawRow
from kpi_core.imports.report import ImportReport
from kpi_core.records.crews import CrewMember, CrewProblem, parse_crew, settle_crew
from kpi_core.storage.bulk import BulkWriter
from kpi_core.storage.models import CREW_ROLES, JobAssignment

ASSIGNMENTS = JobAssignment.__table__
ASSIGNMENT_COLUMNS = ("job_id", "technician_id", "role", "share")
CREW_COLUMN = "technicians"
Crew = tuple[tuple[int, str, float], ...]
"""A settled crew of technician ids as stored: (technician id, role, share), the lead first, then by id."""
_JSON_KEYS = ("ref", "role", "share")
_SHARE_DIGITS = 9
"""Shares are compared to 9 decimal places: a float read back from the database is the same crew."""


def read_crew(cell: Any) -> list[CrewMember[str]]:
    """The settled crew (lead first) a ``technicians`` cell names; CrewProblem says what is wrong."""
    if isinstance(cell, str):
        if ";" not in cell and ":" not in cell:  # one technician, as most rows of most files name
            try:
                return [_sole_lead(cells.text(cell, 64))]
            except ValueError as exc:
                raise CrewProblem(f"technician 1's reference {exc}", 0) from None
        members = parse_crew(cell)
    elif isinstance(cell, list):
        members = [_json_member(item, index) for index, item in enumerate(cell)]
    else:
        raise CrewProblem('must be text such as T001:lead;T002, or a list of {"ref", "role", "share"} objects')
    for index, member in enumerate(members):
        try:
            cells.text(member.technician, 64)
        except ValueError as exc:
            raise CrewProblem(f"technician {index + 1}'s reference {exc}", index) from None
    return settle_crew(members)


@lru_cache(maxsize=4096)
def _sole_lead(ref: str) -> CrewMember[str]:
    """The lead of a crew of one (a member is immutable: one per technician, not one per row)."""
    return CrewMember(ref, "lead", 1.0)


def _json_member(item: Any, index: int) -> CrewMember[str]:
    """One member of a crew given as a JSON list: ``{"ref", "role", "share"}``, or a ``ref[:role][:share]`` text."""
    where = f"member {index + 1}"
    if isinstance(item, str):
        found = parse_crew(item)
        if len(found) != 1:
            raise CrewProblem(f"{where} must name one technician (write ref[:role][:share])", index)
        return found[0]
    if not isinstance(item, dict):
        raise CrewProblem(f'{where} must be an object such as {{"ref": "T001", "role": "lead", "share": 0.5}}', index)
    unknown = [str(key) for key in item if key not in _JSON_KEYS]
    if unknown:
        raise CrewProblem(f"{where} has {', '.join(unknown)}; a member has only ref, role and share", index)
    ref, role, share = item.get("ref"), item.get("role"), item.get("share")
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise CrewProblem(f"{where} has no ref: the technician's reference", index)
    if role is not None:
        if not isinstance(role, str) or role.strip().lower() not in CREW_ROLES:
            raise CrewProblem(f"{ref.strip()}'s role {role!r} is not one of {', '.join(CREW_ROLES)}", index)
        role = role.strip().lower()
    if share is not None:
        share = _json_share(ref.strip(), share, index)
    return CrewMember(ref.strip(), role or None, share)


def _json_share(ref: str, share: Any, index: int) -> float:
    if isinstance(share, int | float) and not isinstance(share, bool):
        return float(share)
    if isinstance(share, str):
        try:
            return float(share.strip())
        except ValueError:
            pass
    raise CrewProblem(f"{ref}'s share {share!r} is not a number such as 0.5", index)


def given_crew(raw: RawRow, values: dict[str, Any], report: ImportReport) -> None:
    """Read the row's crew into ``values``: ``crew`` (settled, of references; None if the row cannot
    name one), ``crew_column`` (the column its members are reported against) and ``crew_given``
    (whether the row says the whole crew, so that a stored crew is replaced by it).

    Sets ``technician_ref`` to the lead. A row naming neither column's technician is reported as
    missing one; a ``technician_ref`` that is not the crew's lead is a conflict named there.
    """
    given = raw.values
    cell = given.get(CREW_COLUMN)
    ref = values.get("technician_ref")
    values["crew"], values["crew_column"], values["crew_given"] = None, "technician_ref", CREW_COLUMN in given
    if cell != "" and not _empty(cell):  # most rows: an empty cell, or none
        values["crew_column"] = CREW_COLUMN
        try:
            crew = read_crew(cell)
        except CrewProblem as exc:
            report.error(raw.number, CREW_COLUMN, str(exc))
            return
        lead = crew[0].technician
        if ref is not None and ref != lead:
            message = f"{ref!r} is not the lead of the crew in technicians ({lead!r}): name the lead, or leave it empty"
            report.error(raw.number, "technician_ref", message)
            return
        values["crew"], values["technician_ref"] = crew, lead
        return
    if ref is not None:
        values["crew"] = [_sole_lead(ref)]
        return
    if not cells.blank(given.get("technician_ref")) or raw.unread & {"technician_ref", CREW_COLUMN}:
        return  # an invalid technician_ref was reported already; an unreadable cell by the mapping
    if "technician_ref" in given or CREW_COLUMN not in given:
        report.error(raw.number, "technician_ref", "is required" if CREW_COLUMN not in given else
                     "is required, or the crew in technicians")  # fmt: skip
    else:
        report.error(raw.number, CREW_COLUMN, "is required: the technicians who did the job, such as T001:lead;T002")


def _empty(cell: Any) -> bool:
    return cells.blank(cell) or (isinstance(cell, list) and not cell)


def stored_form(crew: Iterable[CrewMember[int]]) -> Crew:
    """A settled crew of ids in the form :meth:`CrewWriter.stored` gives, to compare the two."""
    return _ordered((member.technician, member.role or "helper", member.share or 0.0) for member in crew)


def _ordered(rows: Iterable[tuple[int, str, float]]) -> Crew:
    members = [(technician, role, round(float(share), _SHARE_DIGITS)) for technician, role, share in rows]
    return tuple(sorted(members, key=lambda member: (member[1] != "lead", member[0])))


def with_lead(stored: Crew, lead: int) -> Crew:
    """``stored`` with ``lead`` as its lead, as the jobs API makes a new technician the lead: a helper who
    becomes the lead swaps roles with the old lead; anyone else takes the old lead's place and share."""
    if not stored:
        return ((lead, "lead", 1.0),)
    old = next((member for member in stored if member[1] == "lead"), None)
    if old is None:  # not a crew the rules allow: the technician alone
        return ((lead, "lead", 1.0),)
    if old[0] == lead:
        return stored
    if any(member[0] == lead for member in stored):
        swapped = {lead: "lead", old[0]: "helper"}
        return _ordered((technician, swapped.get(technician, role), share) for technician, role, share in stored)
    return _ordered((lead if member is old else member[0], member[1], member[2]) for member in stored)


class CrewWriter:
    """Reads and writes the crews of a batch of imported jobs: changed crews only, bulk statements."""

    def __init__(self, session: Session, writer: BulkWriter) -> None:
        self.session = session
        self.writer = writer

    def stored(self, job_ids: Collection[int]) -> dict[int, Crew]:
        """The stored crews of ``job_ids`` (a job without crew rows is missing)."""
        found: dict[int, list[tuple[int, str, float]]] = {}
        ids = sorted(job_ids)
        connection = self.session.connection()
        columns = (ASSIGNMENTS.c.job_id, ASSIGNMENTS.c.technician_id, ASSIGNMENTS.c.role, ASSIGNMENTS.c.share)
        for start in range(0, len(ids), LOOKUP_CHUNK):
            query = select(*columns).where(ASSIGNMENTS.c.job_id.in_(ids[start : start + LOOKUP_CHUNK]))
            for job_id, technician, role, share in connection.execute(query):
                found.setdefault(job_id, []).append((technician, role, share))
        return {job_id: _ordered(rows) for job_id, rows in found.items()}

    def write(self, crews: Mapping[int, Crew], replaced: Collection[int]) -> None:
        """Store ``crews`` ({job id: crew}); the crews of ``replaced`` jobs are deleted first."""
        ids = sorted(replaced)
        for start in range(0, len(ids), LOOKUP_CHUNK):
            self.session.execute(delete(ASSIGNMENTS).where(ASSIGNMENTS.c.job_id.in_(ids[start : start + LOOKUP_CHUNK])))
        rows = [(job_id, *member) for job_id, crew in crews.items() for member in crew]
        self.writer.insert(ASSIGNMENTS, ASSIGNMENT_COLUMNS, rows)
