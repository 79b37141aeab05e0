"""Marshmallow schemas shared by several API blueprints."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class StrictSchema(Schema):
    """Request bodies reject unknown fields, naming them."""

    class Meta:
        unknown = RAISE


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
