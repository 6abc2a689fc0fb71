"""Money on tasks: the charge at create and its refund, what the task cost upstream; and
the usage rollup (a row per key, day, app, preset and currency) that /usage and budgets read.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

AMOUNT = sa.BigInteger  # millionths (store/tables.py Micros): exact on SQLite too


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("charge_amount", AMOUNT, nullable=True))
        batch.add_column(sa.Column("charge_currency", sa.String(3), nullable=True))
        batch.add_column(
            sa.Column("refunded", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("spent_amount", AMOUNT, nullable=True))
        batch.add_column(sa.Column("spent_currency", sa.String(3), nullable=True))
        batch.add_column(
            sa.Column("spent_estimated", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "usage_daily",
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("preset", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("canceled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unknown_cost", sa.Integer, nullable=False, server_default="0"),
        sa.Column("spent", AMOUNT, nullable=False, server_default="0"),
        sa.Column("charged", AMOUNT, nullable=False, server_default="0"),
        sa.Column("refunded", AMOUNT, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("owner", "day", "app", "preset", "currency", name="pk_usage_daily"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    with op.batch_alter_table("tasks") as batch:
        for column in (
            "spent_estimated",
            "spent_currency",
            "spent_amount",
            "refunded",
            "charge_currency",
            "charge_amount",
        ):
            batch.drop_column(column)
