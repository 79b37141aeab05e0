"""plugin permissions and job uploads

``permission_grants`` keeps an admin's choice of which roles have a permission
a plugin declares (``kpi_permissions``), where it differs from the declared
default; ``job_runs.upload`` describes the file uploaded for a run of a job
that takes one (kept beside the run, never in its params) (issue #22).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "permission_grants",
        sa.Column("permission", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'manager', 'technician')", name=op.f("ck_permission_grants_role_valid")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_permission_grants_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("permission", "role", name=op.f("pk_permission_grants")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("upload")
    op.drop_table("permission_grants")
