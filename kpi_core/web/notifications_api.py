"""/api/v1/notifications: the log of messages sent, the channels, a test e-mail, and unsubscribing.

Admins read every message the outbox holds (any channel) with its status,
attempts and latest error, send a failed one again, download a message that
was written as an .eml file (no ``KPI_SMTP_URL``), and see where each
channel's messages go. ``/unsubscribe`` is public: the signed token of a
message's link is the permission.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from kpi_core.errors import Invalid, NotFound
from kpi_core.notify import subscriptions
from kpi_core.notify.addresses import check_email
from kpi_core.notify.channels import channel_status
from kpi_core.notify.outbox import MessageDraft, queue_message, request_delivery, send_again
from kpi_core.notify.written import written_file
from kpi_core.storage.models import MESSAGE_STATUSES, NotificationMessage
from kpi_core.web.access import current_actor, current_principal, public, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.jobs_runs_api import runner
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="Messages sent, channels, unsubscribing"
)


class MessageSchema(Schema):
    id = fields.Integer(required=True)
    channel = fields.String(required=True)
    to = fields.String(required=True, attribute="recipient")
    subject = fields.String(required=True)
    kind = fields.String(allow_none=True, metadata={"description": "The subscription it was sent under"})
    event = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(MESSAGE_STATUSES)})
    attempts = fields.Integer(required=True)
    max_attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, metadata={"description": "Why the latest attempt failed"})
    receipt = fields.String(allow_none=True, metadata={"description": "What the channel said when it was sent"})
    delivery_id = fields.String(required=True)
    has_file = fields.Method("_has_file", required=True, metadata={"type": "boolean"})
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    failed_at = fields.DateTime(allow_none=True)

    def _has_file(self, message: NotificationMessage) -> bool:
        return written_file(message, app_state().settings.data_dir) is not None


class MessageQuerySchema(StrictSchema):
    channel = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(MESSAGE_STATUSES))


class ChannelSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    plugin = fields.String(required=True)
    settings = fields.List(fields.String(), required=True, metadata={"description": "The settings it reads"})
    status = fields.String(required=True, metadata={"description": "Where its messages go now, in words"})
    deduplicates = fields.Boolean(required=True)


class TestEmailSchema(StrictSchema):
    to = fields.String(
        required=True,
        validate=validate.Length(min=1, max=254, error="Enter the e-mail address to send the test to"),
        error_messages={"required": "Enter the e-mail address to send the test to"},
    )


class UnsubscribeQuerySchema(StrictSchema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        error_messages={"required": "The unsubscribe link has no token: open the link exactly as it is in the message"},
    )


class UnsubscribeSchema(Schema):
    kind = fields.String(required=True)
    label = fields.String(required=True, metadata={"description": "What the user stops receiving, in words"})
    enabled = fields.Boolean(required=True, metadata={"description": "False once unsubscribed"})


def _message(message_id: int) -> NotificationMessage:
    message = db_session().get(NotificationMessage, message_id)
    if message is None:
        raise NotFound(f"message {message_id} does not exist")
    return message


@blp.route("/messages")
class Messages(MethodView):
    @requires(blp, "notifications.manage")
    @blp.arguments(MessageQuerySchema, location="query")
    @blp.response(200, MessageSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listMessages", summary="Messages sent and waiting")
    def get(self, query: dict[str, Any]) -> Any:
        """Every message of the outbox, newest first: to whom, on which channel, and what became of it."""
        statement = select(NotificationMessage)
        if "channel" in query:
            statement = statement.where(NotificationMessage.channel == query["channel"])
        if "status" in query:
            statement = statement.where(NotificationMessage.status == query["status"])
        return statement.order_by(NotificationMessage.id.desc())


@blp.route("/messages/<int:message_id>")
class Message(MethodView):
    @requires(blp, "notifications.manage")
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such message")
    @blp.doc(operationId="getMessage", summary="Read a message's delivery")
    def get(self, message_id: int) -> Any:
        return _message(message_id)


@blp.route("/messages/<int:message_id>/resend")
class Resend(MethodView):
    @requires(blp, "notifications.manage")
    @blp.response(202, MessageSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such message")
    @blp.doc(operationId="resendMessage", summary="Send a failed message again")
    def post(self, message_id: int) -> Any:
        """Queue a failed message again with five more attempts (the same delivery id); sent within seconds."""
        session = db_session()
        message = _message(message_id)
        if message.status != "failed":
            raise Invalid("status", f"Only a failed message is sent again; this one is {message.status}")
        send_again(session, message)
        request_delivery(session, runner(), requested_by=current_actor())
        commit()
        return message


@blp.route("/messages/<int:message_id>/eml")
class MessageFile(MethodView):
    @requires(blp, "notifications.manage")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="message/rfc822")
    @blp.alt_response(404, schema=ErrorSchema, description="No such message, or it was not written to a file")
    @blp.doc(operationId="downloadMessage", summary="Download a message written as an .eml file")
    def get(self, message_id: int) -> Any:
        """The message as it was written (no KPI_SMTP_URL): opens in any mail program."""
        path = written_file(_message(message_id), app_state().settings.data_dir)
        if path is None:
            raise NotFound(f"message {message_id} was not written to a file (or the file is gone)")
        return send_file(path, mimetype="message/rfc822", as_attachment=True, download_name=f"message-{message_id}.eml")


@blp.route("/channels")
class Channels(MethodView):
    @requires(blp, "notifications.manage")
    @blp.response(200, ChannelSchema(many=True))
    @blp.doc(operationId="listChannels", summary="Notification channels and where their messages go")
    def get(self) -> Any:
        """Each channel a plugin declares (kpi_notification_channels), with where its messages go now."""
        state = app_state()
        plugins = state.plugins
        found = []
        for channel in sorted(plugins.notification_channels.values(), key=lambda channel: channel.key):
            status = channel_status(channel, state.settings)
            found.append(
                {
                    "key": channel.key,
                    "label": channel.label,
                    "description": channel.description,
                    "plugin": plugins.owner_of("kpi_notification_channels", channel.key),
                    "settings": list(channel.settings),
                    "status": status,
                    "deduplicates": channel.deduplicates,
                }
            )
        return found


@blp.route("/test-email")
class TestEmail(MethodView):
    @requires(blp, "notifications.manage")
    @blp.arguments(TestEmailSchema)
    @blp.response(202, MessageSchema)
    @blp.doc(operationId="sendTestEmail", summary="Send a test e-mail")
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a short e-mail to the address given, to check the mail settings; sent within seconds."""
        problem = check_email(body["to"])
        if problem is not None:
            raise Invalid("to", f"Enter a valid e-mail address: {problem}")
        if "email" not in app_state().plugins.notification_channels:
            raise Invalid("to", "No e-mail channel is installed: install and enable the notify_email plugin")
        session = db_session()
        who = current_principal().username
        draft = MessageDraft(
            channel="email",
            to=body["to"],
            subject="Test message from Handyman KPI",
            text=f"This is a test message sent by {who} to check that e-mail from Handyman KPI arrives.\n\n"
            "Nothing needs doing.",
        )
        message = queue_message(session, draft, idempotency_key=f"test:{uuid.uuid4()}")
        request_delivery(session, runner(), requested_by=current_actor())
        commit()
        return message


@blp.route("/unsubscribe")
class Unsubscribe(MethodView):
    @public(blp)
    @blp.arguments(UnsubscribeQuerySchema, location="query")
    @blp.response(200, UnsubscribeSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="The link is forged, cut short or expired")
    @blp.doc(operationId="readUnsubscribeLink", summary="What an unsubscribe link turns off")
    def get(self, query: dict[str, Any]) -> Any:
        """What the link's token is for, without changing anything (mail scanners open links)."""
        target = _target(query["token"])
        enabled = subscriptions.is_enabled(db_session(), target.user_id, target.kind)
        return {"kind": target.kind, "label": target.label, "enabled": enabled}

    @public(blp)
    @blp.arguments(UnsubscribeQuerySchema, location="query")
    @blp.response(200, UnsubscribeSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="The link is forged, cut short or expired")
    @blp.doc(operationId="unsubscribe", summary="Turn a subscription off (one-click, RFC 8058)")
    def post(self, query: dict[str, Any]) -> Any:
        """Turn off the kind of message the token names, for its user. The List-Unsubscribe header's URL: a
        mail client POSTs ``List-Unsubscribe=One-Click`` here. Doing it twice changes nothing."""
        target = _target(query["token"])
        _apply(target)
        return {"kind": target.kind, "label": target.label, "enabled": False}


def _target(token: str) -> subscriptions.Unsubscribe:
    try:
        return subscriptions.read_token(app_state().settings, token)
    except subscriptions.TokenRejected as exc:
        raise Invalid("token", str(exc), location="query") from None


def _apply(target: subscriptions.Unsubscribe) -> None:
    try:
        subscriptions.unsubscribe(db_session(), target, current_actor())
    except subscriptions.TokenRejected as exc:
        raise Invalid("token", str(exc), location="query") from None
    commit()
