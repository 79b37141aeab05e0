"""The host's notification features, registered through the same hooks as any plugin (plugin "notify")."""

from __future__ import annotations

from kpi_core import hookimpl
from kpi_core.declarations import JobSpec
from kpi_core.notify import alerts, periodic, retention
from kpi_core.notify.delivery import deliver_notifications
from kpi_core.notify.outbox import DELIVER_JOB_KEY


@hookimpl
def kpi_jobs() -> list[JobSpec]:
    return [
        # The outbox retries each message itself (kpi_core/notify/delivery.py), and the scheduler starts
        # this whenever messages are due: no schedule and no retries of its own.
        JobSpec(
            key=DELIVER_JOB_KEY,
            label="Send queued messages (e-mail, webhooks)",
            run=deliver_notifications,
            timeout=900,
            retries=0,
        ),
        # Every hour: each person's own schedule says when their message is due (a whole hour), and the
        # idempotency key (kind, person, period) makes every other run a no-op for them.
        JobSpec(
            key=periodic.WEEKLY_SCORECARDS,
            label="Send technicians their weekly scorecards, each at the time they chose",
            run=periodic.weekly_scorecards,
            schedule=periodic.HOURLY,
            timeout=1800,
            retries=2,
        ),
        JobSpec(
            key=periodic.TEAM_DIGESTS,
            label="Send managers their teams' weekly digests, each at the time they chose",
            run=periodic.team_digests,
            schedule=periodic.HOURLY,
            timeout=1800,
            retries=2,
        ),
        JobSpec(
            key=periodic.COMPANY_SUMMARY,
            label="Send admins the company's monthly summary, each at the time they chose",
            run=periodic.company_summary,
            schedule=periodic.HOURLY,
            timeout=1800,
            retries=2,
        ),
        JobSpec(
            key=retention.JOB_KEY,
            label="Delete sent and failed messages past their retention period",
            run=retention.remove_old_messages,
            schedule=retention.SCHEDULE,
            timeout=900,
            retries=1,
        ),
        # Also started after each import and each disputed callback (alerts.request_evaluation).
        JobSpec(
            key=alerts.JOB_KEY,
            label="Raise alerts about technicians' KPIs and tell their managers",
            run=alerts.evaluate_alerts,
            schedule=alerts.SCHEDULE,
            timeout=1800,
            retries=2,
        ),
    ]
