"""SQLAlchemy models of the core tables. Alembic migrations own the schema."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from kpi_core.storage.types import UTCDateTime, utcnow


def _check_name(constraint: Any, table: Any) -> str:
    """A check constraint's name without the ``ck_<table>_`` prefix, should its author have written it already.

    Without this a migration that names its check ``ck_shifts_ends_after_start``
    (as the other constraints are named in full) would get ``ck_shifts_ck_shifts_…``.
    """
    from sqlalchemy.exc import InvalidRequestError

    name = constraint.name
    if name is None:
        raise InvalidRequestError("A check constraint must be named (the naming convention is ck_<table>_<name>).")
    prefix = f"ck_{table.name}_"
    return name[len(prefix) :] if name.startswith(prefix) else name


NAMING_CONVENTION: dict[str, Any] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    # SQLAlchemy applies a convention to a named constraint only when the template holds
    # "constraint_name": hence the token's name.
    "unprefixed_constraint_name": _check_name,
    "ck": "ck_%(table_name)s_%(unprefixed_constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "manager", "technician")
JOB_STATUSES = ("scheduled", "completed", "cancelled")
EVALUATION_STATUSES = ("draft", "submitted", "acknowledged")
RUN_STATUSES = ("queued", "running", "finished", "failed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_valid")


team_managers = Table(
    "team_managers",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Timestamped, Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class Technician(Timestamped, Base):
    __tablename__ = "technicians"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hired_on: Mapped[date | None] = mapped_column(Date)


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (_one_of("role", ROLES),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Where the user's messages go (digests, alerts); a technician's falls back to their technician record's.
    email: Mapped[str | None] = mapped_column(String(254))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tokens issued before this instant are refused (password change, reset, disable).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Customer(Timestamped, Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Job(Timestamped, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        _one_of("status", JOB_STATUSES),
        CheckConstraint("estimated_minutes IS NULL OR estimated_minutes >= 0", name="estimated_minutes_positive"),
        Index("ix_jobs_technician_completed", "technician_id", "completed_at"),
        Index("ix_jobs_technician_scheduled", "technician_id", "scheduled_start"),
        Index("ix_jobs_completed_at", "completed_at"),
        Index("ix_jobs_scheduled_start", "scheduled_start"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    scheduled_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scheduled_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    estimated_minutes: Mapped[int | None] = mapped_column(Integer)
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    callback_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    # Plugins' job fields; the database deletes them with the job (loaded only where asked for).
    field_values: Mapped[list[JobFieldValue]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="JobFieldValue.key"
    )
    # The crew: a job written without one gets its technician as the sole lead (kpi_core.records.crews).
    assignments: Mapped[list[JobAssignment]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: (JobAssignment.role.desc(), JobAssignment.technician_id),  # the lead first
    )


CREW_ROLES = ("lead", "helper")


class JobAssignment(Base):
    """A technician on a job's crew: their role and their share of the job's credit.

    Every job has one row per technician on it, exactly one of them the ``lead``, and shares that
    sum to 1. ``jobs.technician_id`` is the lead's id, kept in step by every writer: it is the one
    technician who answers for the job (the ``lead`` credit rule, the jobs list, scope checks).
    """

    __tablename__ = "job_assignments"
    __table_args__ = (
        _one_of("role", CREW_ROLES),
        CheckConstraint("share > 0 AND share <= 1", name="share_range"),
        Index("ix_job_assignments_technician", "technician_id", "job_id"),
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), default="lead")
    share: Mapped[float] = mapped_column(Float, default=1.0)


JOB_FIELD_COLUMNS = {
    "boolean": "boolean_value",
    "integer": "integer_value",
    "number": "number_value",
    "text": "text_value",
    "choice": "text_value",
}
"""The column of ``job_field_values`` that holds a value of each job field type."""


def _one_value() -> CheckConstraint:
    columns = sorted(set(JOB_FIELD_COLUMNS.values()))
    count = " + ".join(f"CASE WHEN {column} IS NULL THEN 0 ELSE 1 END" for column in columns)
    return CheckConstraint(f"{count} = 1", name="one_value")


class JobFieldValue(Base):
    """The value of a plugin's job field (``kpi_job_fields``) for one job, in the column of its type.

    A job without a value for a field has no row. Values of a field no installed plugin declares
    stay, unread, until the job is deleted.
    """

    __tablename__ = "job_field_values"
    __table_args__ = (_one_value(), Index("ix_job_field_values_key", "key"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    boolean_value: Mapped[bool | None] = mapped_column(Boolean)
    integer_value: Mapped[int | None] = mapped_column(BigInteger)
    number_value: Mapped[float | None] = mapped_column(Float)
    text_value: Mapped[str | None] = mapped_column(Text)

    @property
    def value(self) -> Any:
        """The value, whichever its type."""
        for name in ("boolean_value", "integer_value", "number_value", "text_value"):
            found = getattr(self, name)
            if found is not None:
                return found
        return None


class Feedback(Timestamped, Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="nps_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Evaluation(Timestamped, Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        _one_of("status", EVALUATION_STATUSES),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("final_score IS NULL OR final_score BETWEEN 0 AND 100", name="final_score_range"),
        Index("ix_evaluations_technician_period", "technician_id", "period_end"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    evaluator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    form_version: Mapped[str] = mapped_column(String(64))
    form_snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), index=True)
    technician_comment: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kpi_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The technician's KPI values for the period as the evaluator saw them (kpi_core/evaluations/numbers.py)."""
    self_appraisal_id: Mapped[int | None] = mapped_column(ForeignKey("self_appraisals.id", ondelete="SET NULL"))
    self_score: Mapped[float | None] = mapped_column(Float)
    final_score: Mapped[float | None] = mapped_column(Float)
    final_formula: Mapped[str | None] = mapped_column(String(20))
    self_weight: Mapped[float | None] = mapped_column(Float)
    """The self-appraisal's share in ``final_score`` under the ``weighted`` formula (0..1)."""


SELF_APPRAISAL_STATUSES = ("draft", "submitted")


class SelfAppraisal(Timestamped, Base):
    """A technician's answers about themselves for a period, on the questions asked of technicians.

    One per technician and period; a draft is edited in place, a submitted one is final. The manager
    sees it beside their own answers when evaluating the same technician and period.
    """

    __tablename__ = "self_appraisals"
    __table_args__ = (
        _one_of("status", SELF_APPRAISAL_STATUSES),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="score_range"),
        UniqueConstraint("technician_id", "period_start", "period_end"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    form_version: Mapped[str] = mapped_column(String(64))
    form_snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kpi_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` a user sent with a create, and what that first request created.

    A retry with the same key (same user, same operation) and the same request answers the record
    created first instead of creating another; the same key with another request is refused
    (kpi_core/evaluations/idempotency.py). ``fingerprint`` is a hash of the request.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_user_operation_key", "user_id", "operation", "key", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    resource_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KpiTarget(Timestamped, Base):
    """One version of a metric's target, for the company (``team_id`` None) or one team.

    Versions are never rewritten: a change adds a version ``valid_from`` a local date (None: from the
    beginning), and a period is judged against the version in force on its first day (the latest
    ``valid_from`` on or before it; of two from one day, the later one). ``removed`` marks a version that
    takes the stored target away from that day (the team falls back to the company's, the company to the
    plugin's default); ``reverts_id`` the older version a revert copied.
    """

    __tablename__ = "targets"
    __table_args__ = (
        CheckConstraint("weight IS NULL OR weight >= 0", name="weight_positive"),
        CheckConstraint(
            "removed OR (green IS NOT NULL AND amber IS NOT NULL AND weight IS NOT NULL)", name="values_unless_removed"
        ),
        Index("ix_targets_metric_team_from", "metric_key", "team_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    metric_key: Mapped[str] = mapped_column(String(120))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    green: Mapped[float | None] = mapped_column(Float)
    amber: Mapped[float | None] = mapped_column(Float)
    weight: Mapped[float | None] = mapped_column(Float, default=1.0)
    valid_from: Mapped[date | None] = mapped_column(Date)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PeriodClose(Base):
    """A month closed by an admin or the automatic close: its KPI values are answered from the snapshot
    (:class:`KpiSnapshot`) taken then. Re-closing adds a close; the latest of a month is in force.

    ``data_versions`` are the month's data versions when it was closed and ``fingerprints`` the KPIs'
    definition fingerprints: while both are unchanged and the month was ``settled`` (every outcome window
    over), the facts cannot tell a different story and nothing is computed again.
    """

    __tablename__ = "period_closes"
    __table_args__ = (Index("ix_period_closes_month", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    settled: Mapped[bool] = mapped_column(Boolean, default=True)
    data_versions: Mapped[list[Any]] = mapped_column(JSON)
    fingerprints: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer, default=0)


class PeriodCloseGroup(Base):
    """A close's snapshot rows of one KPI and group (``technician``, ``team``, ``company``) as one JSON list
    of lists in :class:`kpi_core.kpis.closing.ClosedRow`'s order: what answers read (a year of a technician
    grid of 8 KPIs is 96 of these), while ``kpi_snapshots`` holds the same values a row each, for SQL."""

    __tablename__ = "period_close_groups"
    close_id: Mapped[int] = mapped_column(ForeignKey("period_closes.id", ondelete="CASCADE"), primary_key=True)
    group_by: Mapped[str] = mapped_column(String(20), primary_key=True)
    kpi: Mapped[str] = mapped_column(String(120), primary_key=True)
    rows: Mapped[list[Any]] = mapped_column(JSON)


class KpiSnapshot(Base):
    """One KPI x group (technician, team or company) x closed month, as it was when the month was closed.

    ``status`` is judged against the target in force on the month's first day then; ``fingerprint`` names
    the definition the value was computed with; ``team_id`` is the team whose target applied.
    """

    __tablename__ = "kpi_snapshots"
    __table_args__ = (Index("ix_kpi_snapshots_close_group", "close_id", "group_by"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    close_id: Mapped[int] = mapped_column(ForeignKey("period_closes.id", ondelete="CASCADE"))
    kpi: Mapped[str] = mapped_column(String(120))
    group_by: Mapped[str] = mapped_column(String(20))
    group_id: Mapped[str] = mapped_column(String(64))
    group_label: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(Integer)
    numerator: Mapped[float] = mapped_column(Float)
    denominator: Mapped[float] = mapped_column(Float)
    pending: Mapped[float] = mapped_column(Float, default=0.0)
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(20))
    certain: Mapped[bool | None] = mapped_column(Boolean)
    fingerprint: Mapped[str] = mapped_column(String(64))


class ReportRun(Base):
    __tablename__ = "report_runs"
    __table_args__ = (_one_of("status", RUN_STATUSES),)
    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    format: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_path: Mapped[str | None] = mapped_column(String(1024))
    media_type: Mapped[str | None] = mapped_column(String(120))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The background job that renders it (status, progress and errors live there).
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"), index=True)


class ReportFile(Base):
    """A rendered report's bytes, in the database so any app instance can serve what any worker wrote."""

    __tablename__ = "report_files"
    report_run_id: Mapped[int] = mapped_column(ForeignKey("report_runs.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


class Schedule(Timestamped, Base):
    __tablename__ = "schedules"
    __table_args__ = (
        _one_of("kind", ("job", "report")),
        _one_of("missed", ("run_once", "skip")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    job_key: Mapped[str | None] = mapped_column(String(120))
    report_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    missed: Mapped[str] = mapped_column(String(20), default="run_once")
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Base):
    """Append-only: no route edits or deletes these; ``hash`` chains each entry to the previous."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str | None] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class TokenRevocation(Base):
    __tablename__ = "token_revocations"
    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


TOKEN_ROLES = ("admin", "manager")
"""The roles an integration token may have (a technician's access is to their own records)."""


class IntegrationToken(Base):
    """A named API token for a script or integration (kpi_core/accounts/integration_tokens.py).

    The token acts as its own user (``user_id``: a user with the token's role and, for a manager,
    its teams, who cannot log in), narrowed to ``scope``, the permission keys it may use. Only a
    SHA-256 hash of the token's text is kept; ``prefix``, part of that text, finds the row.
    """

    __tablename__ = "integration_tokens"
    __table_args__ = (_one_of("role", TOKEN_ROLES),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    preset: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class IntegrationTokenUse(Base):
    """One request made with an integration token: when, which operation, and how it was answered.

    Kept beside the audit trail rather than in it: reads are uses too, and a hash-chained entry per
    read would serialise every reader behind the trail's lock. Changes made with a token are also
    in the audit trail, under the token's user.
    """

    __tablename__ = "integration_token_uses"
    __table_args__ = (Index("ix_integration_token_uses_token_at", "token_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("integration_tokens.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    permission: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[int] = mapped_column(SmallInteger)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """A login attempt the throttle counts when there is no Redis: one that failed, or one whose
    password is being checked right now (it is deleted if the password was right).

    ``username`` is case-folded, ``client`` the address (an IPv6 client's /64 network). Rows
    older than the throttle window are pruned as new attempts come in (kpi_core/accounts/throttle.py).
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_attempted", "username", "attempted_at"),
        Index("ix_login_failures_client_attempted", "client", "attempted_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    client: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class JobRun(Base):
    """One request to run a background job and what became of it, on RQ or in-process alike.

    ``dispatch_id`` is the id the queue knows the current dispatch by; a queued
    message whose id no longer matches (a stale duplicate, a run re-dispatched
    after Redis lost it) is dropped by the worker. ``attempts`` counts started
    attempts, so a late result from an attempt that was given up on is ignored.
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        _one_of("status", RUN_STATUSES),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        Index("ix_job_runs_status_created", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job_key: Mapped[str] = mapped_column(String(120), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    backend: Mapped[str] = mapped_column(String(20))
    dispatch_id: Mapped[str] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(200))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_by: Mapped[str | None] = mapped_column(String(150))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    upload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The file uploaded for a job that takes one: name, media type, size, where the host keeps it."""


class DashboardLayout(Base):
    """A user's dashboard: the widgets they chose, in order, with their options."""

    __tablename__ = "dashboard_layouts"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    widgets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PluginSetting(Base):
    """An admin's value for a setting a plugin declares (absent: the declared default applies)."""

    __tablename__ = "plugin_settings"
    __table_args__ = (UniqueConstraint("plugin", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plugin: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(120))
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PermissionGrant(Base):
    """An admin's choice of whether a role has a permission a plugin declares (absent: the declared default)."""

    __tablename__ = "permission_grants"
    __table_args__ = (_one_of("role", ROLES),)
    permission: Mapped[str] = mapped_column(String(120), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class KpiDataVersion(Base):
    """A counter per month of facts, bumped in the transaction that changes facts in that month.

    ``month`` is ``YYYY-MM`` (UTC for timestamps, the local date for DATE columns), ``YYYY-MM-DD`` for
    the first and last UTC day of a month (so that a local month of any time zone reads the day it
    overlaps of its neighbours, not the whole month) or ``*`` for changes that touch every period (a
    technician moving team, a plugin setting). Cached KPI results are keyed by the counters of the
    months they cover, so a change makes exactly those results unreachable, in every process at once.
    """

    __tablename__ = "kpi_data_versions"
    month: Mapped[str] = mapped_column(String(10), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class SavedMapping(Timestamped, Base):
    """A column mapping saved by name for jobs imports (``mapping``: its JSON form, see
    kpi_core/imports/mapping_io.py), reused by the import page, the API and ``kpi import jobs --mapping``."""

    __tablename__ = "import_mappings"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


@event.listens_for(Session, "before_flush")
def _keep_job_leads(session: Session, _context: Any, _instances: Any) -> None:
    """Every job written through the ORM has a crew whose lead is ``jobs.technician_id``.

    A job created with only a technician gets that technician as its sole lead; a job whose
    technician changes makes the new technician its lead (the old lead leaves the crew, or becomes a
    helper if the new lead was one). Writers that set a crew themselves keep it as they set it.
    Bulk writers (imports, the demo) write the crew rows themselves.
    """
    with session.no_autoflush:
        for job in [item for item in session.new if isinstance(item, Job)]:
            if job.technician_id is not None and not job.assignments:
                job.assignments.append(JobAssignment(technician_id=job.technician_id, role="lead", share=1.0))
        for job in [item for item in session.dirty if isinstance(item, Job)]:
            history = inspect(job).attrs.technician_id.history
            if history.has_changes() and job.technician_id is not None:
                _make_lead(job, job.technician_id)


def _make_lead(job: Job, technician_id: int) -> None:
    crew = job.assignments
    if any(member.technician_id == technician_id and member.role == "lead" for member in crew):
        return
    for member in crew:
        if member.role == "lead":
            if any(other.technician_id == technician_id for other in crew):
                member.role = "helper"
            else:
                member.technician_id = technician_id
                return
    for member in crew:
        if member.technician_id == technician_id:
            member.role = "lead"
            return
    crew.append(JobAssignment(technician_id=technician_id, role="lead", share=1.0))


DISPUTE_REASONS = ("customer_damage", "part_failure", "new_problem", "other")
DISPUTE_STATUSES = ("open", "accepted", "rejected")
OPEN_DISPUTE = text("status = 'open'")


class CallbackDispute(Base):
    """A dispute of a callback's attribution: the return visit was not the original crew's workmanship.

    Opened by a technician of the original job's crew, a manager of their team or an admin, with a
    reason (``other`` needs a comment); decided (``accepted`` or ``rejected``) by a manager of the team
    or an admin. An accepted dispute takes the callback out of the first-time fix of
    ``original_job_id``, the job the callback was recorded against when the dispute was opened.
    A callback has at most one open dispute (a partial unique index); decided ones stay as history.
    """

    __tablename__ = "callback_disputes"
    __table_args__ = (
        _one_of("reason", DISPUTE_REASONS),
        _one_of("status", DISPUTE_STATUSES),
        CheckConstraint("reason <> 'other' OR comment IS NOT NULL", name="other_has_comment"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_when_closed"),
        Index(
            "ix_callback_disputes_one_open",
            "callback_job_id",
            unique=True,
            sqlite_where=OPEN_DISPUTE,
            postgresql_where=OPEN_DISPUTE,
        ),
        Index("ix_callback_disputes_callback", "callback_job_id", "status"),
        Index("ix_callback_disputes_original", "original_job_id", "status"),
        Index("ix_callback_disputes_status", "status", "opened_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    callback_job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    original_job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class PersistedKpiSums(Base):
    """One month's pooled KPI sums, kept so that a restart, another app instance or a machine without Redis
    reads them instead of scanning the facts (:mod:`kpi_core.kpis.persisted`).

    ``key`` is the sums' cache key (question, scope, plugins, settings and data versions of the month), so
    a row is never stale: a change to the data makes a new key and the old row is simply not asked for
    again; the retention job deletes rows not read for a while. ``value`` is the JSON compressed (zlib),
    ``checksum`` the SHA-256 of ``value``: a row that does not match is recomputed and replaced, never read.
    """

    __tablename__ = "kpi_persisted_sums"
    __table_args__ = (Index("ix_kpi_persisted_sums_read_at", "read_at"),)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MESSAGE_STATUSES = ("queued", "sending", "sent", "failed")
WEBHOOK_FORMATS = ("kpi", "slack")


class WebhookEndpoint(Timestamped, Base):
    """A URL an admin registered to receive events (kpi_core/notify/webhooks.py), signed with ``secret``.

    ``events`` lists the event names it receives; ``format`` is ``kpi`` (a signed JSON body) or
    ``slack`` (a Slack-compatible incoming-webhook body, ``{"text": ...}``, still signed).
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (_one_of("format", WEBHOOK_FORMATS),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(10), default="kpi")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class NotificationMessage(Base):
    """One message in the outbox (kpi_core/notify/outbox.py): what to send, to whom, on which channel, and
    what became of it.

    Written in the transaction of whatever caused it, so a message exists exactly when its cause
    committed; ``idempotency_key`` (unique) makes queueing the same message twice a no-op, and
    ``delivery_id`` is what receivers see of it (the e-mail's Message-ID, a webhook's X-KPI-Delivery)
    on every attempt. ``status``: queued -> sending (claimed by ``claimed_by`` with ``claim_token``)
    -> sent, or back to queued with ``next_attempt_at`` after a failure, or failed when the attempts
    are spent or the failure is permanent. ``attachments`` holds references (``{"report_run_id": 12}``),
    read when the message is sent. ``user_id`` and ``kind`` say whose subscription it was sent under.
    """

    __tablename__ = "notification_messages"
    __table_args__ = (
        _one_of("status", MESSAGE_STATUSES),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts_range"),
        Index("ix_notification_messages_due", "status", "next_attempt_at"),
        Index("ix_notification_messages_channel_created", "channel", "created_at"),
        Index("ix_notification_messages_endpoint_created", "webhook_endpoint_id", "created_at"),
        Index("ix_notification_messages_user_kind", "user_id", "kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    channel: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(2000))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str | None] = mapped_column(String(60))
    event: Mapped[str | None] = mapped_column(String(60))
    webhook_endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(String(1000))
    replay_of_id: Mapped[int | None] = mapped_column(ForeignKey("notification_messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationSubscription(Timestamped, Base):
    """Whether a user receives one kind of message (``weekly_scorecard``, ``alerts``...), and on which channel.

    No row: the kind's default applies. The unsubscribe link turns ``enabled`` off (creating the row if
    need be) and sets ``unsubscribed_at``; ``options`` is free for what a kind needs (a schedule, a PDF).
    """

    __tablename__ = "notification_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(40), default="email")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


ALERT_KINDS = ("clearly_red", "changed", "callback_disputed")
ALERT_PERIODS = ("week", "month")
ALERT_DIRECTIONS = ("worse", "either")


class AlertRule(Timestamped, Base):
    """When to raise an alert about a KPI (kpi_core/notify/alert_rules.py), set by admins or declared by a plugin.

    ``kind``: ``clearly_red`` (the value's 95 % interval wholly in the red band for ``periods``
    consecutive complete periods), ``changed`` (the value moved by more than ``threshold``, in the
    KPI's own unit, against the period before; ``direction`` worse or either), or ``callback_disputed``
    (a callback of a technician's job was disputed). ``declared_key`` is the key of the plugin's
    declaration (``kpi_alert_rules``) the row was made from, once.
    """

    __tablename__ = "alert_rules"
    __table_args__ = (
        _one_of("kind", ALERT_KINDS),
        CheckConstraint("period IS NULL OR period IN ('week', 'month')", name="period_valid"),
        CheckConstraint("direction IS NULL OR direction IN ('worse', 'either')", name="direction_valid"),
        CheckConstraint("periods IS NULL OR (periods >= 1 AND periods <= 24)", name="periods_range"),
        CheckConstraint("threshold IS NULL OR threshold > 0", name="threshold_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    kpi: Mapped[str | None] = mapped_column(String(120))
    period: Mapped[str | None] = mapped_column(String(10))
    periods: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[str | None] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    declared_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Alert(Base):
    """One alert: a rule fired for a technician and a period (kpi_core/notify/alerts.py).

    Unique per (rule, technician, period_key), so an alert is never raised twice for the same period
    however often the rules are evaluated. ``period_key`` is the period's first day (``2026-03-01``)
    or, for a disputed callback, the dispute (``dispute:12``). ``details`` holds what the alert's
    words and its link to the jobs behind it are made from.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule_id", "technician_id", "period_key"),
        Index("ix_alerts_raised_at", "raised_at"),
        Index("ix_alerts_technician_raised", "technician_id", "raised_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    kpi: Mapped[str | None] = mapped_column(String(120))
    period: Mapped[str | None] = mapped_column(String(10))
    period_key: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    value: Mapped[float | None] = mapped_column(Float)
    previous_value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
