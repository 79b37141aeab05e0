"""Builds the MetricContext the host hands to metric declarations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kpi_core.declarations import MetricContext
from kpi_core.kpis.sql import epoch
from kpi_core.storage.models import Base

FACT_TABLES = ("jobs", "feedback", "evaluations", "technicians", "customers")


def metric_context(settings: Mapping[str, Any] | None = None) -> MetricContext:
    tables = {name: Base.metadata.tables[name] for name in FACT_TABLES}
    return MetricContext(tables=tables, epoch=epoch, settings=dict(settings or {}))
