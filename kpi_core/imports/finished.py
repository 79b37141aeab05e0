"""What follows an import that wrote something, however it came in (the API, ``kpi import``).

In the import's own transaction, so that neither happens for an import that is undone: the
``import.finished`` event for the webhooks that want it, and a run of the alerts job on the new facts.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.imports.report import ImportReport
from kpi_core.notify.alerts import request_evaluation
from kpi_core.notify.webhooks import emit_event


def import_finished(session: Session, runner: Any, actor: Actor, kind: str, report: ImportReport) -> int | None:
    """Queue the event and start the alerts job; the alerts run's id, or None (none needed, or the schedule's
    next run evaluates the rules)."""
    payload = {
        "kind": kind,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "first_scheduled": report.first_scheduled,
        "last_scheduled": report.last_scheduled,
        "by": actor.username,
    }
    summary = (
        f"An import of {kind} finished: {report.rows} rows, {report.created} new, {report.updated} changed, "
        f"{report.unchanged} unchanged."
    )
    emit_event(session, "import.finished", payload, event_id=f"import:{uuid.uuid4()}", summary=summary)
    return request_evaluation(session, runner, requested_by=actor)
