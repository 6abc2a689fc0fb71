"""Limits per key (null: the settings' default), its price list and account webhook; and
the account events told (once a key and budget period).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType, UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

AMOUNT = sa.BigInteger  # millionths (store/tables.py Micros)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_per_minute", sa.Integer, nullable=True))
        batch.add_column(sa.Column("max_in_flight", sa.Integer, nullable=True))
        batch.add_column(sa.Column("daily_tasks", sa.Integer, nullable=True))
        batch.add_column(sa.Column("monthly_budget", AMOUNT, nullable=True))
        batch.add_column(
            sa.Column("prices", JSONType, nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(sa.Column("account_webhook", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "account_alerts",
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("owner", "event", "period", name="pk_account_alerts"),
    )


def downgrade() -> None:
    op.drop_table("account_alerts")
    with op.batch_alter_table("api_keys") as batch:
        for column in (
            "account_webhook",
            "prices",
            "monthly_budget",
            "daily_tasks",
            "max_in_flight",
            "rate_per_minute",
        ):
            batch.drop_column(column)
