"""Garbage-collector settings for the long-running processes: the web app, the workers, the scheduler."""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 50_000
"""Allocations of container objects between two collections of the youngest generation (Python: 700)."""


def tune_for_service() -> None:
    """Collect less often, and never walk again what start-up made.

    A KPI answer of a year by technician and month makes about 200,000 containers (48,000 sums, values
    and their rows); at Python's default threshold that runs collections of the older generations which
    walk the whole heap, about a third of building the answer (bench/README.md, issue #19). Only cyclic
    garbage waits longer for a collection; reference counting frees everything else at once, as before.
    Freezing the objects made at start-up (modules, tables, plugins) keeps every later full collection
    from walking them.

    Called once per process, after the app or worker is built (after the fork under gunicorn): not in
    ``create_app``, which tests call many times in one process.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
