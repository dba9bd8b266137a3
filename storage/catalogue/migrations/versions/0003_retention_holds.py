"""retention policies, legal holds, disposition, erasure requests

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_policy", sa.String(length=64), nullable=True))
    op.create_table(
        "record_media",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "sha256", name=op.f("pk_record_media")),
    )
    op.create_index(op.f("ix_record_media_sha256"), "record_media", ["sha256"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("matter", sa.String(length=128), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("accounts", sa.JSON(), nullable=False),
        sa.Column("date_from", sa.DateTime(), nullable=True),
        sa.Column("date_to", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=255), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("applied_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
        sa.UniqueConstraint("matter", name=op.f("uq_holds_matter")),
    )
    op.create_table(
        "hold_records",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_hold_records_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("hold_id", "record_id", name=op.f("pk_hold_records")),
    )
    op.create_index(op.f("ix_hold_records_record_id"), "hold_records", ["record_id"])
    op.create_table(
        "hold_media",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_hold_media_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("hold_id", "sha256", name=op.f("pk_hold_media")),
    )
    op.create_index(op.f("ix_hold_media_sha256"), "hold_media", ["sha256"])
    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("disposed_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("media", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispositions")),
        sa.UniqueConstraint("report_id", name=op.f("uq_dispositions_report_id")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_dispositions_leaf_index")),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )


def downgrade() -> None:
    op.drop_table("erasure_requests")
    op.drop_table("dispositions")
    op.drop_index(op.f("ix_hold_media_sha256"), table_name="hold_media")
    op.drop_table("hold_media")
    op.drop_index(op.f("ix_hold_records_record_id"), table_name="hold_records")
    op.drop_table("hold_records")
    op.drop_table("holds")
    op.drop_index(op.f("ix_record_media_sha256"), table_name="record_media")
    op.drop_table("record_media")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("retention_policy")
