"""The product's Prometheus metrics, defined once per process.

In a single process (``kpi serve`` with waitress, ``kpi demo``) the values
live in this process. Under gunicorn each worker is a process of its own:
with ``PROMETHEUS_MULTIPROC_DIR`` set *before* this module is imported (``kpi
serve --workers N`` does it), prometheus-client keeps the values in files in
that directory and ``/metrics`` adds up every worker's (see
:func:`exposition`). Job counts and durations are read from the database
instead (:mod:`kpi_core.observability.jobs`), because jobs run in RQ workers
on other machines.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "kpi_http_requests_total",
    "HTTP requests answered, by method, route (the URL rule, not the raw path) and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "kpi_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
KPI_CACHE_LOOKUPS = Counter("kpi_cache_lookups_total", "KPI result cache lookups", ["result"])
"""Incremented by the KPI result cache: ``KPI_CACHE_LOOKUPS.labels(result="hit" | "miss").inc()``."""


def multiprocess_dir() -> str | None:
    """The directory of gunicorn's workers' metric files, when running in multi-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """This process's metrics (or, in multi-process mode, all workers' added up) in the text format."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's live gauges are dropped (its counters stay summed)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
