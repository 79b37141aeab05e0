"""login failures

Failed-login counts for the throttle when there is no Redis, so that every app
process (gunicorn workers, several instances) sees the same counts: counted in
memory, four workers let 17 wrong passwords through instead of 5 (issue #15).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_attempted_at"), ["attempted_at"], unique=False)
        batch_op.create_index("ix_login_failures_client_attempted", ["client", "attempted_at"], unique=False)
        batch_op.create_index("ix_login_failures_username_attempted", ["username", "attempted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_username_attempted")
        batch_op.drop_index("ix_login_failures_client_attempted")
        batch_op.drop_index(batch_op.f("ix_login_failures_attempted_at"))
    op.drop_table("login_failures")
