"""Who holds an Idempotency-Key's unfinished claim, and until when: a claim whose holder
died is taken over once its lease lapses (at once on SQLite, whose one process is this).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("holder", sa.String(32), nullable=True))
        batch.add_column(sa.Column("process", sa.String(32), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("process")
        batch.drop_column("holder")
