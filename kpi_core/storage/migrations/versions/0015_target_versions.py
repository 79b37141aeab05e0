"""target versions, closed periods and their KPI snapshots

Targets become versions (issue #21, point 1): a version is never rewritten,
each is ``valid_from`` a local date (NULL: from the beginning, which every
target stored before this revision becomes), a removal is a version with
``removed`` set, and a revert names the version it copied (``reverts_id``).
``period_closes`` records each close of a month and ``kpi_snapshots`` the
KPI x group (technician, team, company) values it took, a row each, while
``period_close_groups`` holds them again as one JSON list per KPI and group,
which answers read (point 3).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-14 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_constraint("uq_targets_metric_team", type_="unique")
        batch_op.drop_constraint(op.f("ck_targets_weight_positive"), type_="check")
        batch_op.alter_column("green", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("amber", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("weight", existing_type=sa.Float(), nullable=True)
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("reverts_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.create_check_constraint("weight_positive", "weight IS NULL OR weight >= 0")
        batch_op.create_check_constraint(
            "values_unless_removed", "removed OR (green IS NOT NULL AND amber IS NOT NULL AND weight IS NOT NULL)"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_targets_reverts_id_targets"), "targets", ["reverts_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_targets_created_by_id_users"), "users", ["created_by_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_targets_metric_team_from", ["metric_key", "team_id", "valid_from"], unique=False)
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.alter_column("removed", existing_type=sa.Boolean(), server_default=None)
    op.create_table(
        "period_closes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("closed_at", kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("data_versions", sa.JSON(), nullable=False),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["users.id"], name=op.f("fk_period_closes_closed_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_closes")),
    )
    with op.batch_alter_table("period_closes", schema=None) as batch_op:
        batch_op.create_index("ix_period_closes_month", ["month"], unique=False)
    op.create_table(
        "period_close_groups",
        sa.Column("close_id", sa.Integer(), nullable=False),
        sa.Column("group_by", sa.String(length=20), nullable=False),
        sa.Column("kpi", sa.String(length=120), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["close_id"],
            ["period_closes.id"],
            name=op.f("fk_period_close_groups_close_id_period_closes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("close_id", "group_by", "kpi", name=op.f("pk_period_close_groups")),
    )
    op.create_table(
        "kpi_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("close_id", sa.Integer(), nullable=False),
        sa.Column("kpi", sa.String(length=120), nullable=False),
        sa.Column("group_by", sa.String(length=20), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("group_label", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=False),
        sa.Column("denominator", sa.Float(), nullable=False),
        sa.Column("pending", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("certain", sa.Boolean(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["close_id"], ["period_closes.id"], name=op.f("fk_kpi_snapshots_close_id_period_closes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_snapshots")),
    )
    with op.batch_alter_table("kpi_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_kpi_snapshots_close_group", ["close_id", "group_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kpi_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_kpi_snapshots_close_group")
    op.drop_table("kpi_snapshots")
    op.drop_table("period_close_groups")
    with op.batch_alter_table("period_closes", schema=None) as batch_op:
        batch_op.drop_index("ix_period_closes_month")
    op.drop_table("period_closes")
    # One row per (metric, team) again: the version in force today, as a plain target (none where that
    # version removed it). Later and superseded versions are dropped.
    same = (
        "later.metric_key = targets.metric_key AND (later.team_id = targets.team_id "
        "OR (later.team_id IS NULL AND targets.team_id IS NULL))"
    )
    newer = (
        "(later.valid_from IS NOT NULL AND targets.valid_from IS NULL) OR later.valid_from > targets.valid_from "
        "OR ((later.valid_from = targets.valid_from OR (later.valid_from IS NULL AND targets.valid_from IS NULL)) "
        "AND later.id > targets.id)"
    )
    op.execute(sa.text("DELETE FROM targets WHERE valid_from > CURRENT_DATE"))
    op.execute(sa.text(f"DELETE FROM targets WHERE EXISTS (SELECT 1 FROM targets AS later WHERE {same} AND ({newer}))"))
    op.execute(sa.text("DELETE FROM targets WHERE removed"))
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_index("ix_targets_metric_team_from")
        batch_op.drop_constraint(op.f("fk_targets_created_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_targets_reverts_id_targets"), type_="foreignkey")
        batch_op.drop_constraint(op.f("ck_targets_values_unless_removed"), type_="check")
        batch_op.drop_constraint(op.f("ck_targets_weight_positive"), type_="check")
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("reverts_id")
        batch_op.drop_column("removed")
        batch_op.drop_column("valid_from")
        batch_op.alter_column("weight", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("amber", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("green", existing_type=sa.Float(), nullable=False)
        batch_op.create_check_constraint("weight_positive", "weight >= 0")
        batch_op.create_unique_constraint("uq_targets_metric_team", ["metric_key", "team_id"])
