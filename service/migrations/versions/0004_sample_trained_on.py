"""Surrogate samples say which chip their network was trained for, when not the one measured.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = sa.inspect(op.get_bind()).get_columns("surrogate_samples")
    if any(column["name"] == "trained_on" for column in columns):
        return  # created with the column by the surrogate store itself
    with op.batch_alter_table("surrogate_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trained_on", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("surrogate_samples", schema=None) as batch_op:
        batch_op.drop_column("trained_on")
