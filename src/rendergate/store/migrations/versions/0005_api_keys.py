"""API keys, and which key each task belongs to.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("webhook_secret", sa.String(100), nullable=False),
        sa.Column("previous_webhook_secret", sa.String(100), nullable=False, server_default=""),
        sa.Column("previous_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("owner", sa.String(32), nullable=False, server_default=""))
        batch.create_index("ix_tasks_owner_created", ["owner", "created_at", "task_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_owner_created")
        batch.drop_column("owner")
    op.drop_table("api_keys")
