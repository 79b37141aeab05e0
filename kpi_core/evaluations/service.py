"""Managers' evaluations of technicians: draft -> submitted -> acknowledged, with revisions.

A draft is edited in place. Once submitted, an evaluation is never changed
except by the evaluated technician's acknowledgement; a correction is a new
revision that supersedes it, and the earlier one is kept as it was. Every
evaluation keeps the form it was made on, and its answers are checked and
scored against that form. Technicians see their own evaluations once
submitted, never drafts; managers those of their teams' technicians.

Appraisals use the numbers: when an evaluation is submitted it keeps the
technician's KPI values for its period as the evaluator was shown them
(:mod:`kpi_core.evaluations.numbers`; a draft's form shows them live). Every
save links the technician's submitted self-appraisal of the same period, if
any, and the final score the company's formula makes of the two
(:mod:`kpi_core.evaluations.policy`). Once submitted, none of it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.orm import Session, aliased

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.declarations import FormField
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.evaluations.form import Form, InvalidFields, clean_answers, fields_from_snapshot
from kpi_core.evaluations.policy import AppraisalPolicy, final_score
from kpi_core.evaluations.scoring import AnswerRejected, score_answers
from kpi_core.notify.webhooks import emit_event
from kpi_core.records import changes
from kpi_core.storage.models import Evaluation, SelfAppraisal, Technician
from kpi_core.storage.types import utcnow

ENTITY = "evaluation"
SORTABLE = {
    "period_start": Evaluation.period_start,
    "period_end": Evaluation.period_end,
    "score": Evaluation.score,
    "created_at": Evaluation.created_at,
}

Numbers = Callable[[int, date, date], dict[str, Any]]
"""``numbers(technician_id, period_start, period_end)``: the period's KPI numbers to keep (numbers.py)."""


@dataclass(frozen=True)
class Appraisal:
    """What an evaluation keeps beside its answers: the source of the period's KPI numbers (None: none
    kept) and the company's rules for the final score."""

    numbers: Numbers | None = None
    policy: AppraisalPolicy = field(default_factory=AppraisalPolicy)


NO_APPRAISAL = Appraisal()


def _visible(scope: Scope) -> ColumnElement[bool]:
    clause = scope.technicians(Evaluation.technician_id, Technician.team_id)
    principal = scope.principal
    if principal is not None and principal.role == "technician":
        # A draft is the manager's work in progress, not yet the technician's to read.
        clause = and_(clause, Evaluation.status != "draft")
    return clause


def _superseded() -> ColumnElement[bool]:
    newer = aliased(Evaluation)
    return exists().where(newer.supersedes_id == Evaluation.id)


def evaluation_query(scope: Scope, filters: Mapping[str, Any]) -> Select[tuple[Evaluation]]:
    """Evaluations the scope may see, filtered by technician, team, status, period and revision."""
    query = select(Evaluation).join(Technician, Technician.id == Evaluation.technician_id).where(_visible(scope))
    if "technician" in filters:
        query = query.where(Evaluation.technician_id == filters["technician"])
    if "team" in filters:
        query = query.where(Technician.team_id == filters["team"])
    if "status" in filters:
        query = query.where(Evaluation.status == filters["status"])
    # The period filters select evaluations whose period overlaps [period_from, period_to].
    if "period_from" in filters:
        query = query.where(Evaluation.period_end >= filters["period_from"])
    if "period_to" in filters:
        query = query.where(Evaluation.period_start <= filters["period_to"])
    if "latest" in filters:
        query = query.where(~_superseded() if filters["latest"] else _superseded())
    return query


def get_evaluation(session: Session, scope: Scope, evaluation_id: int) -> Evaluation:
    evaluation = session.scalar(
        select(Evaluation)
        .join(Technician, Technician.id == Evaluation.technician_id)
        .where(Evaluation.id == evaluation_id, _visible(scope))
    )
    if evaluation is None:
        raise NotFound(f"no evaluation with id {evaluation_id}")
    return evaluation


def create_evaluation(
    session: Session,
    scope: Scope,
    actor: Actor,
    form: Form,
    data: Mapping[str, Any],
    appraisal: Appraisal = NO_APPRAISAL,
) -> Evaluation:
    """A new draft (or, with ``status: submitted``, a complete submitted evaluation) on the current form,
    with the period's KPI numbers and the self-appraisal beside it (see the module's docstring).

    Raises :class:`InvalidFields` naming every field that is wrong (technician, period, answers) at once.
    """
    answered, problems = _checked(
        lambda: _check_technician(session, scope, data["technician_id"]),
        lambda: _check_period(data["period_start"], data["period_end"]),
        lambda: _answered(form.fields, data.get("answers", {}), data["status"]),
    )
    if problems:
        raise InvalidFields(problems)
    evaluation = Evaluation(
        technician_id=data["technician_id"],
        evaluator_id=actor.user_id,
        period_start=data["period_start"],
        period_end=data["period_end"],
        form_version=form.version,
        form_snapshot=form.snapshot,
        revision=1,
        **answered,
        **appraised(session, appraisal, data["technician_id"], data["period_start"], data["period_end"], answered),
    )
    created = changes.create(session, actor, ENTITY, evaluation)
    if created.status == "submitted":
        evaluation_submitted(session, created)
    return created


def new_evaluation_problems(session: Session, scope: Scope, form: Form, data: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of a new evaluation's fields, by field path; ``data`` may be partial (a body whose
    other fields failed to parse): only what it has is checked."""
    checks: list[Callable[[], Any]] = []
    if "technician_id" in data:
        checks.append(lambda: _check_technician(session, scope, data["technician_id"]))
    if "period_start" in data and "period_end" in data:
        checks.append(lambda: _check_period(data["period_start"], data["period_end"]))
    if isinstance(data.get("answers"), Mapping):
        checks.append(lambda: _answered(form.fields, data["answers"], data.get("status", "draft")))
    return _checked(*checks)[1]


def update_evaluation(
    session: Session,
    scope: Scope,
    actor: Actor,
    evaluation: Evaluation,
    data: Mapping[str, Any],
    appraisal: Appraisal = NO_APPRAISAL,
) -> Evaluation:
    """Change a draft; ``answers``, when given, replaces all of its answers. The self-appraisal beside it
    and the final score are taken again, for its technician and period as changed."""
    _require_status(evaluation, "draft", "only a draft is edited in place; revise a submitted evaluation instead")
    values = dict(data)
    answers = values.pop("answers", None)
    answered, problems = _checked(
        lambda: _check_technician(session, scope, values["technician_id"]) if "technician_id" in values else None,
        lambda: _check_period(
            values.get("period_start", evaluation.period_start), values.get("period_end", evaluation.period_end)
        ),
        lambda: _answered(_form_of(evaluation), answers, "draft") if answers is not None else {},
    )
    if problems:
        raise InvalidFields(problems)
    values.update(answered)
    technician_id = values.get("technician_id", evaluation.technician_id)
    start = values.get("period_start", evaluation.period_start)
    end = values.get("period_end", evaluation.period_end)
    scored = {"score": values.get("score", evaluation.score)}
    values.update(appraised(session, appraisal, technician_id, start, end, scored))
    return changes.update(session, actor, ENTITY, evaluation, values)


def submit_evaluation(
    session: Session, actor: Actor, evaluation: Evaluation, appraisal: Appraisal = NO_APPRAISAL
) -> Evaluation:
    """draft -> submitted, once every required field is answered; the period's KPI numbers and the
    self-appraisal beside it are taken as they are now, and kept."""
    _lock(session, evaluation)
    _require_status(evaluation, "draft", "only a draft can be submitted")
    values = _answered(_form_of(evaluation), evaluation.answers, "submitted")
    start, end = evaluation.period_start, evaluation.period_end
    values.update(appraised(session, appraisal, evaluation.technician_id, start, end, values))
    return _transition(session, actor, evaluation, "submit", values)


def acknowledge_evaluation(session: Session, actor: Actor, evaluation: Evaluation, comment: str | None) -> Evaluation:
    """submitted -> acknowledged, by the evaluated technician, with an optional comment."""
    _lock(session, evaluation)
    _require_status(evaluation, "submitted", "only a submitted evaluation can be acknowledged")
    newer = _revision_of(session, evaluation)
    if newer is not None:
        raise Conflict("revision", f"evaluation {newer.id} (revision {newer.revision}) has replaced this one")
    values = {"status": "acknowledged", "acknowledged_at": utcnow(), "technician_comment": comment}
    return _transition(session, actor, evaluation, "acknowledge", values)


def revise_evaluation(
    session: Session,
    actor: Actor,
    form: Form,
    evaluation: Evaluation,
    data: Mapping[str, Any],
    appraisal: Appraisal = NO_APPRAISAL,
) -> Evaluation:
    """A new revision of a submitted or acknowledged evaluation, on the current form; the earlier is kept.

    Fields not given are taken from the evaluation revised (its answers only
    for fields the current form still has).
    """
    _lock(session, evaluation)
    if evaluation.status == "draft":
        raise Conflict("status", "a draft is edited in place, not revised")
    newer = _revision_of(session, evaluation)
    if newer is not None:
        raise Conflict("revision", f"only the latest revision can be revised: evaluation {newer.id}")
    start = data.get("period_start", evaluation.period_start)
    end = data.get("period_end", evaluation.period_end)
    keys = {item.key for item in form.fields}
    answers = data["answers"] if "answers" in data else {k: v for k, v in evaluation.answers.items() if k in keys}
    answered, problems = _checked(
        lambda: _check_period(start, end), lambda: _answered(form.fields, answers, data["status"])
    )
    if problems:
        raise InvalidFields(problems)
    revision = Evaluation(
        technician_id=evaluation.technician_id,
        evaluator_id=actor.user_id,
        period_start=start,
        period_end=end,
        form_version=form.version,
        form_snapshot=form.snapshot,
        revision=evaluation.revision + 1,
        supersedes_id=evaluation.id,
        **answered,
        **appraised(session, appraisal, evaluation.technician_id, start, end, answered),
    )
    created = changes.create(session, actor, ENTITY, revision)
    if created.status == "submitted":
        evaluation_submitted(session, created)
    return created


def delete_evaluation(session: Session, actor: Actor, evaluation: Evaluation) -> None:
    _lock(session, evaluation)
    _require_status(evaluation, "draft", "only a draft can be deleted; revise a submitted evaluation instead")
    changes.delete(session, actor, ENTITY, evaluation)


def _lock(session: Session, evaluation: Evaluation) -> None:
    # On PostgreSQL concurrent transitions of one evaluation queue here and the later one
    # sees the earlier one's result (SQLite serialises writers already).
    session.scalar(
        select(Evaluation)
        .where(Evaluation.id == evaluation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _form_of(evaluation: Evaluation) -> list[FormField]:
    return fields_from_snapshot(evaluation.form_snapshot)


def _checked(*checks: Callable[[], Any]) -> tuple[Any, dict[str, str]]:
    """Run every check, collecting the fields each names as invalid; the last check's result is returned."""
    problems: dict[str, str] = {}
    result = None
    for check in checks:
        try:
            result = check()
        except InvalidFields as exc:
            problems.update(exc.problems)
        except Invalid as exc:
            problems[exc.field] = exc.message
    return result, problems


def _answered(form_fields: Sequence[FormField], answers: Mapping[str, Any], status: str) -> dict[str, Any]:
    """Checked answers, their score, and the status (with submitted_at when submitting)."""
    submitting = status == "submitted"
    cleaned = clean_answers(form_fields, answers, complete=submitting)
    try:
        score = score_answers(form_fields, cleaned)
    except AnswerRejected as exc:  # clean_answers already refuses these; kept as a guard
        raise Invalid(f"answers.{exc.key}", str(exc)) from None
    values: dict[str, Any] = {"answers": cleaned, "score": score, "status": status}
    if submitting:
        values["submitted_at"] = utcnow()
    return values


def appraised(
    session: Session, appraisal: Appraisal, technician_id: int, start: date, end: date, answered: Mapping[str, Any]
) -> dict[str, Any]:
    """What an evaluation keeps beside its answers: the technician's submitted self-appraisal of the same
    period and the final score, and on submission the period's KPI numbers (when ``appraisal`` has a
    source; a draft shows them live, through the form)."""
    found = submitted_self_appraisal(session, technician_id, start, end)
    self_score = found.score if found is not None else None
    final = final_score(appraisal.policy, answered.get("score"), self_score)
    values: dict[str, Any] = {
        "self_appraisal_id": found.id if found is not None else None,
        "self_score": self_score,
        "final_score": final.score,
        "final_formula": final.formula,
        "self_weight": final.self_weight,
    }
    if appraisal.numbers is not None and answered.get("status") == "submitted":
        values["kpi_snapshot"] = appraisal.numbers(technician_id, start, end)
    return values


def submitted_self_appraisal(session: Session, technician_id: int, start: date, end: date) -> SelfAppraisal | None:
    """The technician's submitted self-appraisal of exactly this period, or None."""
    return session.scalar(
        select(SelfAppraisal).where(
            SelfAppraisal.technician_id == technician_id,
            SelfAppraisal.period_start == start,
            SelfAppraisal.period_end == end,
            SelfAppraisal.status == "submitted",
        )
    )


def _check_technician(session: Session, scope: Scope, technician_id: int) -> None:
    # One the caller may not evaluate reads exactly as one that does not exist (accounts/scope.py).
    allowed = select(Technician.id).where(Technician.id == technician_id, scope.teams(Technician.team_id))
    if session.scalar(allowed) is None:
        yours = "" if scope.sees_all else " among your teams' technicians"
        raise Invalid(
            "technician_id", f"Choose a technician from the list: there is no technician {technician_id}{yours}"
        )


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise Invalid("period_end", "The period must end on or after the day it starts")


def _require_status(evaluation: Evaluation, status: str, message: str) -> None:
    if evaluation.status != status:
        raise Conflict("status", f"is {evaluation.status}: {message}")


def _revision_of(session: Session, evaluation: Evaluation) -> Evaluation | None:
    return session.scalar(select(Evaluation).where(Evaluation.supersedes_id == evaluation.id).limit(1))


def _transition(
    session: Session, actor: Actor, evaluation: Evaluation, action: str, values: Mapping[str, Any]
) -> Evaluation:
    before = snapshot(evaluation)
    for name, value in values.items():
        setattr(evaluation, name, value)
    session.flush()
    record(session, actor, action, ENTITY, evaluation.id, before=before, after=snapshot(evaluation))
    if action == "submit":
        evaluation_submitted(session, evaluation)
    return evaluation


def evaluation_submitted(session: Session, evaluation: Evaluation) -> None:
    """Tell the webhooks that want it, in the transaction that submits the evaluation."""
    technician = session.get(Technician, evaluation.technician_id)
    payload = {
        "evaluation_id": evaluation.id,
        "technician_id": evaluation.technician_id,
        "technician": technician.name if technician else None,
        "period_start": evaluation.period_start,
        "period_end": evaluation.period_end,
        "score": evaluation.score,
        "revision": evaluation.revision,
        "evaluator_id": evaluation.evaluator_id,
        "submitted_at": evaluation.submitted_at,
    }
    who = technician.name if technician else f"technician {evaluation.technician_id}"
    summary = f"An evaluation of {who} for {evaluation.period_start} to {evaluation.period_end} was submitted."
    emit_event(session, "evaluation.submitted", payload, event_id=f"evaluation:{evaluation.id}", summary=summary)
