"""job assignments (crews)

A job's crew (issue #18): one row per technician on the job, with a role
(lead, helper) and a share of the credit. Every existing job's technician
becomes its sole lead with the whole share, so no job loses its technician;
``jobs.technician_id`` stays as the lead's id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_assignments",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.CheckConstraint("role IN ('lead', 'helper')", name=op.f("ck_job_assignments_role_valid")),
        sa.CheckConstraint("share > 0 AND share <= 1", name=op.f("ck_job_assignments_share_range")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_assignments_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["technicians.id"], name=op.f("fk_job_assignments_technician_id_technicians")
        ),
        sa.PrimaryKeyConstraint("job_id", "technician_id", name=op.f("pk_job_assignments")),
    )
    with op.batch_alter_table("job_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_job_assignments_technician", ["technician_id", "job_id"], unique=False)
    jobs = sa.table("jobs", sa.column("id", sa.Integer()), sa.column("technician_id", sa.Integer()))
    assignments = sa.table(
        "job_assignments",
        sa.column("job_id", sa.Integer()),
        sa.column("technician_id", sa.Integer()),
        sa.column("role", sa.String()),
        sa.column("share", sa.Float()),
    )
    # One statement, in the database: a million jobs move without a round trip each.
    lead = sa.select(
        jobs.c.id, jobs.c.technician_id, sa.literal("lead", sa.String()), sa.literal(1.0, sa.Float())
    ).where(jobs.c.technician_id.is_not(None))
    op.execute(assignments.insert().from_select(["job_id", "technician_id", "role", "share"], lead))


def downgrade() -> None:
    # The lead is still on jobs.technician_id: dropping the crews loses only the helpers and shares.
    with op.batch_alter_table("job_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_job_assignments_technician")
    op.drop_table("job_assignments")
