"""persisted KPI sums

Per-month pooled KPI sums kept in the database (issue #19): one row per sums
cache key with the compressed value, its checksum and when it was made and
last read, so a restart, another app instance or a machine without Redis
reads them instead of scanning the facts. Data versions may also be kept per
UTC day (``YYYY-MM-DD``) for the first and last day of a month, so the key
column of ``kpi_data_versions`` grows from 7 to 10 characters.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_persisted_sums",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("created_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kpi_persisted_sums")),
    )
    with op.batch_alter_table("kpi_persisted_sums", schema=None) as batch_op:
        batch_op.create_index("ix_kpi_persisted_sums_read_at", ["read_at"], unique=False)
    with op.batch_alter_table("kpi_data_versions", schema=None) as batch_op:
        batch_op.alter_column("month", existing_type=sa.String(length=7), type_=sa.String(length=10))


def downgrade() -> None:
    # Day counters do not fit the old column; without them a month's counter still covers its days.
    op.execute(sa.text("DELETE FROM kpi_data_versions WHERE length(month) > 7"))
    with op.batch_alter_table("kpi_data_versions", schema=None) as batch_op:
        batch_op.alter_column("month", existing_type=sa.String(length=10), type_=sa.String(length=7))
    with op.batch_alter_table("kpi_persisted_sums", schema=None) as batch_op:
        batch_op.drop_index("ix_kpi_persisted_sums_read_at")
    op.drop_table("kpi_persisted_sums")
