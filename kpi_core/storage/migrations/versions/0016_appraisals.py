"""appraisals that use the numbers: KPI snapshots, self-appraisals, final scores

``self_appraisals`` holds a technician's answers about themselves for a period
(one per technician and period), on the questions asked of technicians.
Evaluations keep the KPI values the evaluator saw (``kpi_snapshot``), the
self-appraisal beside them (``self_appraisal_id``, ``self_score``) and the final
score with the formula and weight it was made with, so a later change of the
company's setting never rewrites an evaluation (issue #21, points 4 and 5).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-14 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, kpi_core.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "self_appraisals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("form_version", sa.String(length=64), nullable=False),
        sa.Column("form_snapshot", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        _timestamp("submitted_at", nullable=True),
        sa.Column("kpi_snapshot", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("status IN ('draft', 'submitted')", name=op.f("ck_self_appraisals_status_valid")),
        sa.CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name=op.f("ck_self_appraisals_score_range")),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technicians.id"],
            name=op.f("fk_self_appraisals_technician_id_technicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_self_appraisals_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_appraisals")),
        sa.UniqueConstraint(
            "technician_id", "period_start", "period_end", name=op.f("uq_self_appraisals_technician_id")
        ),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kpi_snapshot", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("self_appraisal_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("self_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("final_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("final_formula", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("self_weight", sa.Float(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_evaluations_self_appraisal_id_self_appraisals"),
            "self_appraisals",
            ["self_appraisal_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_evaluations_final_score_range"), "final_score IS NULL OR final_score BETWEEN 0 AND 100"
        )
    # Evaluations made before this revision: their final score is the evaluator's own.
    op.execute("UPDATE evaluations SET final_score = score, final_formula = 'manager_only'")


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_evaluations_final_score_range"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_evaluations_self_appraisal_id_self_appraisals"), type_="foreignkey")
        batch_op.drop_column("self_weight")
        batch_op.drop_column("final_formula")
        batch_op.drop_column("final_score")
        batch_op.drop_column("self_score")
        batch_op.drop_column("self_appraisal_id")
        batch_op.drop_column("kpi_snapshot")
    op.drop_table("self_appraisals")
