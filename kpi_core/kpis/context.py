"""Builds the MetricContext the host hands to metric declarations, with each plugin's own settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from kpi_core.declarations import Metric, MetricContext
from kpi_core.kpis.sql import epoch
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import values_by_plugin
from kpi_core.storage.models import Base

FACT_TABLES = ("jobs", "feedback", "evaluations", "technicians", "customers")

ContextFor = Callable[[Metric], MetricContext]
"""``context_for(metric)``: the context a metric's builders are called with."""


def metric_context(settings: Mapping[str, Any] | None = None) -> MetricContext:
    tables = {name: Base.metadata.tables[name] for name in FACT_TABLES}
    return MetricContext(tables=tables, epoch=epoch, settings=dict(settings or {}))


def default_contexts(_metric: Metric) -> MetricContext:
    """Every metric with its plugin's declared defaults (no stored settings)."""
    return metric_context()


def stored_contexts(session: Session, plugins: PluginHost) -> ContextFor:
    """Each metric with the settings in force for the plugin that declares it (one query)."""
    return contexts_for(plugins, values_by_plugin(session, plugins))


def contexts_for(plugins: PluginHost, by_plugin: Mapping[str, Mapping[str, Any]]) -> ContextFor:
    """Each metric with its plugin's settings from ``by_plugin`` ({plugin: {name: value}})."""
    contexts = {name: metric_context(values) for name, values in by_plugin.items()}
    plain = metric_context()
    return lambda metric: contexts.get(plugins.owner_of("kpi_metrics", metric.key), plain)
