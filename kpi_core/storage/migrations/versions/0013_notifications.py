"""notifications

The outbox of notifications (issue #20): one row per message to send on a
channel (e-mail, webhook, ...), with its idempotency key (unique), delivery id,
status (queued, sending, sent, failed), attempts and last error; the webhook
endpoints admins register; and users' subscriptions to kinds of messages, whose
``enabled`` flag the unsubscribe link turns off.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, kpi_core.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("format IN ('kpi', 'slack')", name=op.f("ck_webhook_endpoints_format_valid")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_webhook_endpoints_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "notification_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=2000), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=60), nullable=True),
        sa.Column("event", sa.String(length=60), nullable=True),
        sa.Column("webhook_endpoint_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _timestamp("next_attempt_at"),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        _timestamp("claimed_at", nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt", sa.String(length=1000), nullable=True),
        sa.Column("replay_of_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("sent_at", nullable=True),
        _timestamp("failed_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed')", name=op.f("ck_notification_messages_status_valid")
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND max_attempts >= 1", name=op.f("ck_notification_messages_attempts_range")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_messages_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["webhook_endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_notification_messages_webhook_endpoint_id_webhook_endpoints"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["replay_of_id"],
            ["notification_messages.id"],
            name=op.f("fk_notification_messages_replay_of_id_notification_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_messages_idempotency_key")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_notification_messages_delivery_id")),
    )
    with op.batch_alter_table("notification_messages", schema=None) as batch_op:
        batch_op.create_index("ix_notification_messages_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_notification_messages_channel_created", ["channel", "created_at"], unique=False)
        batch_op.create_index(
            "ix_notification_messages_endpoint_created", ["webhook_endpoint_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_notification_messages_user_kind", ["user_id", "kind"], unique=False)
    op.create_table(
        "notification_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        _timestamp("unsubscribed_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_subscriptions")),
        sa.UniqueConstraint("user_id", "kind", name=op.f("uq_notification_subscriptions_user_id")),
    )


def downgrade() -> None:
    op.drop_table("notification_subscriptions")
    with op.batch_alter_table("notification_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_messages_user_kind")
        batch_op.drop_index("ix_notification_messages_endpoint_created")
        batch_op.drop_index("ix_notification_messages_channel_created")
        batch_op.drop_index("ix_notification_messages_due")
    op.drop_table("notification_messages")
    op.drop_table("webhook_endpoints")
