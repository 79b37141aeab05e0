"""Hook implementations of the quality plugin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, exists, not_

from kpi_core import hookimpl
from kpi_core.declarations import (
    AlertRule,
    Exclusion,
    FormField,
    Metric,
    MetricContext,
    Note,
    Setting,
    Target,
    Widget,
)

CALLBACK_WINDOW_DAYS = 30
"""Default of the ``callback_window_days`` setting: a callback within it spoils a first-time fix."""


def _completed(jobs: Any) -> Any:
    return and_(jobs.c.status == "completed", jobs.c.completed_at.is_not(None))


def _completed_original(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(_completed(jobs), jobs.c.callback_of_id.is_(None))


def _callback_within_window(ctx: MetricContext, *conditions: Any) -> Any:
    """A return visit of the fact's job, not cancelled, booked within the callback window (and ``conditions``)."""
    jobs = ctx.tables["jobs"]
    callback = jobs.alias("callback")
    window = ctx.setting("callback_window_days", CALLBACK_WINDOW_DAYS) * 86400
    return exists().where(
        callback.c.callback_of_id == jobs.c.id,
        callback.c.status != "cancelled",
        ctx.epoch(callback.c.scheduled_start) - ctx.epoch(jobs.c.completed_at) <= window,
        *(condition(callback) for condition in conditions),
    )


def _disputed(ctx: MetricContext) -> Any:
    """``disputed(callback)``: the callback's attribution to the fact's job was disputed and the dispute accepted."""
    disputes = ctx.tables["callback_disputes"]
    # Against the callback's own original (the fact's job): correlated to the callback alone.
    return lambda callback: exists().where(
        disputes.c.callback_job_id == callback.c.id,
        disputes.c.original_job_id == callback.c.callback_of_id,
        disputes.c.status == "accepted",
    )


def _had_callback(ctx: MetricContext) -> Any:
    """A callback within the window spoils the fix, unless its dispute was accepted (not our workmanship)."""
    disputed = _disputed(ctx)
    return _callback_within_window(ctx, lambda callback: not_(disputed(callback)))


def _callback_disputed(ctx: MetricContext) -> Any:
    """A callback within the window whose dispute was accepted (after ``called_back``: a fix only thanks to it)."""
    return _callback_within_window(ctx, _disputed(ctx))


def _rated(ctx: MetricContext) -> Any:
    jobs, feedback = ctx.tables["jobs"], ctx.tables["feedback"]
    return and_(_completed(jobs), feedback.c.rating.is_not(None))


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _job_completed_at(ctx: MetricContext) -> Any:
    return ctx.tables["jobs"].c.completed_at


def _counted_evaluation(ctx: MetricContext) -> Any:
    evaluations = ctx.tables["evaluations"]
    newer = evaluations.alias("newer_revision")
    return and_(
        evaluations.c.status.in_(("submitted", "acknowledged")),
        evaluations.c.score.is_not(None),
        # Only the latest submitted revision counts: a draft revision does not replace it yet.
        not_(
            exists().where(
                newer.c.supersedes_id == evaluations.c.id,
                newer.c.status.in_(("submitted", "acknowledged")),
            )
        ),
    )


def _status_is(status: str) -> Any:
    return lambda ctx: ctx.tables["jobs"].c.status == status


CANCELLED = Exclusion("cancelled", "Cancelled", _status_is("cancelled"))
NOT_COMPLETED = Exclusion("not_completed", "Not completed", lambda ctx: not_(_completed(ctx.tables["jobs"])))
RETURN_VISIT = Exclusion(
    "return_visit", "A return visit itself", lambda ctx: ctx.tables["jobs"].c.callback_of_id.is_not(None)
)
CALLED_BACK = Note("called_back", "Called back within the callback window", _had_callback)
CALLBACK_DISPUTED = Note(
    "callback_disputed",
    "Its callback was disputed and the dispute accepted (not the crew's workmanship)",
    _callback_disputed,
)
NO_FEEDBACK = Exclusion("no_feedback", "No customer feedback", lambda ctx: ctx.tables["feedback"].c.rating.is_(None))


def _evaluations(ctx: MetricContext) -> Any:
    return ctx.tables["evaluations"]


EVALUATION_EXCLUSIONS = (
    Exclusion(
        "not_submitted",
        "Not submitted yet (a draft)",
        lambda ctx: _evaluations(ctx).c.status.not_in(("submitted", "acknowledged")),
    ),
    Exclusion("no_score", "No score (no scored question answered)", lambda ctx: _evaluations(ctx).c.score.is_(None)),
    Exclusion("superseded", "Replaced by a later revision", lambda ctx: not_(_counted_evaluation(ctx))),
)


@hookimpl
def kpi_metrics() -> list[Metric]:
    return [
        Metric(
            key="quality.first_time_fix_rate",
            label="First-time fix rate",
            description="Share of completed jobs that needed no callback visit.",
            formula=(
                "Completed jobs with no return visit booked within the callback window after completion "
                "(30 days unless an admin changes it; cancelled return visits do not count, nor return visits "
                "a manager accepted were not the crew's workmanship), out of all completed jobs that were not "
                "themselves return visits"
            ),
            unit="ratio",
            direction="higher",
            kind="rate",
            numerator=lambda ctx: _flag(and_(_completed_original(ctx), not_(_had_callback(ctx)))),
            denominator=lambda ctx: _flag(_completed_original(ctx)),
            period_column=_job_completed_at,
            default_target=Target(green=0.90, amber=0.80, weight=2),
            # A fix is only known once the callback window has closed without a callback.
            outcome_window="callback_window_days",
            outcome_window_label="Callback window still open",
            outcome_settled=_had_callback,
            exclusions=(CANCELLED, NOT_COMPLETED, RETURN_VISIT),
            notes=(CALLED_BACK, CALLBACK_DISPUTED),
        ),
        Metric(
            key="quality.avg_customer_rating",
            label="Average customer rating",
            description="Mean of customers' 1-5 star ratings of completed jobs.",
            formula="The customers' star ratings of completed jobs, averaged over the jobs that were rated",
            unit="stars",
            direction="higher",
            kind="mean",
            numerator=lambda ctx: case((_rated(ctx), ctx.tables["feedback"].c.rating), else_=0),
            denominator=lambda ctx: _flag(_rated(ctx)),
            period_column=_job_completed_at,
            default_target=Target(green=4.5, amber=4.0, weight=2),
            empty_hint="No ratings yet: ratings come from customer feedback, which managers import beside the jobs.",
            exclusions=(CANCELLED, NOT_COMPLETED, NO_FEEDBACK),
        ),
        Metric(
            key="quality.complaint_rate",
            label="Complaint rate",
            description="Share of rated jobs whose customer gave 2 stars or fewer.",
            formula="Completed jobs whose customer gave 1 or 2 stars, out of all completed jobs that were rated",
            unit="ratio",
            direction="lower",
            kind="rate",
            numerator=lambda ctx: _flag(and_(_rated(ctx), ctx.tables["feedback"].c.rating <= 2)),
            denominator=lambda ctx: _flag(_rated(ctx)),
            period_column=_job_completed_at,
            default_target=Target(green=0.05, amber=0.10, weight=1),
            empty_hint="No ratings yet: complaints are counted from customer feedback, which managers import.",
            exclusions=(CANCELLED, NOT_COMPLETED, NO_FEEDBACK),
        ),
        Metric(
            key="quality.evaluation_score",
            label="Evaluation score",
            description="Mean score (0-100) of managers' submitted evaluations.",
            formula=(
                "The scores of managers' submitted evaluations, averaged (when an evaluation was revised, "
                "only its latest version counts)"
            ),
            unit="points",
            direction="higher",
            kind="mean",
            source="evaluations",
            numerator=lambda ctx: case((_counted_evaluation(ctx), ctx.tables["evaluations"].c.score), else_=0),
            denominator=lambda ctx: _flag(_counted_evaluation(ctx)),
            period_column=lambda ctx: ctx.tables["evaluations"].c.period_end,
            default_target=Target(green=80, amber=65, weight=1),
            empty_hint="No evaluations yet: this counts the evaluations managers submit.",
            exclusions=EVALUATION_EXCLUSIONS,
        ),
    ]


@hookimpl
def kpi_form_fields() -> list[FormField]:
    return [
        FormField(
            "quality.workmanship",
            "Workmanship",
            "rating",
            required=True,
            weight=3,
            help_text="Is the work done right, to code, and built to last?",
            scale_labels=("Needs redoing", "Flawless"),
        ),
        FormField(
            "quality.cleanliness",
            "Cleanliness",
            "rating",
            required=True,
            weight=1,
            help_text="Is the site left as clean as it was found, or cleaner?",
            scale_labels=("Left a mess", "Cleaner than found"),
        ),
        FormField(
            "quality.communication",
            "Communication",
            "rating",
            required=True,
            weight=2,
            help_text="Does the customer understand what was done, what it cost and why?",
            scale_labels=("Customer left unsure", "Customer fully informed"),
        ),
        FormField(
            "quality.safety",
            "Safety",
            "rating",
            required=True,
            weight=2,
            help_text="Are safe practices and protective equipment used every time?",
            scale_labels=("Unsafe", "Safe every time"),
        ),
    ]


@hookimpl
def kpi_widgets() -> list[Widget]:
    return [
        Widget(
            "quality.ftf_card",
            "First-time fix",
            "kpi_card",
            metrics=("quality.first_time_fix_rate",),
            size="small",
        ),
        Widget(
            "quality.rating_card",
            "Customer rating",
            "kpi_card",
            metrics=("quality.avg_customer_rating",),
            size="small",
        ),
        Widget(
            "quality.ftf_trend",
            "First-time fix trend",
            "trend",
            metrics=("quality.first_time_fix_rate",),
            size="large",
        ),
        Widget(
            "quality.leaderboard",
            "Quality leaderboard",
            "leaderboard",
            metrics=("quality.first_time_fix_rate", "quality.avg_customer_rating"),
            size="medium",
        ),
    ]


@hookimpl
def kpi_settings() -> list[Setting]:
    return [
        Setting(
            key="quality.callback_window_days",
            label="Callback window",
            type="integer",
            default=CALLBACK_WINDOW_DAYS,
            unit="days",
            minimum=1,
            maximum=365,
            description="A callback scheduled within this many days after a job's completion means the job "
            "was not fixed the first time.",
        )
    ]


@hookimpl
def kpi_alert_rules() -> list[AlertRule]:
    # Two months clearly below the first-time fix target is a pattern, not bad luck; a disputed callback
    # is a decision a manager has to make.
    return [
        AlertRule(
            key="quality.first_time_fix_clearly_red",
            kind="clearly_red",
            kpi="quality.first_time_fix_rate",
            period="month",
            periods=2,
        ),
        AlertRule(key="quality.callback_disputed", kind="callback_disputed", kpi="quality.first_time_fix_rate"),
    ]
