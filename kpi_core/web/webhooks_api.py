"""/api/v1/webhooks: endpoints admins register for events, their delivery log, and replays.

The sending is the ``notify_webhook`` plugin's (a signed JSON POST per
delivery); the endpoints and the log live here, in the host, since plugins
have no routes of their own yet.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from kpi_core.notify import webhooks as service
from kpi_core.notify.addresses import AddressRefused, resolve_web_url
from kpi_core.notify.outbox import request_delivery
from kpi_core.storage.models import MESSAGE_STATUSES, WEBHOOK_FORMATS, NotificationMessage, WebhookEndpoint
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import RECORD_ID, StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks", description="Webhook endpoints and deliveries")

NAME_WANTED = f"Enter a name of 1 to {service.NAME_MAX} characters that says where the events go"
URL_WANTED = "Enter the URL of the endpoint, starting with https://"
EVENTS_WANTED = "Choose at least one event to send to this endpoint"
FORMAT_HELP = "kpi: a signed JSON body with the event's data; slack: a Slack-compatible incoming-webhook body"


def _public_url(url: str) -> None:
    """Checked with the other fields, so that the form shows every problem at once."""
    try:
        resolve_web_url(url, allow_private=_allow_private())
    except AddressRefused as exc:
        raise ValidationError(str(exc)) from None


class WebhookCreateSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=service.NAME_MAX, error=NAME_WANTED),
        error_messages={"required": NAME_WANTED},
    )
    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000, error=URL_WANTED), _public_url],
        error_messages={"required": URL_WANTED},
        metadata={"description": "http(s) URL on a public address (private ones need KPI_WEBHOOK_ALLOW_PRIVATE=1)"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(list(service.EVENTS))),
        required=True,
        validate=validate.Length(min=1, error=EVENTS_WANTED),
        error_messages={"required": EVENTS_WANTED},
    )
    secret = fields.String(
        validate=validate.Length(min=service.SECRET_MIN, max=200, error="Use a secret of 16 to 200 characters"),
        metadata={"description": "Signs every delivery; leave it out to have one made (shown once, in the answer)"},
    )
    format = fields.String(validate=validate.OneOf(WEBHOOK_FORMATS), metadata={"description": FORMAT_HELP})
    enabled = fields.Boolean(metadata={"description": "Off: no new deliveries are made for it"})


class WebhookUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=service.NAME_MAX, error=NAME_WANTED))
    url = fields.String(validate=[validate.Length(min=1, max=2000, error=URL_WANTED), _public_url])
    events = fields.List(
        fields.String(validate=validate.OneOf(list(service.EVENTS))),
        validate=validate.Length(min=1, error=EVENTS_WANTED),
    )
    secret = fields.String(
        validate=validate.Length(min=service.SECRET_MIN, max=200, error="Use a secret of 16 to 200 characters")
    )
    format = fields.String(validate=validate.OneOf(WEBHOOK_FORMATS), metadata={"description": FORMAT_HELP})
    enabled = fields.Boolean()


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    format = fields.String(required=True, metadata={"enum": list(WEBHOOK_FORMATS), "description": FORMAT_HELP})
    enabled = fields.Boolean(required=True)
    secret_hint = fields.String(required=True, metadata={"description": "The secret's last four characters"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class CreatedWebhookSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={"description": "The signing secret: shown this once"})


class WebhookEventSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    delivery_id = fields.String(required=True, metadata={"description": "X-KPI-Delivery: the same on every attempt"})
    endpoint_id = fields.Integer(allow_none=True, attribute="webhook_endpoint_id")
    url = fields.String(required=True, attribute="recipient")
    event = fields.String(allow_none=True)
    summary = fields.String(required=True, attribute="subject")
    status = fields.String(required=True, metadata={"enum": list(MESSAGE_STATUSES)})
    attempts = fields.Integer(required=True)
    max_attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, metadata={"description": "Why the latest attempt failed"})
    receipt = fields.String(allow_none=True, metadata={"description": "The endpoint's answer when it was delivered"})
    replay_of = fields.Integer(allow_none=True, attribute="replay_of_id")
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    failed_at = fields.DateTime(allow_none=True)


class DeliveryQuerySchema(StrictSchema):
    endpoint_id = fields.Integer(validate=RECORD_ID)
    status = fields.String(validate=validate.OneOf(MESSAGE_STATUSES))


def _view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "url": endpoint.url,
        "events": list(endpoint.events or ()),
        "format": endpoint.format,
        "enabled": endpoint.enabled,
        "secret_hint": "…" + endpoint.secret[-4:],
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def _allow_private() -> bool:
    return app_state().settings.webhook_allow_private


@blp.route("")
class Endpoints(MethodView):
    @requires(blp, "webhooks.manage")
    @blp.response(200, WebhookSchema(many=True))
    @blp.doc(operationId="listWebhooks", summary="List webhook endpoints")
    def get(self) -> Any:
        """Every registered endpoint, by name (never its secret)."""
        return [_view(endpoint) for endpoint in service.list_endpoints(db_session())]

    @requires(blp, "webhooks.manage")
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, CreatedWebhookSchema)
    @blp.doc(operationId="createWebhook", summary="Register a webhook endpoint")
    def post(self, body: dict[str, Any]) -> Any:
        """Register an endpoint for some events. The URL must be http(s) on a public address; the answer holds
        the signing secret, shown this once."""
        endpoint, secret = service.create_endpoint(db_session(), current_actor(), body, allow_private=_allow_private())
        result = {**_view(endpoint), "secret": secret}
        commit()
        return result


@blp.route("/events")
class Events(MethodView):
    @requires(blp, "webhooks.manage")
    @blp.response(200, WebhookEventSchema(many=True))
    @blp.doc(operationId="listWebhookEvents", summary="Events an endpoint may receive")
    def get(self) -> Any:
        """Every event name with what it means."""
        return [{"key": key, "label": label} for key, label in service.EVENTS.items()]


@blp.route("/<int:endpoint_id>")
class Endpoint(MethodView):
    @requires(blp, "webhooks.manage")
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such endpoint")
    @blp.doc(operationId="getWebhook", summary="Read a webhook endpoint")
    def get(self, endpoint_id: int) -> Any:
        return _view(service.get_endpoint(db_session(), endpoint_id))

    @requires(blp, "webhooks.manage")
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such endpoint")
    @blp.doc(operationId="updateWebhook", summary="Change a webhook endpoint")
    def patch(self, body: dict[str, Any], endpoint_id: int) -> Any:
        """Change what is given: name, URL (checked again), events, secret, format, on or off."""
        session = db_session()
        endpoint = service.get_endpoint(session, endpoint_id)
        service.update_endpoint(session, current_actor(), endpoint, body, allow_private=_allow_private())
        result = _view(endpoint)
        commit()
        return result

    @requires(blp, "webhooks.manage")
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such endpoint")
    @blp.doc(operationId="deleteWebhook", summary="Remove a webhook endpoint")
    def delete(self, endpoint_id: int) -> None:
        """Remove it; its delivery log stays, and deliveries still waiting fail."""
        session = db_session()
        service.delete_endpoint(session, current_actor(), service.get_endpoint(session, endpoint_id))
        commit()


@blp.route("/deliveries")
class Deliveries(MethodView):
    @requires(blp, "webhooks.manage")
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliverySchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listWebhookDeliveries", summary="The delivery log of webhooks")
    def get(self, query: dict[str, Any]) -> Any:
        """Every delivery, newest first: its event, status, attempts and the latest error or answer."""
        statement = select(NotificationMessage).where(NotificationMessage.channel == service.CHANNEL)
        if "endpoint_id" in query:
            statement = statement.where(NotificationMessage.webhook_endpoint_id == query["endpoint_id"])
        if "status" in query:
            statement = statement.where(NotificationMessage.status == query["status"])
        return statement.order_by(NotificationMessage.id.desc())


@blp.route("/deliveries/<int:delivery_id>/replay")
class Replay(MethodView):
    @requires(blp, "webhooks.manage")
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such delivery")
    @blp.doc(operationId="replayWebhookDelivery", summary="Send a delivery again")
    def post(self, delivery_id: int) -> Any:
        """A failed delivery is queued again as it was (same X-KPI-Delivery); a delivered one is sent again as
        a new delivery (a new id, so a receiver that drops repeats takes it). Sent within seconds."""
        session = db_session()
        message = session.get(NotificationMessage, delivery_id)
        if message is None:
            from kpi_core.errors import NotFound

            raise NotFound(f"webhook delivery {delivery_id} does not exist")
        replayed = service.replay(session, current_actor(), message)
        request_delivery(session, runner(), requested_by=current_actor())
        commit()
        return replayed
