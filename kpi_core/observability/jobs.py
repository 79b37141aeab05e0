"""Background-job metrics, read from the ``job_runs`` table at scrape time.

Jobs run in RQ workers, possibly on other machines, and each in a forked
process of its own: counters kept in those processes would be lost with
them. The database holds every run, so any app instance answers the same
totals. Scraping several instances yields the same series from each:
aggregate them with ``max without (instance)``, not ``sum``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.engine import Engine

from kpi_core.storage.models import JobRun

DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def _duration_seconds(dialect: str) -> ColumnElement[float]:
    """Seconds from the last attempt's start to the run's end, in the database's own date arithmetic."""
    if dialect == "postgresql":
        return func.extract("epoch", JobRun.finished_at - JobRun.started_at)
    return (func.julianday(JobRun.finished_at) - func.julianday(JobRun.started_at)) * 86400.0


class JobRunCollector(Collector):
    """Runs by job and status, and the duration histogram of finished runs, per job."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "kpi_job_runs",
            "Runs of background jobs recorded in the database, by job and status",
            labels=["job_key", "status"],
        )
        durations = HistogramMetricFamily(
            "kpi_job_run_duration_seconds",
            "Duration of finished runs of background jobs (their last attempt), by job",
            labels=["job_key"],
        )
        duration = _duration_seconds(self.engine.dialect.name)
        bucket_columns = [func.sum(case((duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        with self.engine.connect() as connection:
            for job_key, status, count in connection.execute(
                select(JobRun.job_key, JobRun.status, func.count()).group_by(JobRun.job_key, JobRun.status)
            ):
                runs.add_metric([job_key, status], count)
            finished = (
                select(JobRun.job_key, func.count(), func.coalesce(func.sum(duration), 0.0), *bucket_columns)
                .where(JobRun.status == "finished", JobRun.started_at.is_not(None), JobRun.finished_at.is_not(None))
                .group_by(JobRun.job_key)
            )
            for job_key, count, total, *cumulative in connection.execute(finished):
                buckets = [
                    (str(bound), int(value or 0)) for bound, value in zip(DURATION_BUCKETS, cumulative, strict=True)
                ]
                buckets.append(("+Inf", int(count)))
                durations.add_metric([job_key], buckets, float(total))
        yield runs
        yield durations


def job_exposition(engine: Engine) -> bytes:
    """The job metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobRunCollector(engine))
    return generate_latest(registry)
