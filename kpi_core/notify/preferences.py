"""What each user receives, on which channel and when: the kinds of message, their defaults, a user's choices.

Each kind of message (:data:`KINDS`) is for some roles: a technician's weekly
scorecard, a manager's weekly digest of their teams, the admins' monthly
summary of the company, and alerts (managers and admins). Every kind is on by
default for those roles, but a message needs an address: a user's own e-mail
(``users.email``) or, for a technician, the one on their technician record.
Periodic kinds go out on a schedule each user chooses (a 5-field cron of the
shapes :func:`check_schedule` takes, read in the company's time zone); the
default is Monday at 7:00 for weekly kinds and the 1st of the month at 7:00
for the monthly one. Choices are rows of ``notification_subscriptions``
(``options`` holds ``schedule`` and, for a channel other than e-mail, its
``address``); no row means the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.errors import Invalid
from kpi_core.kpis.ranges import next_unit_start, unit_floor
from kpi_core.notify.addresses import check_email
from kpi_core.storage.models import NotificationSubscription, Technician, User
from kpi_core.storage.types import utcnow

EMAIL = "email"
NOT_FOR_PEOPLE = frozenset({"webhook"})
"""Channels that deliver to systems an admin registered, never to a person's address."""


@dataclass(frozen=True)
class Kind:
    """A kind of message a user may receive: its words, who may have it and how often it goes out."""

    key: str
    title: str
    description: str
    roles: tuple[str, ...]
    unit: str | None
    """``week`` or ``month`` for periodic kinds (their schedule says when); None: sent as it happens."""
    default_schedule: str | None = None


KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(
            "weekly_scorecard",
            "My weekly scorecard",
            "Your own numbers for the week, compared with the week before. Nobody else's numbers are in it.",
            ("technician",),
            "week",
            "0 7 * * 1",
        ),
        Kind(
            "team_digest",
            "My team's weekly digest",
            "Your teams' numbers for the week and each technician's score, compared with the week before.",
            ("manager",),
            "week",
            "0 7 * * 1",
        ),
        Kind(
            "monthly_summary",
            "Company monthly summary",
            "The company's and each team's numbers for the month, compared with the month before.",
            ("admin",),
            "month",
            "0 7 1 * *",
        ),
        Kind(
            "alerts",
            "Alerts",
            "A message as soon as a technician's numbers need attention: clearly off target for a while, a "
            "large change, or a disputed callback.",
            ("manager", "admin"),
            None,
        ),
    )
}
"""Every kind of message users choose on the notifications page, in the order it lists them."""


@dataclass(frozen=True)
class Choice:
    """A user's choice for one kind: stored, or the default when ``stored`` is False."""

    kind: Kind
    enabled: bool
    channel: str
    schedule: str | None
    address: str | None
    stored: bool
    attach_pdf: bool = False
    """A periodic message comes with its numbers as a PDF report too (on a channel that carries files)."""


def kinds_for(role: str) -> list[Kind]:
    return [kind for kind in KINDS.values() if role in kind.roles]


def own_email(session: Session, user: User) -> tuple[str | None, str | None]:
    """(the address e-mail goes to, where it comes from: ``account`` or ``technician``), or (None, None)."""
    if user.email:
        return user.email, "account"
    if user.technician_id is not None:
        found = session.scalar(select(Technician.email).where(Technician.id == user.technician_id))
        if found:
            return found, "technician"
    return None, None


def choices_for(session: Session, user: User) -> list[Choice]:
    """The user's choice for every kind their role may receive."""
    rows = {
        row.kind: row
        for row in session.scalars(select(NotificationSubscription).where(NotificationSubscription.user_id == user.id))
    }
    return [_choice(kind, rows.get(kind.key)) for kind in kinds_for(user.role)]


def choice_of(session: Session, user: User, kind: str) -> Choice:
    row = session.scalar(
        select(NotificationSubscription).where(
            NotificationSubscription.user_id == user.id, NotificationSubscription.kind == kind
        )
    )
    return _choice(KINDS[kind], row)


def _choice(kind: Kind, row: NotificationSubscription | None) -> Choice:
    if row is None:
        return Choice(kind, True, EMAIL, kind.default_schedule, None, stored=False)
    options = row.options or {}
    schedule = (options.get("schedule") or kind.default_schedule) if kind.unit else None
    attach_pdf = bool(options.get("attach_pdf")) and kind.unit is not None
    return Choice(kind, bool(row.enabled), row.channel, schedule, options.get("address"), True, attach_pdf)


def address_of(session: Session, user: User, choice: Choice) -> str | None:
    """Where ``choice``'s messages go: the user's e-mail for the e-mail channel, else the address given."""
    if choice.channel == EMAIL:
        return own_email(session, user)[0]
    return choice.address


def check_schedule(kind: Kind, cron: str) -> str | None:
    """Why ``cron`` cannot be ``kind``'s schedule (a sentence for the form), or None.

    Weekly kinds take ``0 H * * D`` (a weekday 0-7, Sunday 0 or 7, at a whole hour); the monthly one
    ``0 H D * *`` (a day 1-28, so that every month has it). Messages go out at whole hours.
    """
    if kind.unit is None:
        return "These messages are sent as they happen: they have no schedule"
    parts = cron.split()
    wanted = (
        "Choose a day of the week and an hour, such as every Monday at 7:00"
        if kind.unit == "week"
        else "Choose a day of the month from 1 to 28 and an hour, such as the 1st at 7:00"
    )
    if len(parts) != 5 or parts[0] != "0" or parts[3] != "*" or not parts[1].isdigit() or int(parts[1]) > 23:
        return wanted
    day_of_month, weekday = parts[2], parts[4]
    if kind.unit == "week":
        ok = day_of_month == "*" and weekday.isdigit() and int(weekday) <= 7
    else:
        ok = weekday == "*" and day_of_month.isdigit() and 1 <= int(day_of_month) <= 28
    return None if ok else wanted


def save_choices(
    session: Session,
    user: User,
    actor: Actor,
    items: Iterable[Mapping[str, Any]],
    *,
    channels: Mapping[str, Any],
) -> list[Choice]:
    """Store the user's choices (each ``kind``, ``enabled``, and optionally ``channel``, ``schedule``,
    ``address``, ``attach_pdf``), audited; Invalid naming ``subscriptions.<i>.<field>`` for a kind their
    role does not receive, a channel that is not installed or cannot reach a person, an address it
    refuses, or a PDF asked of a kind sent as it happens or of a channel that carries no files."""
    allowed = {kind.key for kind in kinds_for(user.role)}
    for index, item in enumerate(items):
        field = f"subscriptions.{index}"
        kind = KINDS.get(item["kind"])
        if kind is None or kind.key not in allowed:
            raise Invalid(f"{field}.kind", f"{user.role}s do not receive {item['kind']!r} messages")
        channel = item.get("channel") or EMAIL
        declared = channels.get(channel)
        if declared is None or channel in NOT_FOR_PEOPLE:
            usable = ", ".join(key for key in channels if key not in NOT_FOR_PEOPLE) or "none"
            raise Invalid(f"{field}.channel", f"{channel!r} cannot send messages to a person (installed: {usable})")
        address = (item.get("address") or "").strip() or None
        if channel != EMAIL:
            problem = "Enter the address to send to" if address is None else _address_problem(declared, address)
            if problem:
                raise Invalid(f"{field}.address", problem)
        schedule = item.get("schedule")
        if kind.unit is None:
            schedule = None
        elif schedule is not None and check_schedule(kind, schedule):
            raise Invalid(f"{field}.schedule", str(check_schedule(kind, schedule)))
        attach_pdf = bool(item.get("attach_pdf"))
        if attach_pdf and kind.unit is None:
            raise Invalid(f"{field}.attach_pdf", "Messages sent as they happen come without a PDF")
        if attach_pdf and not getattr(declared, "attachments", False):
            raise Invalid(f"{field}.attach_pdf", f"{declared.label} cannot carry a PDF: choose e-mail to get one")
        _store(session, user, actor, kind, bool(item["enabled"]), channel, schedule, address, attach_pdf)
    session.flush()
    return choices_for(session, user)


def _address_problem(channel: Any, address: str) -> str | None:
    check = getattr(channel, "check_address", None)
    return check(address) if callable(check) else None


def _store(
    session: Session,
    user: User,
    actor: Actor,
    kind: Kind,
    enabled: bool,
    channel: str,
    schedule: str | None,
    address: str | None,
    attach_pdf: bool = False,
) -> None:
    row = session.scalar(
        select(NotificationSubscription).where(
            NotificationSubscription.user_id == user.id, NotificationSubscription.kind == kind.key
        )
    )
    options: dict[str, Any] = {}
    if schedule and schedule != kind.default_schedule:
        options["schedule"] = schedule
    if address and channel != EMAIL:
        options["address"] = address
    if attach_pdf:
        options["attach_pdf"] = True
    before = None if row is None else {"enabled": row.enabled, "channel": row.channel, "options": row.options}
    after = {"enabled": enabled, "channel": channel, "options": options}
    if before == after:
        return
    if row is None:
        row = NotificationSubscription(user_id=user.id, kind=kind.key)
        session.add(row)
    row.enabled, row.channel, row.options = enabled, channel, options
    row.unsubscribed_at = None if enabled else (row.unsubscribed_at or utcnow())
    session.flush()
    record(session, actor, "update", "notification_subscription", row.id, before=before, after=after)


def set_own_email(session: Session, user: User, actor: Actor, email: str | None) -> None:
    """Set (or with None or "" remove) the user's own address; Invalid naming ``email`` for a bad one."""
    email = (email or "").strip() or None
    if email is not None:
        problem = check_email(email)
        if problem:
            raise Invalid("email", f"Enter an e-mail address in the right form, like name@example.com: {problem}")
    if email == user.email:
        return
    before = {"email": user.email}
    user.email = email
    session.flush()
    record(session, actor, "update", "user", user.id, before=before, after={"email": email})


# --- when a periodic message is due --------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The period a periodic message covers: local dates [start, end), ``end`` cut at ``today + 1`` while the
    period is under way (``complete`` False: "so far")."""

    unit: str
    start: date
    end: date
    full_end: date
    complete: bool

    @property
    def key(self) -> str:
        """The period in the message's idempotency key: its first day."""
        return self.start.isoformat()


def latest_occurrence(cron: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The latest time at or before ``now`` that ``cron`` names, in the company's zone."""
    local = now.astimezone(zone)
    # get_prev is strictly before its start: a microsecond on, so that an occurrence at exactly now counts.
    found: datetime = croniter(cron, local + timedelta(microseconds=1)).get_prev(datetime)
    return found


def window_at(occurrence: datetime, unit: str, now: datetime, zone: ZoneInfo, week_start: int = 0) -> Window:
    """The period a message sent at ``occurrence`` covers: the week (or month) holding the day before it,
    so that Monday 7:00 reports the week just ended and Friday 16:00 this week so far."""
    day = occurrence.astimezone(zone).date() - timedelta(days=1)
    start = unit_floor(day, unit, week_start)
    full_end = next_unit_start(day, unit, week_start)
    today = now.astimezone(zone).date()
    end = min(full_end, today + timedelta(days=1))
    return Window(unit, start, end, full_end, complete=end == full_end and today >= full_end)
