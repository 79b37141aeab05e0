"""Domain errors of the job runner, mapped to answers by the web layer and the CLI."""

from __future__ import annotations

from kpi_core.errors import KpiError


class QueueUnavailable(KpiError):
    """The job queue (Redis) cannot take the job now; nothing was recorded. Try again later."""

    retry_after = 30
    """Seconds a client should wait before trying again (the API's Retry-After)."""
