"""KPI targets: green/amber thresholds and weights per metric, for the company or one team.

A metric's company target is the stored row, or else the default its plugin
declares; a team's stored row overrides the company target for that team.
:func:`effective_targets` gives the KPI engine all of them at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.declarations import Metric
from kpi_core.errors import Invalid
from kpi_core.plugins import PluginHost
from kpi_core.records import changes
from kpi_core.storage.models import KpiTarget

ENTITY = "target"
TARGET_LOCK_CLASS = 0x54475453  # PostgreSQL advisory lock space for target upserts
Source = Literal["stored", "default"]
MAX_THRESHOLD = 1e12
"""Thresholds beyond this mean nothing for any KPI, and keep every score finite."""
MAX_WEIGHT = 1000.0
"""Weights are shares of a score: 1000 is far past any real weighting and keeps sums finite."""
RATE_UNIT = "ratio"


@dataclass(frozen=True)
class EffectiveTarget:
    """A metric's thresholds and weight as applied (``team_id`` None: the company's).

    Reads like :class:`kpi_core.declarations.Target` (``green``, ``amber``,
    ``weight``); ``source`` says whether an admin stored it or it is the
    plugin's default.
    """

    metric_key: str
    team_id: int | None
    green: float
    amber: float
    weight: float
    source: Source
    updated_at: datetime | None = None


TargetMap = dict[tuple[str, int | None], EffectiveTarget]


def effective_targets(session: Session, plugins: PluginHost) -> TargetMap:
    """Every target in force, by (metric key, team id or None for the company).

    Only metrics of loaded plugins are included; rows stored for a metric
    whose plugin is gone are ignored. A metric without a stored company
    target and without a plugin default has no company entry.
    """
    targets: TargetMap = {}
    for key, metric in plugins.metrics.items():
        if metric.default_target is not None:
            default = metric.default_target
            targets[(key, None)] = EffectiveTarget(key, None, default.green, default.amber, default.weight, "default")
    rows = session.scalars(select(KpiTarget).where(KpiTarget.metric_key.in_(list(plugins.metrics))))
    for row in rows:
        targets[(row.metric_key, row.team_id)] = _effective(row)
    return targets


def target_for(
    targets: Mapping[tuple[str, int | None], EffectiveTarget], metric_key: str, team_id: int | None
) -> EffectiveTarget | None:
    """The target a team is measured against: its own override, else the company's."""
    if team_id is not None and (metric_key, team_id) in targets:
        return targets[(metric_key, team_id)]
    return targets.get((metric_key, None))


def metric_of(plugins: PluginHost, metric_key: str) -> Metric:
    """The loaded metric ``metric_key``; raises :class:`Invalid` naming ``metric_key`` if none declares it."""
    metric = plugins.metrics.get(metric_key)
    if metric is None:
        raise Invalid("metric_key", f"no loaded plugin declares a metric {metric_key!r}", location="path")
    return metric


def stored_target(
    session: Session, metric_key: str, team_id: int | None, *, for_update: bool = False
) -> KpiTarget | None:
    """The stored row for (metric, team); ``for_update`` serialises concurrent upserts of it."""
    if for_update and session.get_bind().dialect.name == "postgresql":
        # NULL team ids are distinct to the unique constraint, so two company rows could race in.
        key = zlib.crc32(f"{metric_key}:{team_id}".encode()) - 2**31
        session.execute(select(func.pg_advisory_xact_lock(TARGET_LOCK_CLASS, key)))
    team = KpiTarget.team_id.is_(None) if team_id is None else KpiTarget.team_id == team_id
    return session.scalar(select(KpiTarget).where(KpiTarget.metric_key == metric_key, team))


def put_target(
    session: Session,
    plugins: PluginHost,
    actor: Actor,
    metric_key: str,
    team_id: int | None,
    row: KpiTarget | None,
    data: Mapping[str, Any],
) -> KpiTarget:
    """Create the stored target (``row`` None) or replace its thresholds and weight; audited."""
    metric = metric_of(plugins, metric_key)
    _check_order(metric, data["green"], data["amber"])
    values = {"green": data["green"], "amber": data["amber"], "weight": data["weight"]}
    if row is None:
        target = KpiTarget(metric_key=metric_key, team_id=team_id, **values)
        return changes.create(session, actor, ENTITY, target, unique_field="metric_key")
    return changes.update(session, actor, ENTITY, row, values, unique_field="metric_key")


def delete_target(session: Session, actor: Actor, row: KpiTarget) -> None:
    """Remove a stored target: a team falls back to the company's, the company to the plugin default."""
    changes.delete(session, actor, ENTITY, row)


def _check_order(metric: Metric, green: float, amber: float) -> None:
    if metric.unit == RATE_UNIT:
        # A rate is a share: 90 typed for 90 % would turn every value red.
        for field, value in (("green", green), ("amber", amber)):
            if not 0 <= value <= 1:
                raise Invalid(field, f"must be a share between 0 and 1 for a rate (0.9 means 90 %), not {value:g}")
    if metric.direction == "higher" and green < amber:
        raise Invalid("green", f"must be at least amber ({amber:g}): higher values of {metric.label} are better")
    if metric.direction == "lower" and green > amber:
        raise Invalid("green", f"must be at most amber ({amber:g}): lower values of {metric.label} are better")


def _effective(row: KpiTarget) -> EffectiveTarget:
    return EffectiveTarget(row.metric_key, row.team_id, row.green, row.amber, row.weight, "stored", row.updated_at)
