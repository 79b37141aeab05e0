"""kpi_productivity: productivity_shifts

Revision ID: productivity_0001
Revises:
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "productivity_0001"
down_revision = None
# The plugin's own branch: it starts here and needs the core's technicians table (revision 0001).
branch_labels = ("kpi_productivity",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "productivity_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technicians.id"],
            name="fk_productivity_shifts_technician_id_technicians",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_productivity_shifts"),
        sa.UniqueConstraint("technician_id", "starts_at", name="uq_productivity_shifts_technician_start"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_productivity_shifts_ends_after_start"),
    )
    op.create_index("ix_productivity_shifts_technician_ends", "productivity_shifts", ["technician_id", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_productivity_shifts_technician_ends", table_name="productivity_shifts")
    op.drop_table("productivity_shifts")
