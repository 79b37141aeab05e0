"""What the host hands a running job: the database, the settings and a progress reporter."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from kpi_core.config import Settings
from kpi_core.declarations import UploadedFile
from kpi_core.plugins import PluginHost
from kpi_core.storage import versions


@dataclass
class JobContext:
    """Passed as the first argument to every ``JobSpec.run(context, **params)``.

    Attribute by attribute:

    ``engine``
        The database, a SQLAlchemy ``Engine``. Open your own transaction:
        ``with context.engine.begin() as connection: connection.execute(...)``.
    ``settings``
        The host's :class:`~kpi_core.config.Settings` (``data_dir``,
        ``company_timezone``, ...): read only what you need,
        ``ZoneInfo(context.settings.company_timezone)`` for the company's
        time zone.
    ``plugin_settings``
        The declaring plugin's own settings in force, by name without the
        namespace, with their declared defaults where an admin set nothing:
        ``context.plugin_settings["callback_window_days"]``.
    ``plugins``
        The loaded plugins of the running process (their declarations), for
        jobs that compute KPIs or render reports; None only in hand-made
        contexts.
    ``progress(percent, message="")``
        Records how far the job has got (0 to 100, clamped), shown on the
        run: ``context.progress(50, "Read 1,000 of 2,000 rows")``.
    ``facts_changed(connection, moments)``
        Says which months of KPI facts a job changed in a plugin's own
        tables, in ``connection``'s transaction (see below):
        ``context.facts_changed(connection, [old_shift_start, new_shift_start])``.
    ``run_id`` and ``attempt``
        Identify the run (``attempt`` counts from 1; a retried job sees 2,
        3, ...), so a job can name its output after its run.
    ``file``
        For a job declared with ``takes_file=True``: the uploaded
        :class:`~kpi_core.declarations.UploadedFile` (``name``,
        ``media_type``, ``size``, ``path``, ``open()``); None otherwise::

            with context.file.open() as raw:
                rows = list(csv.DictReader(io.TextIOWrapper(raw, "utf-8-sig")))

    What the job returns (JSON data: a dict, list, number, text or None) is
    the run's ``result``; an exception fails the attempt, its type and
    message become the run's ``error`` (``"ValueError: row 3: no date"``)
    and, after the job's retries, the run is ``failed``. Raise with a
    message a person can act on.
    """

    engine: Engine
    settings: Settings
    plugin_settings: dict[str, Any] = field(default_factory=dict)
    plugins: PluginHost | None = None
    on_progress: Callable[[int, str], None] | None = None
    run_id: int | None = None
    attempt: int = 1
    file: UploadedFile | None = None

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
