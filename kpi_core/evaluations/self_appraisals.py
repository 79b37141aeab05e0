"""Self-appraisals: a technician answers the evaluation's questions about themselves for a period.

The questions are the form's fields that are asked of technicians
(``FormField.asked_of_technicians``), kept as a snapshot like an evaluation's
form. One self-appraisal per technician and period: a draft is changed in
place, a submitted one is final. Technicians see their own (drafts too);
managers and admins see submitted ones of the technicians they may see, and the
evaluation of the same technician and period shows it beside the evaluator's
answers. Whether a period that has not ended may be appraised is the company's
setting ``core.self_appraisal_before_period_end``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.evaluations.form import Form, InvalidFields, clean_answers, fields_from_snapshot
from kpi_core.evaluations.policy import AppraisalPolicy
from kpi_core.evaluations.scoring import form_snapshot, form_version, score_answers
from kpi_core.evaluations.service import Numbers, _checked
from kpi_core.records import changes
from kpi_core.storage.models import SelfAppraisal, Technician
from kpi_core.storage.types import utcnow

ENTITY = "self_appraisal"
SORTABLE = {
    "period_start": SelfAppraisal.period_start,
    "period_end": SelfAppraisal.period_end,
    "score": SelfAppraisal.score,
    "created_at": SelfAppraisal.created_at,
}


def technician_form(form: Form) -> Form:
    """The questions of ``form`` asked of technicians, in form order, with their own version."""
    asked = tuple(item for item in form.fields if item.asked_of_technicians)
    owners = {item.key: form.plugins[item.key] for item in asked}
    return Form(fields=asked, plugins=owners, version=form_version(asked))


def _visible(scope: Scope) -> ColumnElement[bool]:
    clause = scope.technicians(SelfAppraisal.technician_id, Technician.team_id)
    principal = scope.principal
    if principal is not None and principal.role != "technician":
        # A draft is the technician's work in progress, not yet their manager's to read.
        clause = and_(clause, SelfAppraisal.status == "submitted")
    return clause


def self_appraisal_query(scope: Scope, filters: Mapping[str, Any]) -> Select[tuple[SelfAppraisal]]:
    """Self-appraisals the scope may see, filtered by technician, team, status and period."""
    query = select(SelfAppraisal).join(Technician, Technician.id == SelfAppraisal.technician_id).where(_visible(scope))
    if "technician" in filters:
        query = query.where(SelfAppraisal.technician_id == filters["technician"])
    if "team" in filters:
        query = query.where(Technician.team_id == filters["team"])
    if "status" in filters:
        query = query.where(SelfAppraisal.status == filters["status"])
    if "period_start" in filters:
        query = query.where(SelfAppraisal.period_start == filters["period_start"])
    if "period_end" in filters:
        query = query.where(SelfAppraisal.period_end == filters["period_end"])
    # As for evaluations: periods overlapping [period_from, period_to].
    if "period_from" in filters:
        query = query.where(SelfAppraisal.period_end >= filters["period_from"])
    if "period_to" in filters:
        query = query.where(SelfAppraisal.period_start <= filters["period_to"])
    return query


def get_self_appraisal(session: Session, scope: Scope, appraisal_id: int) -> SelfAppraisal:
    found = session.scalar(
        select(SelfAppraisal)
        .join(Technician, Technician.id == SelfAppraisal.technician_id)
        .where(SelfAppraisal.id == appraisal_id, _visible(scope))
    )
    if found is None:
        raise NotFound(f"no self-appraisal with id {appraisal_id}")
    return found


def create_self_appraisal(
    session: Session,
    actor: Actor,
    technician_id: int,
    form: Form,
    data: Mapping[str, Any],
    *,
    policy: AppraisalPolicy,
    today: date,
    numbers: Numbers | None = None,
) -> SelfAppraisal:
    """The technician's self-appraisal of a period, as a draft or submitted (every required question answered);
    once submitted it keeps the period's KPI numbers as the technician was shown them.

    ``form`` is the form of technicians' questions (:func:`technician_form`); ``today`` the company's
    local date, for the period-end rule. Raises :class:`InvalidFields` naming every field that is
    wrong at once, and :class:`Conflict` (``period_start``) if the technician already has one for the
    period.
    """
    start, end = data["period_start"], data["period_end"]
    submitting = data.get("status", "draft") == "submitted"
    answered, problems = _checked(
        lambda: _check_period(start, end, policy, today),
        lambda: _answered(form, data.get("answers", {}), data.get("status", "draft")),
    )
    if problems:
        raise InvalidFields(problems)
    _check_unique(session, technician_id, start, end)
    appraisal = SelfAppraisal(
        technician_id=technician_id,
        user_id=actor.user_id,
        period_start=start,
        period_end=end,
        form_version=form.version,
        form_snapshot=form_snapshot(form.fields),
        comment=data.get("comment"),
        kpi_snapshot=numbers(technician_id, start, end) if numbers is not None and submitting else None,
        **answered,
    )
    return changes.create(session, actor, ENTITY, appraisal, unique_field="period_start")


def new_self_appraisal_problems(
    form: Form, data: Mapping[str, Any], *, policy: AppraisalPolicy, today: date
) -> dict[str, str]:
    """Every problem of a new self-appraisal's period and answers, by field path; ``data`` may be partial
    (a body whose other fields failed to parse): only what it has is checked."""
    checks: list[Callable[[], Any]] = []
    if "period_start" in data and "period_end" in data:
        checks.append(lambda: _check_period(data["period_start"], data["period_end"], policy, today))
    if isinstance(data.get("answers"), Mapping):
        checks.append(lambda: _answered(form, data["answers"], data.get("status", "draft")))
    return _checked(*checks)[1]


def update_self_appraisal(
    session: Session,
    actor: Actor,
    appraisal: SelfAppraisal,
    data: Mapping[str, Any],
    *,
    policy: AppraisalPolicy,
    today: date,
    numbers: Numbers | None = None,
) -> SelfAppraisal:
    """Change a draft (on the form it was started on); ``answers`` replaces all its answers, and
    ``status: submitted`` submits it. A submitted self-appraisal is final (409)."""
    # Concurrent changes of one draft queue here on PostgreSQL (SQLite serialises writers already).
    session.scalar(
        select(SelfAppraisal)
        .where(SelfAppraisal.id == appraisal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if appraisal.status != "draft":
        raise Conflict("status", f"is {appraisal.status}: a submitted self-appraisal is final")
    start = data.get("period_start", appraisal.period_start)
    end = data.get("period_end", appraisal.period_end)
    form_fields = fields_from_snapshot(appraisal.form_snapshot)
    asked = Form(fields=tuple(form_fields), plugins={}, version=appraisal.form_version)
    answers = data.get("answers", appraisal.answers)
    answered, problems = _checked(
        lambda: _check_period(start, end, policy, today),
        lambda: _answered(asked, answers, data.get("status", "draft")),
    )
    if problems:
        raise InvalidFields(problems)
    if (start, end) != (appraisal.period_start, appraisal.period_end):
        _check_unique(session, appraisal.technician_id, start, end, exclude_id=appraisal.id)
    values: dict[str, Any] = {"period_start": start, "period_end": end, **answered}
    if "comment" in data:
        values["comment"] = data["comment"]
    if numbers is not None and answered["status"] == "submitted":
        values["kpi_snapshot"] = numbers(appraisal.technician_id, start, end)
    return changes.update(session, actor, ENTITY, appraisal, values)


def period_open_problem(end: date, policy: AppraisalPolicy, today: date) -> str | None:
    """Why a period ending on ``end`` cannot be appraised yet, in words; None when it can."""
    if policy.before_period_end or end < today:
        return None
    after = end + timedelta(days=1)
    return (
        f"This period has not ended yet: the company asks for self-appraisals once a period is over. "
        f"Choose a period that ended before today, or come back on {after.isoformat()}"
    )


def _check_period(start: date, end: date, policy: AppraisalPolicy, today: date) -> None:
    if end < start:
        raise Invalid("period_end", "The period must end on or after the day it starts")
    problem = period_open_problem(end, policy, today)
    if problem:
        raise Invalid("period_end", problem)


def _check_unique(session: Session, technician_id: int, start: date, end: date, exclude_id: int | None = None) -> None:
    query = select(SelfAppraisal.id).where(
        SelfAppraisal.technician_id == technician_id,
        SelfAppraisal.period_start == start,
        SelfAppraisal.period_end == end,
    )
    if exclude_id is not None:
        query = query.where(SelfAppraisal.id != exclude_id)
    if session.scalar(query.limit(1)) is not None:
        raise Conflict(
            "period_start",
            "You already have a self-appraisal for this period: open it to change it while it is a draft",
        )


def _answered(form: Form, answers: Mapping[str, Any], status: str) -> dict[str, Any]:
    submitting = status == "submitted"
    cleaned = clean_answers(form.fields, answers, complete=submitting)
    values: dict[str, Any] = {"answers": cleaned, "score": score_answers(form.fields, cleaned), "status": status}
    if submitting:
        values["submitted_at"] = utcnow()
    return values
