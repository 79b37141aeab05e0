"""job field values

The values of plugins' job fields (issue #18, kpi_job_fields): one row per job
and field, the value in the column of the field's type, deleted with the job.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:25:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ONE_VALUE = (
    "CASE WHEN boolean_value IS NULL THEN 0 ELSE 1 END + CASE WHEN integer_value IS NULL THEN 0 ELSE 1 END + "
    "CASE WHEN number_value IS NULL THEN 0 ELSE 1 END + CASE WHEN text_value IS NULL THEN 0 ELSE 1 END = 1"
)


def upgrade() -> None:
    op.create_table(
        "job_field_values",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("boolean_value", sa.Boolean(), nullable=True),
        sa.Column("integer_value", sa.BigInteger(), nullable=True),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("text_value", sa.Text(), nullable=True),
        sa.CheckConstraint(ONE_VALUE, name=op.f("ck_job_field_values_one_value")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_field_values_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "key", name=op.f("pk_job_field_values")),
    )
    with op.batch_alter_table("job_field_values", schema=None) as batch_op:
        batch_op.create_index("ix_job_field_values_key", ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_field_values", schema=None) as batch_op:
        batch_op.drop_index("ix_job_field_values_key")
    op.drop_table("job_field_values")
