"""Each task's seed, and the task a re-run runs again.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("seed", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("rerun_of", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("rerun_of")
        batch.drop_column("seed")
