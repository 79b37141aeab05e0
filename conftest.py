"""Root conftest: the shared fixtures reach tests/ and every plugin's tests, and the suite runs in parallel.

pytest-xdist runs the test files on WORKERS processes unless ``-n`` says otherwise (``-n 0`` runs
serially, as does ``-p no:xdist``). Each worker has its own session fixtures: its PostgreSQL and
Redis servers, and, for the worker that runs the browser tests, the demo server and Chromium.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["kpi_core.testing.fixtures"]

WORKERS = 3
"""Workers when no ``-n`` is given: one more than CI's 2 cores, since much of the suite waits
(on PostgreSQL, subprocesses, Chromium, RQ's heartbeats) rather than computes."""

TOGETHER = ("tests/browser/",)
"""Folders whose files run on one worker: the browser tests share one demo server (seeded with
18 months of data) and one Chromium, which every other worker would otherwise start again."""


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """WORKERS processes and one file (or TOGETHER folder) per worker at a time, unless told otherwise.

    Set here rather than as ``-n`` in addopts, with which ``-p no:xdist`` would be a usage error.
    A file stays on one worker, so its module-scoped apps and databases are built once and the
    topology tests run in file order against their one cluster.
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    option = config.option
    if option.numprocesses is None and not option.usepdb and not option.collectonly:
        option.numprocesses = WORKERS
    if option.numprocesses and option.dist == "no" and not option.distload:
        option.dist = "loadfile"


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``, with each TOGETHER folder scheduled as if it were one file."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((folder for folder in TOGETHER if nodeid.startswith(folder)), super()._split_scope(nodeid))

    return Scheduling(config, log)
