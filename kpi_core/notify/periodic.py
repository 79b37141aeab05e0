"""The periodic messages: technicians' weekly scorecards, managers' team digests, the admins' monthly summary.

Each is a background job (``notify.weekly_scorecards``, ``notify.team_digests``,
``notify.company_summary``) that runs every hour and may be run on demand
(``POST /api/v1/job-runs``). A run goes through the users of the kind's roles
and, for each one who receives it (:mod:`kpi_core.notify.preferences`: on, with
an address), finds the latest time their schedule names and the period that
time reports (Monday 7:00: the week just ended). The message about that period
is queued under the key ``<kind>:<user>:<period's first day>``, so a user gets
it once whatever the number of runs; the numbers come from the KPI service the
dashboard uses, asked with the recipient's own scope (a technician's answer holds
their rows only). The run then sends what it queued (failures are retried by
``notify.deliver``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.config import Settings
from kpi_core.errors import Invalid
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.cache import shared_cache
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.persisted import sums_cache
from kpi_core.kpis.query import Filters, KpiQuery
from kpi_core.notify import preferences, words
from kpi_core.notify.attachments import pdf_spec, render_pdf
from kpi_core.notify.content_words import Content, Section, kpi_section, render
from kpi_core.notify.delivery import Deliverer
from kpi_core.notify.outbox import MessageDraft, queue_message
from kpi_core.plugins import PluginHost
from kpi_core.reports.job import job_plugins, requester_scope
from kpi_core.storage.db import WRITE_OPTION
from kpi_core.storage.models import NotificationMessage, Team, Technician, User, team_managers
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

WEEKLY_SCORECARDS = "notify.weekly_scorecards"
TEAM_DIGESTS = "notify.team_digests"
COMPANY_SUMMARY = "notify.company_summary"
HOURLY = "0 * * * *"
"""The jobs' schedule: each user's own schedule says when their message is due, at a whole hour."""


@dataclass
class Asker:
    """What a message's numbers are asked with: the session, plugins, settings, the clock and the caches."""

    session: Session
    plugins: PluginHost
    settings: Settings
    now: datetime
    cache: Any = None
    sums: Any = None

    def values(self, scope: Scope, window: preferences.Window, group_by: str, filters: Filters) -> list[dict[str, Any]]:
        """KPI values of ``window`` as one bucket, compared with the same part of the period before."""
        query = KpiQuery(start=window.start, end=window.end, group_by=group_by, period="range", filters=filters)
        honesty = Honesty(
            compare=("previous",),
            unit=window.unit,
            week_start=self.settings.week_start_day,
            now=self.now,
            min_sample=self.settings.status_min_sample,
        )
        answer = service.kpi_values(
            self.session, self.plugins, query, zone=self.settings.zone, scope=scope, cache=self.cache,
            ttl=self.settings.cache_ttl, honesty=honesty, sums=self.sums,
        )  # fmt: skip
        return answer.dicts()

    def scores(self, scope: Scope, window: preferences.Window, filters: Filters) -> list[dict[str, Any]]:
        """Each technician's score over ``window`` (and the window before), as ``scope`` may see them."""
        answer = service.scorecards_answer(
            self.session, self.plugins, start=window.start, end=window.end, period=window.unit,
            zone=self.settings.zone, scope=scope, filters=filters, cache=self.cache, ttl=self.settings.cache_ttl,
            status_min_sample=self.settings.status_min_sample, now=self.now, sums=self.sums,
        )  # fmt: skip
        return list(json.loads(answer.body)["technicians"])


@dataclass
class Tally:
    """What one run did, by user: queued, already queued for that period, turned off, without an address,
    nothing to report (no technician record, no teams)."""

    queued: list[int] = field(default_factory=list)
    already: int = 0
    off: int = 0
    no_address: int = 0
    nothing: int = 0

    def as_result(self, sent: dict[str, Any]) -> dict[str, Any]:
        return {
            "queued": len(self.queued),
            "already_queued": self.already,
            "turned_off": self.off,
            "no_address": self.no_address,
            "nothing_to_report": self.nothing,
            "delivery": sent,
        }


Builder = Callable[[Asker, User, preferences.Window], Content | None]


def run_kind(context: JobContext, kind_key: str, build: Builder, now: str | None = None) -> dict[str, Any]:
    """Queue ``kind_key``'s message for every user it is due for, then send them."""
    kind = preferences.KINDS[kind_key]
    assert kind.unit is not None
    at = _moment(now)
    plugins = job_plugins(context)
    settings = context.settings
    tally = Tally()
    # Numbers are read in one session; each message is queued in a short write transaction of its own, so
    # that a long run never holds the database's write lock (SQLite has one) while it computes.
    with Session(context.engine) as session:
        asker = Asker(session, plugins, settings, at, shared_cache(settings), sums_cache(settings, context.engine))
        users = session.scalars(
            select(User).where(User.role.in_(kind.roles), User.disabled.is_(False)).order_by(User.id)
        ).all()
        for index, user in enumerate(users):
            context.progress(90 * index // max(len(users), 1), f"{index} of {len(users)} people")
            due = _draft(session, asker, kind, user, build, tally)
            session.rollback()  # ends the read transaction: the next person's numbers are read afresh
            if due is not None:
                draft, key, window, attach_pdf = due
                if attach_pdf:
                    draft = _with_pdf(context, plugins, user, draft, window, kind.key)
                _queue(context, tally, draft, key)
    context.progress(90, "sending")
    sent = Deliverer(context.engine, settings, plugins).run(tally.queued).as_result() if tally.queued else {}
    context.progress(100, "done")
    return tally.as_result(sent)


def _draft(
    session: Session, asker: Asker, kind: preferences.Kind, user: User, build: Builder, tally: Tally
) -> tuple[MessageDraft, str, preferences.Window, bool] | None:
    """The message due to ``user``, its key, its period and whether to attach its PDF; or None (counted in
    ``tally``: off, no address, sent already)."""
    choice = preferences.choice_of(session, user, kind.key)
    if not choice.enabled:
        tally.off += 1
        return None
    address = preferences.address_of(session, user, choice)
    if not address:
        tally.no_address += 1
        return None
    zone = asker.settings.zone
    occurrence = preferences.latest_occurrence(choice.schedule or str(kind.default_schedule), asker.now, zone)
    window = preferences.window_at(occurrence, str(kind.unit), asker.now, zone, asker.settings.week_start_day)
    key = f"{kind.key}:{user.id}:{window.key}"
    if session.scalar(select(exists().where(NotificationMessage.idempotency_key == key))):
        tally.already += 1
        return None
    content = build(asker, user, window)
    if content is None:
        tally.nothing += 1
        return None
    text, html = render(content)
    draft = MessageDraft(
        channel=choice.channel, to=address, subject=content.subject, text=text, html=html, user_id=user.id,
        kind=kind.key,
    )  # fmt: skip
    return draft, key, window, choice.attach_pdf


PDF_GROUPS = {"weekly_scorecard": "technician", "team_digest": "technician", "monthly_summary": "team"}
"""How each kind's PDF groups its numbers (the recipient's scope decides whose they are)."""


def _with_pdf(
    context: JobContext, plugins: PluginHost, user: User, draft: MessageDraft, window: preferences.Window, kind: str
) -> MessageDraft:
    """``draft`` with its PDF attached; without it, and saying so, when the report could not be made."""
    try:
        run_id = render_pdf(context, plugins, user, pdf_spec(draft.subject, window, PDF_GROUPS[kind]))
    except Exception:
        log.exception("the PDF of %s for user %s could not be made; sending the message without it", kind, user.id)
        run_id = None
    if run_id is None:
        note = "\n\nThe PDF of these numbers could not be made this time: open the dashboard for them."
        return replace(draft, text=draft.text + note)
    return replace(draft, attachments=({"report_run_id": run_id},))


def _queue(context: JobContext, tally: Tally, draft: MessageDraft, key: str) -> None:
    with Session(context.engine) as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        if session.scalar(select(exists().where(NotificationMessage.idempotency_key == key))):
            tally.already += 1  # another run queued it meanwhile
            return
        message = queue_message(session, draft, idempotency_key=key)
        if message is None:  # turned off since its numbers were read
            tally.off += 1
            return
        session.flush()
        tally.queued.append(message.id)


def _moment(now: str | None) -> datetime:
    if now is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(now)
    except (TypeError, ValueError):
        raise Invalid("params", f"now must be an ISO 8601 date and time, not {now!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _before(window: preferences.Window) -> str:
    unit = "week" if window.unit == "week" else "month"
    return f"The {unit} before" if window.complete else f"Same days, {unit} before"


def _link(settings: Settings, path: str) -> str:
    return settings.effective_public_url.rstrip("/") + path


# --- the technician's weekly scorecard -------------------------------------------------------


def scorecard_content(asker: Asker, user: User, window: preferences.Window) -> Content | None:
    """The technician's own numbers over ``window``: asked with their scope, so nobody else's are in it."""
    if user.technician_id is None:
        return None
    technician = asker.session.get(Technician, user.technician_id)
    if technician is None or not technician.active:
        return None  # no scorecard for someone who no longer works here
    scope = requester_scope(asker.session, user.id)
    mine = Filters(technicians=(technician.id,))
    rows = asker.values(scope, window, "technician", mine)
    period = words.window_words(window.start, window.end, window.unit, window.complete)
    first = (user.display_name or technician.name).split()[0]
    content = Content(subject=f"Your week: {period}" if window.complete else f"Your week so far: {period}")
    compared = "the week before" if window.complete else "the same days of the week before"
    content.paragraphs.append(f"Hello {first},")
    content.paragraphs.append(f"Here are your numbers for {period}, compared with {compared}.")
    score = next((row for row in asker.scores(scope, window, mine) if row["technician_id"] == technician.id), None)
    if score is not None and score["score"] is not None:
        content.paragraphs.append(_score_words(score, "Your score", compared))
    currency = asker.settings.currency
    section = kpi_section(
        "Your numbers", rows, asker.plugins, now_label="This week" + ("" if window.complete else " so far"),
        before_label=_before(window), currency=currency,
    )  # fmt: skip
    section.empty = "No jobs of yours were recorded in this period."
    content.sections.append(section)
    content.link = ("Open your scorecard", _link(asker.settings, f"/technicians/{technician.id}"))
    return content


def _score_words(score: dict[str, Any], who: str, before: str) -> str:
    words_ = f"{who}: {round(score['score'])} out of 100"
    if score.get("previous_score") is not None:
        change = score["score"] - score["previous_score"]
        trend = "no change" if round(change) == 0 else f"{'up' if change > 0 else 'down'} {abs(round(change))}"
        words_ += f" ({before}: {round(score['previous_score'])}, {trend})"
    return words_ + "."


# --- the manager's team digest ------------------------------------------------------------


def team_digest_content(asker: Asker, user: User, window: preferences.Window) -> Content | None:
    """Each team the manager manages: its numbers and its technicians' scores, as the manager may see them."""
    teams = asker.session.scalars(
        select(Team).join(team_managers, team_managers.c.team_id == Team.id)
        .where(team_managers.c.user_id == user.id).order_by(Team.name)
    ).all()  # fmt: skip
    if not teams:
        return None
    scope = requester_scope(asker.session, user.id)
    period = words.window_words(window.start, window.end, window.unit, window.complete)
    names = " and ".join(team.name for team in teams)
    content = Content(subject=f"{names} team{'s' if len(teams) > 1 else ''}: the week of {period}")
    compared = "the week before" if window.complete else "the same days of the week before"
    content.paragraphs.append(f"Hello {(user.display_name or user.username).split()[0]},")
    content.paragraphs.append(f"Here are your team's numbers for {period}, compared with {compared}.")
    now_label = "This week" + ("" if window.complete else " so far")
    for team in teams:
        only = Filters(teams=(team.id,))
        rows = asker.values(scope, window, "team", only)
        before = _before(window)
        currency = asker.settings.currency
        heading = f"{team.name} team"
        section = kpi_section(heading, rows, asker.plugins, now_label=now_label, before_label=before, currency=currency)
        content.sections.append(section)
        scores = asker.scores(scope, window, only)
        content.sections.append(_scores_section(f"{heading}: each technician", scores, compared))
    content.link = ("Open the dashboard", _link(asker.settings, "/dashboard"))
    return content


def _scores_section(heading: str, scores: list[dict[str, Any]], compared: str) -> Section:
    columns = [("Technician", "left"), ("Score", "right"), ("Before", "right"), ("Jobs", "right")]
    section = Section(heading, columns, intro="Scores out of 100; before: " + compared + ".")
    section.empty = "No technicians in this team had jobs in this period."
    for row in sorted(scores, key=lambda row: row["technician"]):
        score = words.DASH if row["score"] is None else f"{round(row['score'])}"
        before = words.DASH if row.get("previous_score") is None else f"{round(row['previous_score'])}"
        jobs = f"{row['sample']:,}"
        section.rows.append([row["technician"], score, before, jobs])
        reason = f"; not ranked: {row['unranked_reason']}" if row.get("unranked_reason") else ""
        section.lines.append(f"{row['technician']}: score {score} ({compared}: {before}), {jobs} jobs{reason}.")
    return section


# --- the admins' company summary ----------------------------------------------------------------


def summary_content(asker: Asker, user: User, window: preferences.Window) -> Content | None:
    """The company's numbers over the month, and each team's."""
    scope = requester_scope(asker.session, user.id)
    period = words.window_words(window.start, window.end, window.unit, window.complete)
    content = Content(subject=f"The company's month: {period}")
    compared = "the month before" if window.complete else "the same days of the month before"
    content.paragraphs.append(f"Hello {(user.display_name or user.username).split()[0]},")
    content.paragraphs.append(f"Here are the company's numbers for {period}, compared with {compared}.")
    now_label = "This month" + ("" if window.complete else " so far")
    before = _before(window)
    currency = asker.settings.currency
    rows = asker.values(scope, window, "company", Filters())
    content.sections.append(
        kpi_section("The company", rows, asker.plugins, now_label=now_label, before_label=before, currency=currency)
    )
    by_team = asker.values(scope, window, "team", Filters())
    names = {team_id: name for team_id, name in asker.session.execute(select(Team.id, Team.name))}
    for team_id in sorted(names, key=lambda team_id: names[team_id]):
        team_rows = [row for row in by_team if row["group_id"] == str(team_id)]
        if team_rows:
            heading = f"{names[team_id]} team"
            section = kpi_section(heading, team_rows, asker.plugins, now_label=now_label, before_label=before,
                                  currency=currency)  # fmt: skip
            content.sections.append(section)
    content.link = ("Open the dashboard", _link(asker.settings, "/dashboard"))
    return content


# --- the jobs -------------------------------------------------------------------------------------


def weekly_scorecards(context: JobContext, now: str | None = None) -> dict[str, Any]:
    """The ``notify.weekly_scorecards`` job: each technician's own weekly scorecard, when their schedule says."""
    return run_kind(context, "weekly_scorecard", scorecard_content, now)


def team_digests(context: JobContext, now: str | None = None) -> dict[str, Any]:
    """The ``notify.team_digests`` job: each manager's weekly digest of their teams."""
    return run_kind(context, "team_digest", team_digest_content, now)


def company_summary(context: JobContext, now: str | None = None) -> dict[str, Any]:
    """The ``notify.company_summary`` job: the admins' monthly summary of the company."""
    return run_kind(context, "monthly_summary", summary_content, now)
