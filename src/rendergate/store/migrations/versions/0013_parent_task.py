"""The finished task whose result a task took as its image (image_task_id), and which output.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("parent_task_id", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("parent_task_index", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("parent_task_index")
        batch.drop_column("parent_task_id")
