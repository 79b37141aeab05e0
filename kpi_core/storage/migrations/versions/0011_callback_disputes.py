"""callback disputes

Disputes of a callback's attribution (issue #18): the reason (customer damage,
part failure, a new problem, other with a comment), who opened it and when,
and the decision (accepted or rejected) with who made it, when and why. At
most one open dispute per callback, enforced by a partial unique index (the
same on SQLite and PostgreSQL).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "callback_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_job_id", sa.Integer(), nullable=False),
        sa.Column("original_job_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('customer_damage', 'part_failure', 'new_problem', 'other')",
            name=op.f("ck_callback_disputes_reason_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'rejected')", name=op.f("ck_callback_disputes_status_valid")
        ),
        sa.CheckConstraint(
            "reason <> 'other' OR comment IS NOT NULL", name=op.f("ck_callback_disputes_other_has_comment")
        ),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)", name=op.f("ck_callback_disputes_decided_when_closed")
        ),
        sa.ForeignKeyConstraint(
            ["callback_job_id"],
            ["jobs.id"],
            name=op.f("fk_callback_disputes_callback_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_job_id"],
            ["jobs.id"],
            name=op.f("fk_callback_disputes_original_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["users.id"], name=op.f("fk_callback_disputes_opened_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_callback_disputes_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_disputes")),
    )
    with op.batch_alter_table("callback_disputes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_callback_disputes_one_open", ["callback_job_id"], unique=True, sqlite_where=OPEN, postgresql_where=OPEN
        )
        batch_op.create_index("ix_callback_disputes_callback", ["callback_job_id", "status"], unique=False)
        batch_op.create_index("ix_callback_disputes_original", ["original_job_id", "status"], unique=False)
        batch_op.create_index("ix_callback_disputes_status", ["status", "opened_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_disputes_status")
        batch_op.drop_index("ix_callback_disputes_original")
        batch_op.drop_index("ix_callback_disputes_callback")
        batch_op.drop_index("ix_callback_disputes_one_open")
    op.drop_table("callback_disputes")
