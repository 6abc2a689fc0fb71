"""The pooled provider key (its id, never the key) each task was sent with
(providers/accounts.py), and an index to count a key's unfinished tasks.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UNFINISHED = "provider_account IS NOT NULL AND status IN ('submitted', 'processing')"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("provider_account", sa.String(64), nullable=True))
    op.create_index(
        "ix_tasks_provider_account",
        "tasks",
        ["provider", "provider_account"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_provider_account", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("provider_account")
