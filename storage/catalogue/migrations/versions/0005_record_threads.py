"""records.thread_key: each record's thread, for exports that show whole threads

Revision ID: 0005
Revises: 0004

Existing rows stay NULL here (the key is read from the stored record, which a
migration cannot reach); `archiver db upgrade` fills them after upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("thread_key", sa.String(length=255), nullable=True))
    op.create_index("ix_records_thread", "records", ["platform", "account", "thread_key"])


def downgrade() -> None:
    op.drop_index("ix_records_thread", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("thread_key")
