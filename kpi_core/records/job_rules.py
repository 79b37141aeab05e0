"""Rules a job's values must keep together; shared by the jobs API and the imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def job_rule_violations(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every cross-field rule ``values`` break; empty when the job is consistent."""
    problems: list[tuple[str, str]] = []
    get = values.get  # each value read once: every row of an import is checked
    start, end, arrived = get("scheduled_start"), get("scheduled_end"), get("arrived_at")
    started, completed, status = get("started_at"), get("completed_at"), get("status")
    if start and end and end < start:
        problems.append(("scheduled_end", "must not be before scheduled_start"))
    if started and completed and completed < started:
        problems.append(("completed_at", "must not be before started_at"))
    if arrived and started and started < arrived:
        problems.append(("started_at", "must not be before arrived_at"))
    if status == "completed" and not completed:
        problems.append(("completed_at", "is required when status is completed"))
    if status == "scheduled" and completed:
        problems.append(("status", "must be completed when completed_at is set"))
    return problems
