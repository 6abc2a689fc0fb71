"""Tasks' event log and their webhooks to clients; a task's webhook URL and own deadline.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text, nullable=False, server_default=""))
        batch.add_column(
            sa.Column("webhook_events", JSONType, nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("deadline_s", sa.Float, nullable=True))
    op.create_table(
        "task_events",
        sa.Column("task_id", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("task", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("task_id", "version", name="pk_task_events"),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("task_id", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("next_at", UTCDateTime, nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_state_next", "deliveries", ["state", "next_at"])
    op.create_index("ix_deliveries_task", "deliveries", ["task_id", "created_at"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("task_events")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("deadline_s")
        batch.drop_column("webhook_events")
        batch.drop_column("webhook_url")
