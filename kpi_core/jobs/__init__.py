"""Background jobs: the runner (RQ on Redis, or in-process), schedules and the scheduler.

The API is :class:`kpi_core.jobs.runner.Runner` (``enqueue``, ``get_run``),
built by :func:`kpi_core.jobs.runner.make_runner`; README.md beside this
file explains the design.
"""
