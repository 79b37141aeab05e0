"""KPI targets: green/amber thresholds and weights per metric, for the company or one team, in versions.

A target is never rewritten: every change adds a *version* valid from a local
date (``valid_from``; None: from the beginning), and a period is judged
against the version in force on its first day: of the versions valid on or
before it, the latest (of two from one day, the later one). A version may
remove the stored target from its day (``removed``): a team then falls back
to the company's target, the company to its plugin's default. A revert adds
a version equal to an older one. :func:`target_book` gives the KPI engine all
versions at once; ``book.at(metric, team, day)`` the target in force.

Bad input: a ``valid_from`` before the first job's month (a target from
before any job judges nothing: 422), and a version that would change the target a
closed month was judged against (409: it would overlap the closed history,
and a closed month's status would silently disagree with its target).
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.declarations import Metric
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import Job, KpiTarget, PeriodClose

ENTITY = "target"
TARGET_LOCK_CLASS = 0x54475453  # PostgreSQL advisory lock space for target versions
Source = Literal["stored", "default"]
MAX_THRESHOLD = 1e12
"""Thresholds beyond this mean nothing for any KPI, and keep every score finite."""
MAX_WEIGHT = 1000.0
"""Weights are shares of a score: 1000 is far past any real weighting and keeps sums finite."""
RATE_UNIT = "ratio"
AUDITED = ("metric_key", "team_id", "green", "amber", "weight", "valid_from", "removed", "reverts_id")


@dataclass(frozen=True)
class EffectiveTarget:
    """A metric's thresholds and weight as applied (``team_id`` None: the company's).

    Reads like :class:`kpi_core.declarations.Target` (``green``, ``amber``,
    ``weight``); ``source`` says whether an admin stored it or it is the
    plugin's default; ``valid_from`` and ``version_id`` name the stored
    version (None for a default; ``valid_from`` None: from the beginning).
    """

    metric_key: str
    team_id: int | None
    green: float
    amber: float
    weight: float
    source: Source
    updated_at: datetime | None = None
    valid_from: date | None = None
    version_id: int | None = None


TargetMap = dict[tuple[str, int | None], EffectiveTarget]
"""Targets in force on one day, by (metric key, team id or None for the company)."""


@dataclass(frozen=True)
class TargetVersion:
    """One stored version as the history lists it."""

    id: int
    metric_key: str
    team_id: int | None
    valid_from: date | None
    green: float | None
    amber: float | None
    weight: float | None
    removed: bool
    reverts_id: int | None
    created_at: datetime | None
    created_by_id: int | None


@dataclass
class TargetBook:
    """Every stored version of every loaded metric's targets, and the plugins' defaults.

    ``at(metric, team, day)`` is the target a group of ``team`` (None: the
    company) is judged against in a period beginning on ``day``.
    """

    defaults: dict[str, EffectiveTarget] = field(default_factory=dict)
    versions: dict[tuple[str, int | None], list[TargetVersion]] = field(default_factory=dict)
    _starts: dict[tuple[str, int | None], list[date]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key, listed in self.versions.items():
            listed.sort(key=_order)
            self._starts[key] = [_order(version)[0] for version in listed]

    def stored_at(self, metric_key: str, team_id: int | None, day: date) -> TargetVersion | None:
        """The stored version in force on ``day`` (a removal included), None before the first."""
        starts = self._starts.get((metric_key, team_id))
        if not starts:
            return None
        index = bisect.bisect_right(starts, day) - 1
        return self.versions[(metric_key, team_id)][index] if index >= 0 else None

    def at(self, metric_key: str, team_id: int | None, day: date) -> EffectiveTarget | None:
        """The team's own target in force on ``day``, else the company's, else the plugin's default."""
        if team_id is not None:
            own = self.stored_at(metric_key, team_id, day)
            if own is not None and not own.removed:
                return _effective(own)
        company = self.stored_at(metric_key, None, day)
        if company is not None and not company.removed:
            return _effective(company)
        return self.defaults.get(metric_key)

    def in_force(self, day: date) -> TargetMap:
        """Every target in force on ``day``: each metric's company target and the teams' own ones."""
        found: TargetMap = {}
        for metric_key in self.defaults:
            found[(metric_key, None)] = self.defaults[metric_key]
        for metric_key, team_id in self.versions:
            version = self.stored_at(metric_key, team_id, day)
            if version is None:
                continue
            if not version.removed:
                found[(metric_key, team_id)] = _effective(version)
            elif team_id is None:
                found.pop((metric_key, None), None)
                if metric_key in self.defaults:
                    found[(metric_key, None)] = self.defaults[metric_key]
        return found

    def head(self, metric_key: str, team_id: int | None) -> TargetVersion | None:
        """The version stored last for (metric, team): what If-Match guards."""
        listed = self.versions.get((metric_key, team_id))
        return max(listed, key=lambda version: version.id) if listed else None

    def cache_key(self) -> list[Any]:
        """Everything lookups depend on, as plain data (part of a KPI answer's cache key)."""
        stored = sorted(
            [key[0], key[1] or 0, str(v.valid_from), v.id, v.green, v.amber, v.weight, v.removed]
            for key, listed in self.versions.items()
            for v in listed
        )
        defaults = sorted([key, t.green, t.amber, t.weight] for key, t in self.defaults.items())
        return [stored, defaults]


def _order(version: TargetVersion) -> tuple[date, int]:
    return (version.valid_from or date.min, version.id)


def target_book(session: Session, plugins: PluginHost) -> TargetBook:
    """Every version stored for the loaded metrics, with the plugins' defaults (one query).

    Rows stored for a metric whose plugin is gone are ignored.
    """
    defaults = {
        key: EffectiveTarget(key, None, metric.default_target.green, metric.default_target.amber,
                             metric.default_target.weight, "default")
        for key, metric in plugins.metrics.items()
        if metric.default_target is not None
    }  # fmt: skip
    versions: dict[tuple[str, int | None], list[TargetVersion]] = {}
    rows = session.scalars(select(KpiTarget).where(KpiTarget.metric_key.in_(list(plugins.metrics))))
    for row in rows:
        versions.setdefault((row.metric_key, row.team_id), []).append(version_of(row))
    return TargetBook(defaults, versions)


def effective_targets(session: Session, plugins: PluginHost, on: date) -> TargetMap:
    """Every target in force on local date ``on``, by (metric key, team id or None for the company).

    A metric without a stored company target and without a plugin default has no company entry.
    """
    return target_book(session, plugins).in_force(on)


def target_for(book: TargetBook, metric_key: str, team_id: int | None, day: date) -> EffectiveTarget | None:
    """The target a team is measured against in a period beginning on ``day``: its own override, else
    the company's (each the version in force that day), else the plugin's default."""
    return book.at(metric_key, team_id, day)


def metric_of(plugins: PluginHost, metric_key: str) -> Metric:
    """The loaded metric ``metric_key``; raises :class:`Invalid` naming ``metric_key`` if none declares it."""
    metric = plugins.metrics.get(metric_key)
    if metric is None:
        raise Invalid("metric_key", f"no loaded plugin declares a metric {metric_key!r}", location="path")
    return metric


def history(session: Session, metric_key: str, team_id: int | None = None, *, teams: bool = False) -> list[KpiTarget]:
    """The stored versions of a metric's company target (or of ``team_id``'s; every team's too with
    ``teams``), newest first."""
    statement = select(KpiTarget).where(KpiTarget.metric_key == metric_key)
    if not teams:
        statement = statement.where(_team_is(team_id))
    return list(session.scalars(statement.order_by(KpiTarget.id.desc())))


def lock_history(session: Session, metric_key: str, team_id: int | None) -> KpiTarget | None:
    """Serialise concurrent changes to (metric, team) and return its head (the version stored last)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"{metric_key}:{team_id}".encode()) - 2**31
        session.execute(select(func.pg_advisory_xact_lock(TARGET_LOCK_CLASS, key)))
    statement = select(KpiTarget).where(KpiTarget.metric_key == metric_key, _team_is(team_id))
    return session.scalar(statement.order_by(KpiTarget.id.desc()).limit(1))


def in_force(session: Session, metric_key: str, team_id: int | None, day: date) -> KpiTarget | None:
    """The stored version of (metric, team) in force on ``day`` (a removal included), None before the first."""
    rows = session.scalars(select(KpiTarget).where(KpiTarget.metric_key == metric_key, _team_is(team_id)))
    found = [row for row in rows if (row.valid_from or date.min) <= day]
    return max(found, key=lambda row: (row.valid_from or date.min, row.id)) if found else None


def put_target(
    session: Session,
    plugins: PluginHost,
    actor: Actor,
    metric_key: str,
    team_id: int | None,
    data: Mapping[str, Any],
    *,
    valid_from: date,
    zone: ZoneInfo,
) -> KpiTarget:
    """Add a version of (metric, team) valid from ``valid_from`` with ``data``'s thresholds and weight;
    audited with the version it takes over from that day (before) and the new one (after)."""
    metric = metric_of(plugins, metric_key)
    _check_order(metric, data["green"], data["amber"])
    values = {"green": data["green"], "amber": data["amber"], "weight": data["weight"]}
    return _add_version(session, actor, metric_key, team_id, values, valid_from=valid_from, zone=zone)


def remove_target(
    session: Session, actor: Actor, metric_key: str, team_id: int | None, *, valid_from: date, zone: ZoneInfo
) -> KpiTarget:
    """Add a version that removes the stored target from ``valid_from``: a team falls back to the company's,
    the company to the plugin default. NotFound where no stored target is in force that day."""
    current = in_force(session, metric_key, team_id, valid_from)
    if current is None or current.removed:
        whose = "company" if team_id is None else f"team {team_id}"
        raise NotFound(f"no stored {whose} target for {metric_key!r} is in force on {valid_from.isoformat()}")
    values = {"green": None, "amber": None, "weight": None, "removed": True}
    return _add_version(session, actor, metric_key, team_id, values, valid_from=valid_from, zone=zone, action="delete")


def revert_target(
    session: Session, plugins: PluginHost, actor: Actor, version: KpiTarget, *, valid_from: date, zone: ZoneInfo
) -> KpiTarget:
    """Add a version equal to the older ``version`` (its thresholds and weight, or its removal), valid from
    ``valid_from`` and naming it in ``reverts_id``; audited as a revert."""
    metric_of(plugins, version.metric_key)
    values = {"green": version.green, "amber": version.amber, "weight": version.weight, "removed": version.removed}
    return _add_version(
        session, actor, version.metric_key, version.team_id, {**values, "reverts_id": version.id},
        valid_from=valid_from, zone=zone, action="revert",
    )  # fmt: skip


def _add_version(
    session: Session,
    actor: Actor,
    metric_key: str,
    team_id: int | None,
    values: Mapping[str, Any],
    *,
    valid_from: date,
    zone: ZoneInfo,
    action: str | None = None,
) -> KpiTarget:
    _check_first_job(session, valid_from, zone)
    _check_closed_months(session, metric_key, team_id, valid_from)
    before = in_force(session, metric_key, team_id, valid_from)
    row = KpiTarget(
        metric_key=metric_key, team_id=team_id, valid_from=valid_from, created_by_id=actor.user_id,
        **{"removed": False, **values},
    )  # fmt: skip
    session.add(row)
    session.flush()
    if action is None:
        action = "create" if before is None or before.removed else "update"
    record(session, actor, action, ENTITY, row.id, before=_audited(before), after=_audited(row))
    return row


def _audited(row: KpiTarget | None) -> dict[str, Any] | None:
    if row is None:
        return None
    values = {name: getattr(row, name) for name in AUDITED}
    if values["removed"]:  # a removal has no thresholds: the trail says they went
        for name in ("green", "amber", "weight"):
            values.pop(name)
    return values


def first_job_day(session: Session, zone: ZoneInfo) -> date | None:
    """The local date of the earliest job (scheduled or completed), None without jobs."""
    found = [session.scalar(select(func.min(column))) for column in (Job.scheduled_start, Job.completed_at)]
    earliest = min((moment for moment in found if moment is not None), default=None)
    return earliest.astimezone(zone).date() if earliest is not None else None


def _check_first_job(session: Session, valid_from: date, zone: ZoneInfo) -> None:
    """Invalid where ``valid_from`` is before the month of the first job: such a target would judge no job
    (the first month itself may be given a target from its first day)."""
    first = first_job_day(session, zone)
    if first is None:
        return
    earliest = first.replace(day=1)
    if valid_from < earliest:
        raise Invalid(
            "valid_from",
            f"Choose a day on or after {earliest.isoformat()}, the first day of the month of the first job "
            f"({first.isoformat()}): a target from before any job judges nothing",
        )


def closed_months(session: Session) -> list[date]:
    """The first days of every month closed (:mod:`kpi_core.kpis.closing`), in order."""
    return sorted(set(session.scalars(select(PeriodClose.month).distinct())))


def _check_closed_months(session: Session, metric_key: str, team_id: int | None, valid_from: date) -> None:
    """Conflict where the new version would be in force on a closed month's first day (it would change
    the target that month was judged against)."""
    closed = [month for month in closed_months(session) if month >= valid_from]
    if not closed:
        return
    starts = [
        row.valid_from
        for row in session.scalars(select(KpiTarget).where(KpiTarget.metric_key == metric_key, _team_is(team_id)))
        if row.valid_from is not None and row.valid_from > valid_from
    ]
    for month in closed:
        if not any(start <= month for start in starts):  # nothing newer takes over before the closed month
            after = _month_after(closed[-1])
            raise Conflict(
                "valid_from",
                f"{month:%B %Y} is closed and was judged against the target then in force; a target from "
                f"{valid_from.isoformat()} would change it. Choose {after.isoformat()} or later",
            )


def _month_after(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def today_in(zone: ZoneInfo, now: datetime) -> date:
    """The local date of ``now`` in ``zone`` (a version's default ``valid_from``)."""
    return now.astimezone(zone).date()


def _check_order(metric: Metric, green: float, amber: float) -> None:
    if metric.unit == RATE_UNIT:
        # A rate is a share: 90 typed for 90 % would turn every value red.
        for field_name, value in (("green", green), ("amber", amber)):
            if not 0 <= value <= 1:
                raise Invalid(field_name, f"must be a share between 0 and 1 for a rate (0.9 means 90 %), not {value:g}")
    if metric.direction == "higher" and green < amber:
        raise Invalid("green", f"must be at least amber ({amber:g}): higher values of {metric.label} are better")
    if metric.direction == "lower" and green > amber:
        raise Invalid("green", f"must be at most amber ({amber:g}): lower values of {metric.label} are better")


def _team_is(team_id: int | None) -> Any:
    return KpiTarget.team_id.is_(None) if team_id is None else KpiTarget.team_id == team_id


def version_of(row: KpiTarget) -> TargetVersion:
    return TargetVersion(
        row.id, row.metric_key, row.team_id, row.valid_from, row.green, row.amber, row.weight, bool(row.removed),
        row.reverts_id, row.created_at, row.created_by_id,
    )  # fmt: skip


def _effective(version: TargetVersion) -> EffectiveTarget:
    assert version.green is not None and version.amber is not None and version.weight is not None
    return EffectiveTarget(
        version.metric_key, version.team_id, version.green, version.amber, version.weight, "stored",
        version.created_at, version.valid_from, version.id,
    )  # fmt: skip
