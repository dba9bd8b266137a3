"""capture daemon: schedules, account health, capture leases, job store

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_schedules",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("capture_interval", sa.Float(), nullable=True),
        sa.Column("capture_cron", sa.String(length=120), nullable=True),
        sa.Column("capture_jitter", sa.Float(), nullable=True),
        sa.Column("reconcile_interval", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_schedules_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_schedules")),
    )
    op.create_table(
        "account_health",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", sa.DateTime(), nullable=True),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("last_job", sa.String(length=16), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_started_at", sa.DateTime(), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_holder", sa.String(length=255), nullable=True),
        sa.Column("missed_windows", sa.Integer(), nullable=False),
        sa.Column("first_scheduled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_health_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_health")),
    )
    op.create_table(
        "capture_leases",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_capture_leases_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_capture_leases")),
    )
    op.create_table(
        "daemon_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daemon_jobs")),
    )
    op.create_index(
        op.f("ix_daemon_jobs_next_run_time"), "daemon_jobs", ["next_run_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_daemon_jobs_next_run_time"), table_name="daemon_jobs")
    op.drop_table("daemon_jobs")
    op.drop_table("capture_leases")
    op.drop_table("account_health")
    op.drop_table("account_schedules")
