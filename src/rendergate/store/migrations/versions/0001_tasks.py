"""The tasks table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("angle", sa.String(64), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("queue_position", sa.Integer, nullable=True),
        sa.Column("provider_job", JSONType, nullable=True),
        sa.Column("outputs", JSONType, nullable=False),
        sa.Column("cost", JSONType, nullable=True),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("error_kind", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("task_id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_created", "tasks", ["created_at", "task_id"])
    op.create_index("ix_tasks_status_created", "tasks", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_created", table_name="tasks")
    op.drop_index("ix_tasks_created", table_name="tasks")
    op.drop_table("tasks")
