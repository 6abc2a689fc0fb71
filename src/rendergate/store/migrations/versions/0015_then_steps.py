"""The steps a task runs on its result once it completes (`then`), and the indexes that
find a task's children and the chained tasks whose next step the reconciler checks.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CHAINED = sa.text("then_steps IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("then_steps", JSONType, nullable=True))
    op.create_index("ix_tasks_parent_task_id", "tasks", ["parent_task_id"])
    op.create_index(
        "ix_tasks_chained_finished",
        "tasks",
        ["finished_at"],
        sqlite_where=CHAINED,
        postgresql_where=CHAINED,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_chained_finished", "tasks")
    op.drop_index("ix_tasks_parent_task_id", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("then_steps")
