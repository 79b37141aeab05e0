"""Rules a job's values must keep together; shared by the jobs API and the imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def job_rule_violations(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every cross-field rule ``values`` break; empty when the job is consistent."""
    problems: list[tuple[str, str]] = []
    get = values.get
    if get("scheduled_start") and get("scheduled_end") and get("scheduled_end") < get("scheduled_start"):
        problems.append(("scheduled_end", "must not be before scheduled_start"))
    if get("started_at") and get("completed_at") and get("completed_at") < get("started_at"):
        problems.append(("completed_at", "must not be before started_at"))
    if get("arrived_at") and get("started_at") and get("started_at") < get("arrived_at"):
        problems.append(("started_at", "must not be before arrived_at"))
    status = get("status")
    if status == "completed" and not get("completed_at"):
        problems.append(("completed_at", "is required when status is completed"))
    if status == "scheduled" and get("completed_at"):
        problems.append(("status", "must be completed when completed_at is set"))
    return problems
