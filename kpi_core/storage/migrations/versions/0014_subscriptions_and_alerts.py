"""subscriptions and alerts

Users get an e-mail address of their own (``users.email``: managers and admins
receive digests and alerts there; a technician's falls back to their technician
record's). ``alert_rules`` holds when to raise an alert about a KPI (set by
admins, or made once from a plugin's declaration, ``declared_key``), and
``alerts`` each alert raised, unique per (rule, technician, period) so that it
is never raised twice (issue #20, points 4 and 5).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, kpi_core.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("kpi", sa.String(length=120), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("periods", sa.Integer(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("declared_key", sa.String(length=120), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "kind IN ('clearly_red', 'changed', 'callback_disputed')", name=op.f("ck_alert_rules_kind_valid")
        ),
        sa.CheckConstraint("period IS NULL OR period IN ('week', 'month')", name=op.f("ck_alert_rules_period_valid")),
        sa.CheckConstraint(
            "direction IS NULL OR direction IN ('worse', 'either')", name=op.f("ck_alert_rules_direction_valid")
        ),
        sa.CheckConstraint(
            "periods IS NULL OR (periods >= 1 AND periods <= 24)", name=op.f("ck_alert_rules_periods_range")
        ),
        sa.CheckConstraint("threshold IS NULL OR threshold > 0", name=op.f("ck_alert_rules_threshold_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_alert_rules_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("declared_key", name=op.f("uq_alert_rules_declared_key")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("kpi", sa.String(length=120), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("previous_value", sa.Float(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        _timestamp("raised_at"),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rules.id"], name=op.f("fk_alerts_rule_id_alert_rules"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["technicians.id"], name=op.f("fk_alerts_technician_id_technicians"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("rule_id", "technician_id", "period_key", name=op.f("uq_alerts_rule_id")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_raised_at", ["raised_at"], unique=False)
        batch_op.create_index("ix_alerts_technician_raised", ["technician_id", "raised_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_technician_raised")
        batch_op.drop_index("ix_alerts_raised_at")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email")
