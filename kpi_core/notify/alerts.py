"""Alerts: evaluating the rules, raising each alert once, and telling the technician's managers.

The ``notify.alerts`` job evaluates every enabled rule (:mod:`kpi_core.notify.alert_rules`)
against the latest complete period (the KPI service's answer, for the whole
company, by technician) and the disputes opened since the rule was made. An
alert is a row of ``alerts``, unique per (rule, technician, period): raising it
again for the same period writes nothing and tells no one. Each new alert, in
the transaction that stores it, is queued for every manager of the technician's
team and every admin who receives alerts (their choice of channel, an address
needed), and emitted as the ``alert.raised`` webhook event. The job runs on a
schedule and after each import (:func:`request_evaluation`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.context import contexts_for
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.periods import next_period_start, period_floor
from kpi_core.kpis.query import KpiQuery
from kpi_core.kpis.ranges import local_today
from kpi_core.notify import alert_rules, preferences, words
from kpi_core.notify.content_words import Content, Section, metric_words, render
from kpi_core.notify.delivery import Deliverer
from kpi_core.notify.outbox import MessageDraft, queue_message
from kpi_core.notify.webhooks import emit_event
from kpi_core.plugins import PluginHost
from kpi_core.records.disputes import REASONS
from kpi_core.records.plugin_settings import grouped_by_plugin, setting_values
from kpi_core.storage.db import WRITE_OPTION
from kpi_core.storage.models import Alert, AlertRule, CallbackDispute, Job, JobRun, Technician, User, team_managers
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

JOB_KEY = "notify.alerts"
KIND = "alerts"
SCHEDULE = "20 * * * *"
DISPUTES_LOOK_BACK = timedelta(days=35)
"""Disputes older than this are not looked at again (their alerts were raised when they were opened)."""
PENDING_STALE_AFTER = timedelta(minutes=20)


@dataclass(frozen=True)
class Found:
    """An alert to raise (if it was not raised before)."""

    rule: AlertRule
    technician_id: int
    period_key: str
    period_start: date | None
    period_end: date | None
    value: float | None
    previous_value: float | None
    details: dict[str, Any]


def previous_starts(start: date, period: str, count: int) -> date:
    """The first day of the period ``count`` periods before the one starting on ``start``."""
    if period == "week":
        return start - timedelta(days=7 * count)
    index = start.year * 12 + start.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def _values(
    session: Session, plugins: PluginHost, settings: Settings, rule: AlertRule, count: int, now: datetime
) -> tuple[list[date], dict[str, dict[date, dict[str, Any]]]]:
    """The last ``count`` complete periods of the rule's KPI by technician: (their starts, rows by technician)."""
    assert rule.kpi is not None and rule.period is not None
    end = period_floor(local_today(now, settings.zone), rule.period)
    start = previous_starts(end, rule.period, count)
    query = KpiQuery(start=start, end=end, kpis=(rule.kpi,), group_by="technician", period=rule.period)
    honesty = Honesty(now=now, min_sample=settings.status_min_sample)
    answer = service.kpi_values(session, plugins, query, zone=settings.zone, scope=UNSCOPED, honesty=honesty)
    by_technician: dict[str, dict[date, dict[str, Any]]] = {}
    for row in answer.dicts():
        by_technician.setdefault(row["group_id"], {})[date.fromisoformat(row["period_start"])] = row
    starts = [previous_starts(end, rule.period, back) for back in range(count, 0, -1)]
    return starts, by_technician


def clearly_red(
    session: Session, plugins: PluginHost, settings: Settings, rule: AlertRule, now: datetime
) -> list[Found]:
    """Technicians whose value was clearly red (red, the interval wholly in the red band) in each of the
    rule's last ``periods`` complete periods; the alert is about the latest of them."""
    count = rule.periods or 1
    starts, by_technician = _values(session, plugins, settings, rule, count, now)
    found = []
    for group_id, rows in by_technician.items():
        streak = [rows.get(start) for start in starts]
        if not all(row and row["status"] == "red" and row["certain"] is True for row in streak):
            continue
        last = streak[-1]
        assert last is not None
        details = {"streak": [_brief(row) for row in streak if row]}
        end = date.fromisoformat(last["period_end"])
        found.append(Found(rule, int(group_id), starts[-1].isoformat(), starts[-1], end, last["value"], None, details))
    return found


def changed(session: Session, plugins: PluginHost, settings: Settings, rule: AlertRule, now: datetime) -> list[Found]:
    """Technicians whose value moved by more than the rule's threshold between the last two complete periods,
    both on a sufficient sample (the KPI's minimum)."""
    metric = plugins.metrics.get(rule.kpi or "")
    if metric is None or rule.threshold is None:
        return []
    context_for = contexts_for(plugins, grouped_by_plugin(setting_values(session, plugins)))
    minimum = metric.min_sample_of(context_for(metric), settings.status_min_sample)
    starts, by_technician = _values(session, plugins, settings, rule, 2, now)
    found = []
    for group_id, rows in by_technician.items():
        before, latest = rows.get(starts[0]), rows.get(starts[1])
        if not before or not latest or before["value"] is None or latest["value"] is None:
            continue
        if min(before["denominator"], latest["denominator"]) < max(minimum, 1):
            continue
        change = latest["value"] - before["value"]
        worse = change < 0 if metric.direction == "higher" else change > 0
        if abs(change) <= rule.threshold or (rule.direction == "worse" and not worse):
            continue
        details = {"streak": [_brief(before), _brief(latest)], "change": change}
        end = date.fromisoformat(latest["period_end"])
        key = starts[1].isoformat()
        found.append(Found(rule, int(group_id), key, starts[1], end, latest["value"], before["value"], details))
    return found


def disputed(session: Session, rule: AlertRule, now: datetime) -> list[Found]:
    """Each callback disputed since the rule was made (and in the last 35 days), against its original job's lead."""
    since = max(rule.created_at, now - DISPUTES_LOOK_BACK)
    rows = session.execute(
        select(CallbackDispute, Job.technician_id, Job.external_ref)
        .join(Job, Job.id == CallbackDispute.original_job_id)
        .where(CallbackDispute.opened_at >= since)
        .order_by(CallbackDispute.id)
    ).all()
    found = []
    for dispute, technician_id, original_ref in rows:
        callback_ref = session.scalar(select(Job.external_ref).where(Job.id == dispute.callback_job_id))
        details = {
            "dispute_id": dispute.id,
            "callback_job_id": dispute.callback_job_id,
            "callback_ref": callback_ref,
            "original_job_id": dispute.original_job_id,
            "original_ref": original_ref,
            "reason": dispute.reason,
        }
        opened = dispute.opened_at.date()
        found.append(Found(rule, technician_id, f"dispute:{dispute.id}", opened, None, None, None, details))
    return found


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("period_start", "period_end", "value", "numerator", "denominator", "ci_low", "ci_high", "status")
    return {name: row.get(name) for name in keep} | {"provisional": bool(row.get("provisional"))}


# --- raising an alert -------------------------------------------------------------------------


def raise_alert(session: Session, plugins: PluginHost, settings: Settings, found: Found) -> Alert | None:
    """Store ``found`` unless an alert for its rule, technician and period exists; the new alert, or None."""
    taken = select(Alert.id).where(
        Alert.rule_id == found.rule.id,
        Alert.technician_id == found.technician_id,
        Alert.period_key == found.period_key,
    )
    if session.scalar(select(exists(taken))):
        return None
    technician = session.get(Technician, found.technician_id)
    if technician is None or not technician.active:
        return None
    alert = Alert(
        rule_id=found.rule.id, technician_id=technician.id, kind=found.rule.kind, kpi=found.rule.kpi,
        period=found.rule.period if found.rule.kind != "callback_disputed" else None, period_key=found.period_key,
        period_start=found.period_start, period_end=found.period_end, value=found.value,
        previous_value=found.previous_value, details=found.details, raised_at=utcnow(),
        summary=summary_of(found, technician.name, plugins, settings.currency),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None  # another run raised it at the same moment: it is that run's to tell
    return alert


def summary_of(found: Found, name: str, plugins: PluginHost, currency: str) -> str:
    """The alert in one sentence, naming the technician, the KPI, the period and the numbers."""
    rule = found.rule
    if rule.kind == "callback_disputed":
        details = found.details
        reason = REASONS.get(details["reason"], details["reason"]).rstrip(".")
        return (
            f"{name}: callback {details['callback_ref']} of job {details['original_ref']} was disputed "
            f"({reason[:1].lower() + reason[1:]})."
        )
    about = metric_words(plugins, rule.kpi or "")
    unit = rule.period or "month"
    period = _period_words(found.period_start, found.period_end, unit)
    value = words.value_words(found.value, about.unit, currency)
    if rule.kind == "clearly_red":
        count = rule.periods or 1
        if count == 1:
            return f"{name}: {about.label} clearly off target in {period} ({value})."
        return f"{name}: {about.label} clearly off target for {count} {unit}s in a row ({value} in {period})."
    before = words.value_words(found.previous_value, about.unit, currency)
    change = float(found.details.get("change") or 0)
    way = "up" if change > 0 else "down"
    better = (change > 0) == (about.direction != "lower")
    amount = words.amount_words(change, about.unit, currency)
    judged = "better" if better else "worse"
    return f"{name}: {about.label} went {way} by {amount} in {period}, for the {judged} (from {before} to {value})."


def _period_words(start: date | None, end: date | None, unit: str) -> str:
    if start is None:
        return ""
    return words.window_words(start, end or next_period_start(start, unit), unit, True)


def jobs_path(alert: Alert) -> str:
    """The dashboard's page of the jobs behind the alert: the drill-down of the value, or the disputed job."""
    if alert.kind == "callback_disputed":
        return f"/jobs/{alert.details.get('original_job_id')}"
    assert alert.period_start is not None and alert.period_end is not None
    params = {
        "kpi": alert.kpi or "",
        "group_by": "technician",
        "period": alert.period or "month",
        "period_start": alert.period_start.isoformat(),
        "group_id": str(alert.technician_id),
        "start": alert.period_start.isoformat(),
        "end": alert.period_end.isoformat(),
        "technician": str(alert.technician_id),
    }
    return f"/jobs/behind?{urlencode(params)}"


def recipients(session: Session, technician: Technician) -> list[User]:
    """The managers of the technician's team and every admin: who may be told about the technician."""
    managers = select(team_managers.c.user_id).where(team_managers.c.team_id == technician.team_id)
    query = select(User).where(
        User.disabled.is_(False),
        (User.role == "admin") | ((User.role == "manager") & User.id.in_(managers)),
    )
    return list(session.scalars(query.order_by(User.id)))


def tell(session: Session, plugins: PluginHost, settings: Settings, alert: Alert) -> list[int]:
    """Queue the alert for each recipient who receives alerts, and emit ``alert.raised``; the messages' ids."""
    technician = session.get(Technician, alert.technician_id)
    assert technician is not None
    link = settings.effective_public_url.rstrip("/") + jobs_path(alert)
    queued = []
    for user in recipients(session, technician):
        choice = preferences.choice_of(session, user, KIND)
        address = preferences.address_of(session, user, choice) if choice.enabled else None
        if not address:
            continue
        text, html = render(_content(alert, plugins, settings, link))
        draft = MessageDraft(
            channel=choice.channel, to=address, subject=f"Alert: {alert.summary}", text=text, html=html,
            user_id=user.id, kind=KIND,
        )  # fmt: skip
        message = queue_message(session, draft, idempotency_key=f"alert:{alert.id}:{user.id}")
        if message is not None:
            session.flush()
            queued.append(message.id)
    emit_event(session, "alert.raised", event_data(alert, technician, link), event_id=f"alert:{alert.id}",
               summary=f"Alert: {alert.summary}")  # fmt: skip
    return queued


def _content(alert: Alert, plugins: PluginHost, settings: Settings, link: str) -> Content:
    content = Content(subject=f"Alert: {alert.summary}", paragraphs=[alert.summary])
    if alert.kind == "callback_disputed":
        content.paragraphs.append("A manager of the team decides whether the callback counts against the job.")
        content.link = ("Open the job and its dispute", link)
        return content
    about = metric_words(plugins, alert.kpi or "")
    section = Section("The numbers", [("Period", "left"), (about.label, "right"), ("Jobs", "right")])
    for row in alert.details.get("streak", []):
        start = date.fromisoformat(row["period_start"])
        period = _period_words(start, date.fromisoformat(row["period_end"]), alert.period or "month")
        value = words.value_words(row["value"], about.unit, settings.currency)
        pending = f"Provisional: {about.facts} whose outcome is not known yet are not counted."
        mark = section.note(pending) if row.get("provisional") else ""
        jobs = words.count_words(row["denominator"], about.facts)
        section.rows.append([period, value + mark, f"{round(row['denominator']):,}"])
        section.lines.append(f"{period}: {value}{mark}, on {jobs}.")
    content.sections.append(section)
    content.link = ("See the jobs behind it", link)
    return content


def event_data(alert: Alert, technician: Technician, link: str) -> dict[str, Any]:
    """The ``alert.raised`` event's data (webhooks are registered by admins, who see every technician)."""
    return {
        "alert_id": alert.id,
        "rule_id": alert.rule_id,
        "kind": alert.kind,
        "kpi": alert.kpi,
        "technician_id": technician.id,
        "technician": technician.name,
        "period": alert.period,
        "period_start": alert.period_start.isoformat() if alert.period_start else None,
        "period_end": alert.period_end.isoformat() if alert.period_end else None,
        "value": alert.value,
        "previous_value": alert.previous_value,
        "summary": alert.summary,
        "jobs": link,
    }


# --- the job ------------------------------------------------------------------------------------


@contextmanager
def _writing(engine: Engine) -> Iterator[Session]:
    """A short write transaction (SQLite's write lock taken at its start, never while numbers are read)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


def evaluate(engine: Engine, plugins: PluginHost, settings: Settings, now: datetime) -> tuple[list[str], list[int]]:
    """Evaluate every enabled rule and raise what is new: (the alerts' summaries, the messages queued).

    The rules' numbers are read first, in one read-only transaction; each new alert is then stored with its
    messages and its event in a short write transaction of its own."""
    with _writing(engine) as session:
        alert_rules.ensure_declared(session, plugins)
    with Session(engine, expire_on_commit=False) as session:
        rules = session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id)).all()
        found = [item for rule in rules for item in _found(session, plugins, settings, rule, now)]
        session.expunge_all()  # the rules stay readable, as they were read, once the session is closed
    raised: list[str] = []
    queued: list[int] = []
    for item in found:
        with _writing(engine) as session:
            alert = raise_alert(session, plugins, settings, item)
            if alert is None:
                continue
            session.flush()
            raised.append(alert.summary)
            queued += tell(session, plugins, settings, alert)
    return raised, queued


def _found(
    session: Session, plugins: PluginHost, settings: Settings, rule: AlertRule, now: datetime
) -> Iterable[Found]:
    if rule.kind == "callback_disputed":
        return disputed(session, rule, now)
    if rule.kpi not in plugins.metrics:
        return []  # its plugin is not installed now
    if rule.kind == "clearly_red":
        return clearly_red(session, plugins, settings, rule, now)
    return changed(session, plugins, settings, rule, now)


def evaluate_alerts(context: JobContext, now: str | None = None) -> dict[str, Any]:
    """The ``notify.alerts`` job: raise new alerts, tell the managers, and send what was queued."""
    from kpi_core.notify.periodic import _moment
    from kpi_core.reports.job import job_plugins

    plugins = job_plugins(context)
    at = _moment(now)
    context.progress(0, "evaluating the alert rules")
    summaries, queued = evaluate(context.engine, plugins, context.settings, at)
    context.progress(80, "sending")
    sent = Deliverer(context.engine, context.settings, plugins).run(queued).as_result() if queued else {}
    context.progress(100, "done")
    return {"raised": len(summaries), "alerts": summaries[:20], "messages": len(queued), "delivery": sent}


def request_evaluation(session: Session, runner: Any, *, requested_by: Actor) -> int | None:
    """Start the alerts job in the caller's transaction (after an import), unless a run is already queued;
    the run's id, or None (the schedule's next run evaluates the rules then)."""
    if not enabled or not runner.jobs.get(JOB_KEY):
        return None
    pending = select(JobRun.id).where(
        JobRun.job_key == JOB_KEY, JobRun.status == "queued", JobRun.created_at > utcnow() - PENDING_STALE_AFTER
    )
    if session.scalar(select(exists(pending))):
        return None
    from kpi_core.jobs.errors import QueueUnavailable

    try:
        with session.begin_nested():
            return int(runner.enqueue(JOB_KEY, {}, requested_by=requested_by, session=session))
    except QueueUnavailable as exc:
        log.warning("alerts wait for the schedule: %s", exc)
        return None


enabled = True
"""False: imports and disputes start no alerts run. The test suite turns it off (kpi_core/testing/fixtures.py):
a run after every import would land in other tests' job runs and audit trails; ``alerts_after_imports`` on."""
