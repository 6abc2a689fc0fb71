"""Batches: several views of one model in one request (POST /batches), their members
(tasks with a batch_id, a view and a variation), and batch webhooks in the outbox.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType, UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("preset", sa.String(64), nullable=False),
        sa.Column("preset_version", sa.Integer, nullable=True),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("variations", sa.Integer, nullable=False),
        sa.Column("angles", JSONType, nullable=False),
        sa.Column("then", JSONType, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=False),
        sa.Column("link_base", sa.Text, nullable=False),
        sa.Column("canceled_at", UTCDateTime, nullable=True),
        sa.Column("ended", sa.String(16), nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_batches"),
    )
    op.create_index("ix_batches_owner_created", "batches", ["owner", "created_at", "batch_id"])
    op.create_index("ix_batches_ended", "batches", ["ended"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("batch_id", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("view", sa.Integer, nullable=True))
        batch.add_column(sa.Column("variation", sa.Integer, nullable=True))
        batch.create_index("ix_tasks_batch", ["batch_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("body", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("body")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_batch")
        batch.drop_column("variation")
        batch.drop_column("view")
        batch.drop_column("batch_id")
    op.drop_index("ix_batches_ended", "batches")
    op.drop_index("ix_batches_owner_created", "batches")
    op.drop_table("batches")
