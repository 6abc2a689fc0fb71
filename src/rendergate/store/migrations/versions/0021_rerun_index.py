"""A task's re-runs found by an index (GET /tasks?rerun_of=): the page lists them beside
the task they run again.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

RERUNS = sa.text("rerun_of IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tasks_rerun_of", "tasks", ["rerun_of"], sqlite_where=RERUNS, postgresql_where=RERUNS
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_rerun_of", "tasks")
