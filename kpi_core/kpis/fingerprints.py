"""Definition fingerprints: which definition of a KPI a number was computed with.

A metric's fingerprint is a hash of its key, its declared ``version`` and the
plugin settings its builders read (found by building every expression of the
declaration with a context that notes each setting asked for through
``context.setting`` or ``context.settings``), and for a jobs KPI the host's
``core.crew_credit`` (how a crew's jobs count, which the engine applies to every
jobs KPI). A plugin release that bumps the version, or an admin's change to a
setting the KPI reads, gives a new fingerprint; a setting it does not read
leaves it alone. Every KPI answer row, report and closed month's snapshot
names the fingerprint its value was computed with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kpi_core.declarations import Metric
from kpi_core.kpis.context import ContextFor, metric_context
from kpi_core.kpis.crews import CREW_CREDIT, DEFAULT_RULE
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import grouped_by_plugin

LENGTH = 16
"""Hex digits kept of the SHA-256: enough that two definitions never meet by chance."""
_MEMO: dict[tuple[int, str, int, str, str], str] = {}
_MEMO_LIMIT = 4096


class _ReadSettings(dict):  # type: ignore[type-arg]
    """A plugin's settings that note every name asked for."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, name: Any, default: Any = None) -> Any:
        self.read.add(str(name))
        return super().get(name, default)

    def __getitem__(self, name: Any) -> Any:
        self.read.add(str(name))
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self.read.add(str(name))
        return super().__contains__(name)


def settings_read(metric: Metric, settings: Mapping[str, Any], plugins: PluginHost | None = None) -> set[str]:
    """The names of the plugin settings ``metric``'s builders read, given the plugin's ``settings``."""
    recorder = _ReadSettings(settings)
    ctx = metric_context(job_fields=plugins.job_fields if plugins is not None else None)
    ctx = type(ctx)(tables=ctx.tables, epoch=ctx.epoch, settings=recorder, read_job_field=ctx.read_job_field)
    builders = [metric.numerator, metric.denominator, metric.period_column]
    builders += [metric.outcome_settled] if metric.outcome_settled is not None else []
    builders += [item.condition for item in (*metric.exclusions, *metric.notes)]
    for build in builders:
        build(ctx)
    metric.outcome_window_of(ctx)
    metric.min_sample_of(ctx, 0)
    return recorder.read


def fingerprint(metric: Metric, settings: Mapping[str, Any], credit: str = DEFAULT_RULE) -> str:
    """The fingerprint of ``metric`` with its plugin's ``settings`` ({name: value}) in force and the crew
    credit rule ``credit`` (counted for jobs KPIs only)."""
    return _fingerprint(metric, settings, credit, None)


def _fingerprint(metric: Metric, settings: Mapping[str, Any], credit: str, plugins: PluginHost | None) -> str:
    values = json.dumps(dict(settings), sort_keys=True, default=str)
    memo = (id(metric), metric.key, metric.version, values, credit)
    found = _MEMO.get(memo)
    if found is not None:
        return found
    read = sorted(settings_read(metric, settings, plugins))
    parts: dict[str, Any] = {
        "key": metric.key,
        "version": metric.version,
        "settings": {name: settings.get(name) for name in read},
    }
    if metric.source == "jobs":
        parts["engine"] = {CREW_CREDIT: credit}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    value = hashlib.sha256(text.encode()).hexdigest()[:LENGTH]
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[memo] = value
    return value


def fingerprints(
    plugins: PluginHost, by_plugin: Mapping[str, Mapping[str, Any]], credit: str = DEFAULT_RULE
) -> dict[str, str]:
    """Every loaded metric's fingerprint, by key, with the settings ``by_plugin`` ({plugin: {name: value}},
    as :func:`kpi_core.records.plugin_settings.values_by_plugin` gives them) and crew credit rule in force."""
    found = {}
    for key, metric in plugins.metrics.items():
        owner = plugins.owner_of("kpi_metrics", key)
        found[key] = _fingerprint(metric, by_plugin.get(owner, {}), credit, plugins)
    return found


def fingerprints_of(plugins: PluginHost, settings: Mapping[str, Any]) -> dict[str, str]:
    """Every loaded metric's fingerprint from the settings in force (``setting_values``' answer)."""
    by_plugin = grouped_by_plugin(settings)  # type: ignore[arg-type]
    credit = settings.get(CREW_CREDIT)
    return fingerprints(plugins, by_plugin, credit.value if credit is not None else DEFAULT_RULE)


def context_fingerprints(plugins: PluginHost, context_for: ContextFor, credit: str) -> dict[str, str]:
    """Every loaded metric's fingerprint from the contexts it is built with (their settings)."""
    return {
        key: _fingerprint(metric, context_for(metric).settings, credit, plugins)
        for key, metric in plugins.metrics.items()
    }
