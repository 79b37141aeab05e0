"""Marshmallow schemas shared by several API blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

MAX_ID = 2**63 - 1
"""The largest id any supported database can store (a signed 64-bit integer)."""

RECORD_ID = validate.Range(min=1, max=MAX_ID)
"""Validates an id given in a query or body: a larger number is a 422 naming the field,
never a database driver's overflow error."""


NUL_MESSAGE = "must not contain NUL characters"


def _has_nul(value: Any) -> bool:
    # A loop, not recursion: a body nested hundreds of levels deep must not exhaust the stack here.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


class StrictSchema(Schema):
    """Request bodies reject unknown fields, naming them, and text with NUL characters."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _reject_nul(self, data: Any, **_kwargs: Any) -> Any:
        # PostgreSQL cannot store NUL in text (the driver raises), SQLite would keep it and every
        # reader after would trip on it: refuse it at the door, naming the field.
        if isinstance(data, Mapping):
            found = {str(key): [NUL_MESSAGE] for key in data if _has_nul(key) or _has_nul(data[key])}
            if found:
                raise ValidationError(found)
        return data


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["admin", "manager", "technician"]})
    display_name = fields.String(allow_none=True)
    technician_id = fields.Integer(allow_none=True)
    disabled = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class CompanyDateTime(fields.DateTime):
    """An ISO 8601 timestamp. One without a zone is read in the company time zone
    (KPI_TIMEZONE); every value is stored in UTC and answered with its zone."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        from datetime import UTC

        from kpi_core.web.state import app_state

        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=app_state().settings.zone)
        return parsed.astimezone(UTC)
