"""kpi_productivity: productivity_shifts' check constraint named once

Revision ID: productivity_0002
Revises: productivity_0001
Create Date: 2026-12-07 12:00:00

Before issue #22 the naming convention prefixed an already-prefixed check name,
so databases made then hold ``ck_productivity_shifts_ck_productivity_shifts_ends_after_start``.
This renames it to ``ck_productivity_shifts_ends_after_start`` (what 0001 makes now);
a database that already has that name is left alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "productivity_0002"
down_revision = "productivity_0001"
branch_labels = None
depends_on = None

TABLE = "productivity_shifts"
NAME = "ck_productivity_shifts_ends_after_start"
DOUBLED = "ck_productivity_shifts_ck_productivity_shifts_ends_after_start"


def _check_names() -> set[str]:
    return {check["name"] for check in sa.inspect(op.get_bind()).get_check_constraints(TABLE)}


def upgrade() -> None:
    if DOUBLED not in _check_names():
        return
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot rename a constraint: the table is copied with the check named anew.
        # op.f(): the name is final, the naming convention leaves it as it is.
        with op.batch_alter_table(
            TABLE,
            recreate="always",
            reflect_kwargs={"resolve_fks": False},
            table_args=(sa.CheckConstraint("ends_at > starts_at", name=op.f(NAME)),),
        ) as batch_op:
            batch_op.drop_constraint(DOUBLED, type_="check")
    else:
        op.execute(sa.text(f'ALTER TABLE {TABLE} RENAME CONSTRAINT "{DOUBLED}" TO "{NAME}"'))


def downgrade() -> None:
    # Nothing to undo: productivity_0001 itself now makes the single name.
    pass
