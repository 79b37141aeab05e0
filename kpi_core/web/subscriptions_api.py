"""/api/v1/notifications/subscriptions: what the caller receives, on which channel and when, and their address.

Every role has a page of these choices (the dashboard's Notifications page): the
kinds their role receives (kpi_core/notify/preferences.py), each on or off, its
channel and, for a periodic kind, its schedule in the company's time zone (a
cron of a whole hour that the page writes from words: "Every Monday at 7:00").
The caller's own e-mail address is set here too; a technician's falls back to
the one on their technician record. A PUT is checked whole: every problem is
named at once (``email``, ``subscriptions.<i>.schedule``...) and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kpi_core.notify import preferences
from kpi_core.notify.addresses import check_email
from kpi_core.storage.models import User
from kpi_core.web.access import current_actor, current_principal, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.state import app_state

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/api/v1/notifications",
    description="What each user receives: scorecards, digests, alerts",
)

EMAIL_WANTED = "Enter an e-mail address in the right form, like name@example.com"
SCHEDULE_HELP = (
    "A 5-field cron at a whole hour in the company's time zone: weekly kinds 0 H * * D (D: 0-7, Sunday 0 or 7), "
    "the monthly one 0 H D * * (D: 1-28). Left out: the kind's default"
)


def _email(value: str) -> None:
    if value.strip() and check_email(value.strip()):
        raise ValidationError(f"{EMAIL_WANTED}: {check_email(value.strip())}")


class ChannelChoiceSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    attachments = fields.Boolean(required=True, metadata={"description": "It can carry a PDF"})


class SubscriptionSchema(Schema):
    kind = fields.String(required=True, metadata={"enum": list(preferences.KINDS)})
    title = fields.String(required=True, metadata={"description": "The kind in words: My weekly scorecard"})
    description = fields.String(required=True, metadata={"description": "What these messages hold, in words"})
    enabled = fields.Boolean(required=True)
    channel = fields.String(required=True)
    frequency = fields.String(
        required=True, allow_none=True, metadata={"enum": ["week", "month", None], "description": "None: as it happens"}
    )
    schedule = fields.String(required=True, allow_none=True, metadata={"description": SCHEDULE_HELP})
    default_schedule = fields.String(required=True, allow_none=True)
    address = fields.String(required=True, allow_none=True, metadata={"description": "For a channel other than e-mail"})
    chosen = fields.Boolean(required=True, metadata={"description": "False: the default applies (nothing chosen yet)"})
    attach_pdf = fields.Boolean(
        required=True, metadata={"description": "A periodic message comes with its numbers as a PDF report too"}
    )


class SubscriptionsSchema(Schema):
    email = fields.String(required=True, allow_none=True, metadata={"description": "Where e-mail goes now"})
    email_source = fields.String(
        required=True,
        allow_none=True,
        metadata={"enum": ["account", "technician", None], "description": "The user's own address, or their record's"},
    )
    own_email = fields.String(required=True, allow_none=True, metadata={"description": "The user's own address"})
    timezone = fields.String(required=True, metadata={"description": "The zone schedules are read in"})
    channels = fields.List(fields.Nested(ChannelChoiceSchema), required=True)
    subscriptions = fields.List(fields.Nested(SubscriptionSchema), required=True)


class SubscriptionInSchema(StrictSchema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(list(preferences.KINDS)),
        error_messages={"required": "Say which kind of message this is"},
    )
    enabled = fields.Boolean(required=True, error_messages={"required": "Say whether to receive these messages"})
    channel = fields.String(validate=validate.Length(min=1, max=40))
    schedule = fields.String(validate=validate.Length(min=1, max=40), metadata={"description": SCHEDULE_HELP})
    address = fields.String(
        validate=validate.Length(max=254), metadata={"description": "For a channel other than e-mail"}
    )
    attach_pdf = fields.Boolean(
        metadata={
            "description": "Attach the numbers as a PDF report (periodic kinds, on a channel that carries files; "
            "left out: no PDF)"
        }
    )

    @validates_schema
    def _schedule_fits_the_kind(self, data: dict[str, Any], **_kwargs: Any) -> None:
        kind = preferences.KINDS.get(data.get("kind", ""))
        schedule = data.get("schedule")
        if kind is not None and schedule is not None:
            problem = preferences.check_schedule(kind, " ".join(schedule.split()))
            if problem:
                raise ValidationError(problem, "schedule")


class SubscriptionsInSchema(StrictSchema):
    email = fields.String(
        allow_none=True,
        validate=[validate.Length(max=254, error=EMAIL_WANTED), _email],
        metadata={"description": 'The caller\'s own e-mail address; "" or null removes it. Left out: unchanged'},
    )
    subscriptions = fields.List(
        fields.Nested(SubscriptionInSchema),
        load_default=list,
        validate=validate.Length(max=len(preferences.KINDS)),
        metadata={"description": "The kinds to change; a kind left out stays as it is"},
    )

    @validates_schema
    def _each_kind_once(self, data: dict[str, Any], **_kwargs: Any) -> None:
        kinds = [item["kind"] for item in data.get("subscriptions", [])]
        if len(kinds) != len(set(kinds)):
            raise ValidationError("Give each kind of message once", "subscriptions")


def _me() -> User:
    user = db_session().get(User, current_principal().user_id)
    assert user is not None  # an authenticated principal's user exists
    return user


def _channels() -> list[dict[str, Any]]:
    declared = app_state().plugins.notification_channels
    return [
        {"key": key, "label": channel.label, "description": channel.description, "attachments": channel.attachments}
        for key, channel in sorted(declared.items(), key=lambda item: item[0] != preferences.EMAIL)
        if key not in preferences.NOT_FOR_PEOPLE
    ]


def _answer(user: User) -> dict[str, Any]:
    session = db_session()
    email, source = preferences.own_email(session, user)
    return {
        "email": email,
        "email_source": source,
        "own_email": user.email,
        "timezone": app_state().settings.timezone,
        "channels": _channels(),
        "subscriptions": [
            {
                "kind": choice.kind.key,
                "title": choice.kind.title,
                "description": choice.kind.description,
                "enabled": choice.enabled,
                "channel": choice.channel,
                "frequency": choice.kind.unit,
                "schedule": choice.schedule,
                "default_schedule": choice.kind.default_schedule,
                "address": choice.address,
                "chosen": choice.stored,
                "attach_pdf": choice.attach_pdf,
            }
            for choice in preferences.choices_for(session, user)
        ],
    }


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    @requires(blp, "notifications.subscribe")
    @blp.response(200, SubscriptionsSchema)
    @blp.doc(operationId="getMySubscriptions", summary="What I receive, on which channel and when")
    def get(self) -> Any:
        """The caller's choice for every kind of message their role receives (defaults where they chose
        nothing), the address e-mail goes to, and the channels that can reach a person."""
        return _answer(_me())

    @requires(blp, "notifications.subscribe")
    @blp.arguments(SubscriptionsInSchema, required=False)
    @blp.response(200, SubscriptionsSchema)
    @blp.doc(operationId="updateMySubscriptions", summary="Change what I receive, and my e-mail address")
    def put(self, body: dict[str, Any]) -> Any:
        """Set the caller's address (``email``) and their choice for the kinds given; audited. A kind the
        caller's role does not receive, or a channel that cannot reach a person, is refused naming it."""
        session, user, actor = db_session(), _me(), current_actor()
        if "email" in body:
            preferences.set_own_email(session, user, actor, body["email"])
        items = [
            {**item, "schedule": " ".join(item["schedule"].split()) if item.get("schedule") else None}
            for item in body["subscriptions"]
        ]
        preferences.save_choices(session, user, actor, items, channels=app_state().plugins.notification_channels)
        answer = _answer(user)
        commit()
        return answer
