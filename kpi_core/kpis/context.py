"""Builds the MetricContext the host hands to metric declarations, with each plugin's own settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.declarations import JobField, Metric, MetricContext
from kpi_core.kpis.sql import epoch
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import values_by_plugin
from kpi_core.storage.models import JOB_FIELD_COLUMNS, Base

FACT_TABLES = ("jobs", "feedback", "evaluations", "technicians", "customers", "callback_disputes")

ContextFor = Callable[[Metric], MetricContext]
"""``context_for(metric)``: the context a metric's builders are called with."""


def metric_context(
    settings: Mapping[str, Any] | None = None, job_fields: Mapping[str, JobField] | None = None
) -> MetricContext:
    """A context with a plugin's ``settings`` ({name: value}) and the declared ``job_fields`` ({key: JobField})."""
    tables = {name: Base.metadata.tables[name] for name in FACT_TABLES}
    reader = job_field_reader(job_fields or {})
    return MetricContext(tables=tables, epoch=epoch, settings=dict(settings or {}), read_job_field=reader)


def job_field_reader(declared: Mapping[str, JobField]) -> Callable[[str], Any]:
    """``MetricContext.read_job_field``: a declared job field of the fact row's job.

    A scalar subquery correlated to ``jobs`` (one row, found by the primary key (job_id, key)), so
    the engine's statement stays one statement and its FROM clause stays one row per job.
    """
    values, jobs = Base.metadata.tables["job_field_values"], Base.metadata.tables["jobs"]

    def read(key: str) -> Any:
        field = declared.get(key)
        if field is None:
            raise KeyError(f"no installed plugin declares the job field {key!r}")
        column = values.c[JOB_FIELD_COLUMNS[field.type]]
        found = select(column).where(values.c.job_id == jobs.c.id, values.c.key == key)
        return found.correlate_except(values).scalar_subquery()

    return read


def default_contexts(_metric: Metric) -> MetricContext:
    """Every metric with its plugin's declared defaults (no stored settings)."""
    return metric_context()


def stored_contexts(session: Session, plugins: PluginHost) -> ContextFor:
    """Each metric with the settings in force for the plugin that declares it (one query)."""
    return contexts_for(plugins, values_by_plugin(session, plugins))


def contexts_for(plugins: PluginHost, by_plugin: Mapping[str, Mapping[str, Any]]) -> ContextFor:
    """Each metric with its plugin's settings from ``by_plugin`` ({plugin: {name: value}}) and every
    plugin's job fields."""
    fields = plugins.job_fields
    contexts = {name: metric_context(values, fields) for name, values in by_plugin.items()}
    plain = metric_context(job_fields=fields)
    return lambda metric: contexts.get(plugins.owner_of("kpi_metrics", metric.key), plain)
