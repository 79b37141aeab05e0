"""/api/v1/audit: the audit trail, read-only (admins). No route edits or deletes entries."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from kpi_core.storage.models import AuditEntry
from kpi_core.web.access import requires
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import AwareTimestamp, StrictSchema

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit trail")


class AuditQuerySchema(StrictSchema):
    user = fields.String(validate=validate.Length(min=1, max=150), metadata={"description": "Username"})
    entity = fields.String(validate=validate.Length(min=1, max=60))
    entity_id = fields.String(validate=validate.Length(min=1, max=64))
    action = fields.String(validate=validate.Length(min=1, max=40))
    since = AwareTimestamp(metadata={"description": "Entries at or after (ISO 8601 with zone)"})
    until = AwareTimestamp(metadata={"description": "Entries before (ISO 8601 with zone)"})


class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    user_id = fields.Integer(allow_none=True)
    username = fields.String(allow_none=True)
    action = fields.String(required=True)
    entity = fields.String(required=True)
    entity_id = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True, metadata={"description": "{field: [before, after]}"})
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    prev_hash = fields.String(allow_none=True)
    hash = fields.String(required=True)


@blp.route("")
class AuditTrail(MethodView):
    @requires(blp, "audit.read")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditEntrySchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listAuditEntries", summary="Read the audit trail")
    def get(self, query: dict[str, Any]) -> Any:
        """Newest first; filter by user, entity, entity id, action and time range."""
        statement = select(AuditEntry).order_by(AuditEntry.id.desc())
        if "user" in query:
            statement = statement.where(AuditEntry.username == query["user"])
        for name in ("entity", "entity_id", "action"):
            if name in query:
                statement = statement.where(getattr(AuditEntry, name) == query[name])
        if "since" in query:
            statement = statement.where(AuditEntry.at >= query["since"])
        if "until" in query:
            statement = statement.where(AuditEntry.at < query["until"])
        return statement
