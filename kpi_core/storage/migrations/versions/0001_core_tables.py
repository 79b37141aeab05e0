"""core tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 22:33:50.100665
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('external_ref', name=op.f('uq_customers_external_ref'))
    )
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric_key', sa.String(length=120), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('green', sa.Float(), nullable=False),
    sa.Column('amber', sa.Float(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_targets_weight_positive')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_targets_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_targets')),
    sa.UniqueConstraint('metric_key', 'team_id', name='uq_targets_metric_team')
    )
    op.create_table('technicians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('hired_on', sa.Date(), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_technicians_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_technicians')),
    sa.UniqueConstraint('external_ref', name=op.f('uq_technicians_external_ref'))
    )
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_technicians_team_id'), ['team_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('scheduled_start', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('scheduled_end', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('estimated_minutes', sa.Integer(), nullable=True),
    sa.Column('revenue', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('callback_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'completed', 'cancelled')", name=op.f('ck_jobs_status_valid')),
    sa.CheckConstraint('estimated_minutes IS NULL OR estimated_minutes >= 0', name=op.f('ck_jobs_estimated_minutes_positive')),
    sa.ForeignKeyConstraint(['callback_of_id'], ['jobs.id'], name=op.f('fk_jobs_callback_of_id_jobs')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_jobs_customer_id_customers')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_jobs_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('external_ref', name=op.f('uq_jobs_external_ref'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_callback_of_id'), ['callback_of_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_category'), ['category'], unique=False)
        batch_op.create_index('ix_jobs_completed_at', ['completed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_jobs_scheduled_start', ['scheduled_start'], unique=False)
        batch_op.create_index('ix_jobs_technician_completed', ['technician_id', 'completed_at'], unique=False)
        batch_op.create_index('ix_jobs_technician_scheduled', ['technician_id', 'scheduled_start'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tokens_valid_after', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'manager', 'technician')", name=op.f('ck_users_role_valid')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_users_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('technician_id', name=op.f('uq_users_technician_id')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=150), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=60), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_user_id'), ['user_id'], unique=False)

    op.create_table('evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_id', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('form_version', sa.String(length=64), nullable=False),
    sa.Column('form_snapshot', sa.JSON(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('technician_comment', sa.Text(), nullable=True),
    sa.Column('submitted_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'acknowledged')", name=op.f('ck_evaluations_status_valid')),
    sa.CheckConstraint('score IS NULL OR score BETWEEN 0 AND 100', name=op.f('ck_evaluations_score_range')),
    sa.ForeignKeyConstraint(['evaluator_id'], ['users.id'], name=op.f('fk_evaluations_evaluator_id_users')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['evaluations.id'], name=op.f('fk_evaluations_supersedes_id_evaluations')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_evaluations_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations'))
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index('ix_evaluations_technician_period', ['technician_id', 'period_end'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=False),
    sa.Column('nps', sa.SmallInteger(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('received_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('nps IS NULL OR nps BETWEEN 0 AND 10', name=op.f('ck_feedback_nps_range')),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_feedback_rating_range')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_feedback_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback')),
    sa.UniqueConstraint('job_id', name=op.f('uq_feedback_job_id'))
    )
    op.create_table('report_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_path', sa.String(length=1024), nullable=True),
    sa.Column('media_type', sa.String(length=120), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'finished', 'failed')", name=op.f('ck_report_runs_status_valid')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_report_runs_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_runs'))
    )
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_runs_created_at'), ['created_at'], unique=False)

    op.create_table('schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('job_key', sa.String(length=120), nullable=True),
    sa.Column('report_spec', sa.JSON(), nullable=True),
    sa.Column('cron', sa.String(length=120), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('missed', sa.String(length=20), nullable=False),
    sa.Column('last_fired_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('job', 'report')", name=op.f('ck_schedules_kind_valid')),
    sa.CheckConstraint("missed IN ('run_once', 'skip')", name=op.f('ck_schedules_missed_valid')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_schedules_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('name', name=op.f('uq_schedules_name'))
    )
    op.create_table('team_managers',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_managers_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_managers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'user_id', name=op.f('pk_team_managers'))
    )
    op.create_table('token_revocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('revoked_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_token_revocations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_token_revocations')),
    sa.UniqueConstraint('jti', name=op.f('uq_token_revocations_jti'))
    )
    with op.batch_alter_table('token_revocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_token_revocations_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_token_revocations_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('token_revocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_token_revocations_user_id'))
        batch_op.drop_index(batch_op.f('ix_token_revocations_family_id'))

    op.drop_table('token_revocations')
    op.drop_table('team_managers')
    op.drop_table('schedules')
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_runs_created_at'))

    op.drop_table('report_runs')
    op.drop_table('feedback')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluations_technician_period')

    op.drop_table('evaluations')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_user_id'))
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('users')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_technician_scheduled')
        batch_op.drop_index('ix_jobs_technician_completed')
        batch_op.drop_index('ix_jobs_scheduled_start')
        batch_op.drop_index(batch_op.f('ix_jobs_customer_id'))
        batch_op.drop_index('ix_jobs_completed_at')
        batch_op.drop_index(batch_op.f('ix_jobs_category'))
        batch_op.drop_index(batch_op.f('ix_jobs_callback_of_id'))

    op.drop_table('jobs')
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_technicians_team_id'))

    op.drop_table('technicians')
    op.drop_table('targets')
    op.drop_table('teams')
    op.drop_table('customers')
