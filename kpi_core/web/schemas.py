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
