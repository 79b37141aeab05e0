"""A periodic message's PDF: the recipient's numbers over the message's period, as a report.

Asked for per subscription (``attach_pdf``, e-mail only). The report is added as the recipient's
own (it is in their reports list, and rendered with their scope: a technician's PDF holds their
rows only) and rendered at once by the job sending the messages, so the message goes out with it
instead of waiting for another job. Its file is attached when the message is sent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kpi_core.audit.trail import Actor
from kpi_core.jobs.context import JobContext
from kpi_core.notify.preferences import Window
from kpi_core.plugins import PluginHost
from kpi_core.reports.job import render_report, requester_scope
from kpi_core.reports.service import add_report_run
from kpi_core.storage.db import engine_session
from kpi_core.storage.models import User

PDF = "pdf"


def pdf_spec(title: str, window: Window, group_by: str) -> dict[str, Any]:
    """The report of ``window`` as one period (the message's "so far" end included)."""
    return {
        "format": PDF, "title": title, "group_by": group_by, "period": window.unit,
        "start": window.start.isoformat(), "end": window.end.isoformat(),
    }  # fmt: skip


def render_pdf(context: JobContext, plugins: PluginHost, user: User, spec: dict[str, Any]) -> int | None:
    """Add ``spec``'s report as ``user``'s and render it now; its run's id, or None without a PDF format."""
    if PDF not in plugins.report_formats:
        return None
    with engine_session(context.engine, write=True) as session:
        actor = Actor(user_id=user.id, username=user.username)
        scope = requester_scope(session, user.id)
        run = add_report_run(session, plugins, context.settings, actor, spec, scope=scope)
        run_id = run.id
    # The sending job's own progress is not the report's.
    render_report(dataclasses.replace(context, on_progress=None), run_id)
    return run_id
