"""Rescore jobs: a job may be the re-scoring of another job's candidates on another chip.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 20:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("jobs")}
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        if "parent_id" not in columns:
            batch_op.add_column(sa.Column("parent_id", sa.String(length=32), nullable=True))
            batch_op.create_index(batch_op.f("ix_jobs_parent_id"), ["parent_id"], unique=False)
            batch_op.create_foreign_key("fk_jobs_parent_id", "jobs", ["parent_id"], ["id"])
        if "rescore" not in columns:
            batch_op.add_column(sa.Column("rescore", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("rescore")
        batch_op.drop_constraint("fk_jobs_parent_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_jobs_parent_id"))
        batch_op.drop_column("parent_id")
