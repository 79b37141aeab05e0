"""Plugins' job fields (``kpi_job_fields``) of one job: checked against their declarations, read, written.

The jobs API uses this module; imports write the same table in bulk
(kpi_core/imports/job_fields.py). A value is stored in the column of its
field's type (:data:`~kpi_core.storage.models.JOB_FIELD_COLUMNS`), and read
back from that column only, as metric builders read it. A change is audited as
an update of the job (``fields``: the values before and after) and bumps the
data versions of the job's months, through the ORM's flush listener
(kpi_core/storage/versions.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.declarations import JobField, JobFieldValueError
from kpi_core.errors import Invalid
from kpi_core.storage.models import JOB_FIELD_COLUMNS, Job, JobFieldValue
from kpi_core.storage.types import utcnow

Declared = Mapping[str, JobField]
"""The job fields the loaded plugins declare, by key (``PluginHost.job_fields``)."""


def unknown_field(key: str, declared: Declared) -> str:
    """Why ``key`` is refused: no plugin declares it, and the keys that may be given."""
    if not declared:
        return f"{key!r} is not a job field: no installed plugin declares job fields"
    return f"{key!r} is not a job field; the job fields are {', '.join(sorted(declared))}"


def checked_fields(declared: Declared, given: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """``given`` ({key: value, or None to remove the value}) parsed by the declarations.

    Raises :class:`Invalid` naming ``fields.<key>`` for the first key no plugin declares, value of
    the wrong type or out of bounds, or required field without a value (on ``creating``, every
    required field must be given).
    """
    parsed: dict[str, Any] = {}
    for key, value in given.items():
        field = declared.get(key)
        path = f"fields.{key}"
        if field is None:
            raise Invalid(path, unknown_field(key, declared))
        if value is None:
            if field.required:
                raise Invalid(path, f"{field.label} is required: it cannot be removed")
            parsed[key] = None
            continue
        try:
            parsed[key] = field.parse(value)
        except JobFieldValueError as exc:
            raise Invalid(path, str(exc)) from None
    if creating:
        for key, field in declared.items():
            if field.required and parsed.get(key) is None:
                raise Invalid(f"fields.{key}", f"{field.label} is required")
    return parsed


def field_values(job: Job, declared: Declared) -> dict[str, Any]:
    """The job's values of the declared fields, by key (a field without a value is left out)."""
    shown = {}
    for stored in job.field_values:
        field = declared.get(stored.key)
        if field is not None:
            value = getattr(stored, JOB_FIELD_COLUMNS[field.type])
            if value is not None:
                shown[stored.key] = value
    return shown


def set_fields(session: Session, actor: Actor, job: Job, values: Mapping[str, Any], declared: Declared) -> None:
    """Store checked ``values`` (from :func:`checked_fields`) on ``job``; None removes a value. Audited."""
    if not values:
        return
    before = field_values(job, declared)
    stored = {value.key: value for value in job.field_values}
    changed = {key: value for key, value in values.items() if before.get(key) != value}
    if not changed:
        return
    for key, value in changed.items():
        row = stored.get(key)
        if value is None:
            if row is not None:
                job.field_values.remove(row)
            continue
        if row is None:
            # job_id set here, not only by the relationship: the flush listener reads it before the flush.
            row = JobFieldValue(job_id=job.id, key=key)
            job.field_values.append(row)
        column = JOB_FIELD_COLUMNS[declared[key].type]
        for name in set(JOB_FIELD_COLUMNS.values()):
            setattr(row, name, value if name == column else None)
    job.updated_at = utcnow()
    session.flush()
    record(
        session, actor, "update", "job", job.id,
        before={"fields": {key: before.get(key) for key in changed}},
        after={"fields": dict(changed)},
    )  # fmt: skip
