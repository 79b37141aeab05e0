"""Fewer garbage collections while building something large: a KPI answer of tens of thousands of values, an import."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_GENERATION_THRESHOLD = 50_000
"""Allocations of container objects between two collections of the youngest generation inside
:func:`fewer_collections` (Python's default: 700)."""

_lock = threading.Lock()
_inside = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the youngest generation every 50,000 allocations instead of 700 inside the block.

    A year of 500 technicians by month makes about 200,000 containers (48,000 sums, values and their
    rows) that all live until the answer is encoded; at Python's default threshold each of them is
    walked by collection after collection, about a third of building the answer, and a 100,000-row
    import pays the same (bench/README.md, issue #19). Only cyclic garbage waits longer for a
    collection: reference counting frees everything else at once, as always.

    Scoped rather than set for the whole process: with the threshold raised for good, gunicorn's
    threaded workers served the 50-job list page at about half the rate (bench/load.py). The
    threshold is process-wide, so blocks on several threads share one raise, undone when the last
    of them ends.
    """
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *_saved[1:])
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
