"""Initial schema: API keys, jobs, candidates, surrogate samples.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 15:21:42.043401
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["api_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("architecture_id", sa.String(length=64), nullable=False),
        sa.Column("architecture", sa.JSON(), nullable=False),
        sa.Column("predicted", sa.JSON(), nullable=False),
        sa.Column("cost", sa.JSON(), nullable=False),
        sa.Column("pareto", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.JSON(), nullable=True),
        sa.Column("accuracy_1d", sa.Float(), nullable=True),
        sa.Column("weights", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "architecture_id", name="uq_candidate"),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_candidates_architecture_id"), ["architecture_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_candidates_job_id"), ["job_id"], unique=False)

    # `xbarnas surrogate collect` may have created it already (SampleStore.open)
    if not sa.inspect(op.get_bind()).has_table("surrogate_samples"):
        op.create_table(
            "surrogate_samples",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("task", sa.String(length=200), nullable=False),
            sa.Column("hardware_hash", sa.String(length=64), nullable=False),
            sa.Column("hardware", sa.JSON(), nullable=False),
            sa.Column("arch_id", sa.String(length=64), nullable=False),
            sa.Column("arch", sa.JSON(), nullable=False),
            sa.Column("encoding", sa.JSON(), nullable=False),
            sa.Column("seed", sa.Integer(), nullable=False),
            sa.Column("budget_hash", sa.String(length=64), nullable=False),
            sa.Column("budget", sa.JSON(), nullable=False),
            sa.Column("times", sa.JSON(), nullable=False),
            sa.Column("accuracy_mean", sa.JSON(), nullable=False),
            sa.Column("accuracy_std", sa.JSON(), nullable=False),
            sa.Column("accuracy_1d", sa.Float(), nullable=False),
            sa.Column("spread_1d", sa.Float(), nullable=False),
            sa.Column("avm", sa.Float(), nullable=False),
            sa.Column("digital_accuracy", sa.Float(), nullable=False),
            sa.Column("cost", sa.JSON(), nullable=False),
            sa.Column("source", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "task",
                "hardware_hash",
                "arch_id",
                "seed",
                "budget_hash",
                name="uq_surrogate_sample",
            ),
        )
        with op.batch_alter_table("surrogate_samples", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_surrogate_samples_hardware_hash"), ["hardware_hash"], unique=False
            )
            batch_op.create_index(batch_op.f("ix_surrogate_samples_task"), ["task"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("surrogate_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surrogate_samples_task"))
        batch_op.drop_index(batch_op.f("ix_surrogate_samples_hardware_hash"))

    op.drop_table("surrogate_samples")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_job_id"))
        batch_op.drop_index(batch_op.f("ix_candidates_architecture_id"))

    op.drop_table("candidates")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_owner_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_created_at"))

    op.drop_table("jobs")
    op.drop_table("api_keys")
