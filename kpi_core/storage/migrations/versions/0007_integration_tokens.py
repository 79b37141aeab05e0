"""integration tokens

Named API tokens for scripts and integrations (issue #18): each acts as a user
of its own (a role, a manager's teams, no password) narrowed to a scope of
permissions, kept as a SHA-256 hash of its text; and the log of every request
made with one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("preset", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'manager')", name=op.f("ck_integration_tokens_role_valid")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_integration_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["users.id"],
            name=op.f("fk_integration_tokens_revoked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_integration_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_integration_tokens_prefix")),
        sa.UniqueConstraint("user_id", name=op.f("uq_integration_tokens_user_id")),
    )
    op.create_table(
        "integration_token_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("permission", sa.String(length=60), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["integration_tokens.id"],
            name=op.f("fk_integration_token_uses_token_id_integration_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_token_uses")),
    )
    with op.batch_alter_table("integration_token_uses", schema=None) as batch_op:
        batch_op.create_index("ix_integration_token_uses_token_at", ["token_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("integration_token_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_token_uses_token_at")
    op.drop_table("integration_token_uses")
    op.drop_table("integration_tokens")
