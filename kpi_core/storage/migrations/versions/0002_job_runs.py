"""job runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_key', sa.String(length=120), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('backend', sa.String(length=20), nullable=False),
    sa.Column('dispatch_id', sa.String(length=64), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=150), nullable=True),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'finished', 'failed')", name=op.f('ck_job_runs_status_valid')),
    sa.CheckConstraint('progress BETWEEN 0 AND 100', name=op.f('ck_job_runs_progress_range')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_job_runs_requested_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_job_runs_schedule_id_schedules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs'))
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_runs_job_key'), ['job_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_runs_schedule_id'), ['schedule_id'], unique=False)
        batch_op.create_index('ix_job_runs_status_created', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_status_created')
        batch_op.drop_index(batch_op.f('ix_job_runs_schedule_id'))
        batch_op.drop_index(batch_op.f('ix_job_runs_job_key'))

    op.drop_table('job_runs')
