"""Alert rules: when an alert is raised about a technician's KPI. Admins set them; plugins ship defaults.

Three kinds, each said in words by :func:`describe`:

- ``clearly_red``: the KPI's value was clearly off target (its 95 % interval
  wholly in the red band) for ``periods`` consecutive complete weeks or months.
  Only rates have an interval, so only a rate KPI with a target can be watched
  this way.
- ``changed``: the KPI's value moved by more than ``threshold`` (in its own
  unit; a fraction for rates, 0.1 being 10 points) against the period before,
  in the ``worse`` direction or ``either``, both values on a sufficient sample.
- ``callback_disputed``: a callback of a technician's job was disputed.

A plugin's declarations (``kpi_alert_rules``) become stored rules once, the
first time the host sees their key (:func:`ensure_declared`); admins may then
change them or turn them off, but not delete them (they would come back).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Invalid, NotFound
from kpi_core.notify import words
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import ALERT_DIRECTIONS, ALERT_KINDS, ALERT_PERIODS, AlertRule
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

ENTITY = "alert_rule"
KIND_WORDS = {
    "clearly_red": "Clearly off target for several periods in a row",
    "changed": "Changed a lot against the period before",
    "callback_disputed": "A callback was disputed",
}
"""Each kind of rule in words, as the admin page offers them."""
FIELDS = ("kind", "kpi", "period", "periods", "threshold", "direction", "enabled")


def list_rules(session: Session) -> list[AlertRule]:
    return list(session.scalars(select(AlertRule).order_by(AlertRule.id)))


def get_rule(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"alert rule {rule_id} does not exist")
    return rule


def _checked(plugins: PluginHost, data: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's fields as stored, with those its kind does not use cleared; Invalid naming the field at fault."""
    kind = data.get("kind")
    if kind not in ALERT_KINDS:
        raise Invalid("kind", f"Choose what the alert is about: one of {', '.join(ALERT_KINDS)}")
    rule = {name: data.get(name) for name in FIELDS}
    rule["enabled"] = bool(data.get("enabled", True))
    kpi = data.get("kpi")
    metric = plugins.metrics.get(kpi) if isinstance(kpi, str) else None
    if kind == "callback_disputed":
        if kpi is not None and metric is None:
            raise Invalid("kpi", f"There is no KPI {kpi!r}: choose one the installed plugins declare, or none")
        return {**rule, "period": None, "periods": None, "threshold": None, "direction": None}
    if metric is None:
        raise Invalid("kpi", "Choose the KPI the alert watches" if kpi is None else f"There is no KPI {kpi!r}")
    if data.get("period") not in ALERT_PERIODS:
        raise Invalid("period", "Choose whether the alert looks at weeks or months")
    if kind == "clearly_red":
        if metric.kind != "rate":
            raise Invalid(
                "kpi",
                f"{metric.label} is an average, which has no interval to be clearly off target; choose a rate, "
                "or watch it for a large change instead",
            )
        periods = data.get("periods", 2)
        if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= 24:
            raise Invalid("periods", "Enter how many periods in a row, from 1 to 24")
        return {**rule, "periods": periods, "threshold": None, "direction": None}
    threshold = data.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1e12:
        unit = "percentage points" if metric.unit == "ratio" else "the KPI's unit"
        raise Invalid("threshold", f"Enter by how much the value must change, more than 0 (in {unit})")
    if metric.unit == "ratio" and threshold >= 1:
        raise Invalid("threshold", "Enter a change of less than 100 points: a rate moves between 0 % and 100 %")
    direction = data.get("direction") or "worse"
    if direction not in ALERT_DIRECTIONS:
        raise Invalid("direction", "Choose whether only a change for the worse counts, or either way")
    return {**rule, "periods": None, "threshold": float(threshold), "direction": direction}


def create_rule(session: Session, plugins: PluginHost, actor: Actor, data: Mapping[str, Any]) -> AlertRule:
    """Add a rule (audited); Invalid naming the field at fault."""
    rule = AlertRule(**_checked(plugins, data), created_by_id=actor.user_id)
    session.add(rule)
    session.flush()
    record(session, actor, "create", ENTITY, rule.id, after=snapshot(rule))
    return rule


def update_rule(
    session: Session, plugins: PluginHost, actor: Actor, rule: AlertRule, data: Mapping[str, Any]
) -> AlertRule:
    """Change the given fields of a rule (the others stay), checked as a whole; audited."""
    before = snapshot(rule)
    merged = {name: getattr(rule, name) for name in FIELDS} | dict(data)
    if merged.get("periods") is None:
        merged.pop("periods")
    for name, value in _checked(plugins, merged).items():
        setattr(rule, name, value)
    rule.updated_at = utcnow()
    session.flush()
    record(session, actor, "update", ENTITY, rule.id, before=before, after=snapshot(rule))
    return rule


def delete_rule(session: Session, actor: Actor, rule: AlertRule) -> None:
    """Remove an admin's rule with its alerts; a plugin's rule is turned off instead (it would come back)."""
    if rule.declared_key is not None:
        raise Invalid("id", "This rule comes with a plugin: turn it off instead of removing it")
    record(session, actor, "delete", ENTITY, rule.id, before=snapshot(rule))
    session.delete(rule)
    session.flush()


def ensure_declared(session: Session, plugins: PluginHost) -> list[AlertRule]:
    """Store each plugin-declared rule not stored yet (once per key, whatever admins did with it since)."""
    known = set(session.scalars(select(AlertRule.declared_key).where(AlertRule.declared_key.is_not(None))))
    made = []
    for key, declared in plugins.alert_rules.items():
        if key in known:
            continue
        data = {name: getattr(declared, name) for name in FIELDS}
        try:
            checked = _checked(plugins, data)
        except Invalid as exc:
            owner = plugins.owner_of("kpi_alert_rules", key)
            log.warning("alert rule %s of plugin %s is not stored: %s", key, owner, exc)
            continue
        rule = AlertRule(**checked, declared_key=key)
        try:
            with session.begin_nested():
                session.add(rule)
        except IntegrityError:
            continue  # another process stored it at the same moment
        record(session, Actor.system("alert rules"), "create", ENTITY, rule.id, after=snapshot(rule))
        made.append(rule)
    return made


def describe(rule: AlertRule, plugins: PluginHost, currency: str = "USD") -> str:
    """The rule in one sentence: "First-time fix rate clearly off target for 2 months in a row"."""
    metric = plugins.metrics.get(rule.kpi) if rule.kpi else None
    label = metric.label if metric is not None else (rule.kpi or "")
    if rule.kind == "callback_disputed":
        return "A callback is disputed" + (f" (it counts against the {label})" if label else "")
    unit = rule.period or "month"
    if rule.kind == "clearly_red":
        count = rule.periods or 1
        span = f"a {unit}" if count == 1 else f"{count} {unit}s in a row"
        return f"{label} clearly off target for {span}"
    amount = words.amount_words(rule.threshold or 0, metric.unit if metric else "", currency)
    way = "for the worse " if rule.direction == "worse" else ""
    return f"{label} changes {way}by more than {amount} against the {unit} before"
