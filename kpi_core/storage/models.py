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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kpi_core.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
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
    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("metric_key", "team_id", name="uq_targets_metric_team"),
        CheckConstraint("weight >= 0", name="weight_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    metric_key: Mapped[str] = mapped_column(String(120))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    green: Mapped[float] = mapped_column(Float)
    amber: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float, default=1.0)


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


class KpiDataVersion(Base):
    """A counter per month of facts, bumped in the transaction that changes facts in that month.

    ``month`` is ``YYYY-MM`` (UTC for timestamps, the local date for DATE columns) or ``*`` for changes
    that touch every period (a technician moving team, a plugin setting). Cached KPI results are keyed
    by the counters of the months they cover, so a change makes exactly those results unreachable, in
    every process at once.
    """

    __tablename__ = "kpi_data_versions"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class SavedMapping(Timestamped, Base):
    """A column mapping saved by name for jobs imports (``mapping``: its JSON form, see
    kpi_core/imports/mapping_io.py), reused by the import page, the API and ``kpi import jobs --mapping``."""

    __tablename__ = "import_mappings"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
