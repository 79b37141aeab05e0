"""reports files, dashboards, plugin settings, kpi data versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:29:51.097280
"""

import sqlalchemy as sa
from alembic import op

import kpi_core.storage.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kpi_data_versions',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_kpi_data_versions'))
    )
    op.create_table('dashboard_layouts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('widgets', sa.JSON(), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dashboard_layouts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_dashboard_layouts'))
    )
    op.create_table('plugin_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plugin', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', kpi_core.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_plugin_settings_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plugin_settings')),
    sa.UniqueConstraint('plugin', 'name', name=op.f('uq_plugin_settings_plugin'))
    )
    op.create_table('report_files',
    sa.Column('report_run_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['report_run_id'], ['report_runs.id'], name=op.f('fk_report_files_report_run_id_report_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_run_id', name=op.f('pk_report_files'))
    )
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_run_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_report_runs_job_run_id'), ['job_run_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_report_runs_job_run_id_job_runs'), 'job_runs', ['job_run_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_report_runs_job_run_id_job_runs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_report_runs_job_run_id'))
        batch_op.drop_column('job_run_id')

    op.drop_table('report_files')
    op.drop_table('plugin_settings')
    op.drop_table('dashboard_layouts')
    op.drop_table('kpi_data_versions')
