"""KPI definitions as the host lists them, and the targets their values are judged against."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from kpi_core.declarations import Metric, Target
from kpi_core.errors import Invalid, NotFound
from kpi_core.plugins import PluginHost

TargetLookup = Callable[[str, int | None, date], Any]
"""``target_for(metric_key, team_id, period_start)`` -> the target (anything with ``green`` and ``amber``) or None.

``team_id`` is the group's team (the team itself, or a technician's team) or
None for company-wide groups; ``period_start`` the first local day of the
period judged: targets have versions valid from a date, and a period is
judged against the version in force on its first day.
:meth:`kpi_core.records.targets.TargetBook.at` falls back from the team's
target to the company's, which is the stored one or the plugin's default."""


@dataclass(frozen=True)
class KpiDefinition:
    """A KPI as ``GET /api/v1/kpis`` lists it: the declaration plus the plugin that made it."""

    key: str
    label: str
    description: str
    formula: str
    unit: str
    direction: str
    kind: str
    source: str
    plugin: str
    default_target: Target | None
    empty_hint: str
    version: int = 1
    fingerprint: str | None = None
    """The definition fingerprint with the settings in force (:mod:`kpi_core.kpis.fingerprints`)."""


def kpi_definitions(plugins: PluginHost, prints: dict[str, str] | None = None) -> list[KpiDefinition]:
    """Every KPI the loaded plugins declare, in load order, with its fingerprint from ``prints`` (by key)."""
    return [
        KpiDefinition(
            key=metric.key,
            label=metric.label,
            description=metric.description,
            formula=metric.formula,
            unit=metric.unit,
            direction=metric.direction,
            kind=metric.kind,
            source=metric.source,
            plugin=plugins.owner_of("kpi_metrics", metric.key),
            default_target=metric.default_target,
            empty_hint=metric.empty_hint,
            version=metric.version,
            fingerprint=(prints or {}).get(metric.key),
        )
        for metric in plugins.metrics.values()
    ]


def get_metric(plugins: PluginHost, key: str) -> Metric:
    """The declaration of ``key``; NotFound (404) when no loaded plugin declares it."""
    metric = plugins.metrics.get(key)
    if metric is None:
        raise NotFound(f"no KPI with key {key!r}")
    return metric


def resolve_metrics(plugins: PluginHost, keys: Iterable[str]) -> list[Metric]:
    """The declarations of ``keys`` in the order given (all KPIs when empty), without repeats.

    Raises Invalid naming the ``kpi`` query field for a key no plugin declares.
    """
    wanted = list(dict.fromkeys(keys)) or list(plugins.metrics)
    unknown = [key for key in wanted if key not in plugins.metrics]
    if unknown:
        raise Invalid("kpi", f"unknown KPI {', '.join(map(repr, unknown))}", location="query")
    return [plugins.metrics[key] for key in wanted]
