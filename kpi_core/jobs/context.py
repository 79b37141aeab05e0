"""What the host hands a running job: the database, the settings and a progress reporter."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from kpi_core.config import Settings
from kpi_core.plugins import PluginHost
from kpi_core.storage import versions


@dataclass
class JobContext:
    """Passed as the first argument to every ``JobSpec.run``.

    ``engine`` is the database; ``settings`` the host's settings; ``plugins``
    the loaded plugins of the running process (their declarations, for jobs
    that compute KPIs or render reports);
    ``plugin_settings`` the declaring plugin's own settings;
    ``progress(percent, message)`` records how far the job has got;
    ``facts_changed(connection, moments)`` says which months of KPI facts a
    job changed in a plugin's own tables.
    ``run_id`` and ``attempt`` identify the run (``attempt`` counts from 1;
    a retried job sees 2, 3, ...), so a job can name its output after its run.
    """

    engine: Engine
    settings: Settings
    plugin_settings: dict[str, Any] = field(default_factory=dict)
    plugins: PluginHost | None = None
    on_progress: Callable[[int, str], None] | None = None
    run_id: int | None = None
    attempt: int = 1

    def facts_changed(self, connection: Connection, moments: Iterable[datetime | date | None]) -> None:
        """Say that facts a KPI reads changed at these ``moments``, in ``connection``'s transaction.

        For jobs that write a plugin's own tables: cached KPI results of the
        months of ``moments`` (UTC months of timestamps, calendar months of
        dates; None is skipped) are computed again once the transaction
        commits, in every process. Give the old and the new times of what
        changed. kpi-core's own tables need no call: their changes are seen.
        """
        versions.bump(connection, versions.months_of(moments))

    def progress(self, percent: int, message: str = "") -> None:
        """Report progress from 0 to 100; values outside are clamped."""
        if self.on_progress is not None:
            self.on_progress(max(0, min(100, int(percent))), message)
