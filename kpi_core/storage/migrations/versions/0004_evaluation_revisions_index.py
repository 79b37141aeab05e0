"""index evaluations.supersedes_id

The evaluation score KPI keeps only the latest revision of each evaluation
(NOT EXISTS a newer one superseding it); without this index SQLite scanned
the whole table once per evaluation (bench/README.md: 88 s -> 5 s at 1M jobs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:00:00.000000
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluations_supersedes_id"), ["supersedes_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_supersedes_id"))
