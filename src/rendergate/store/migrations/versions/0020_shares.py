"""Share links: a read-only, expiring, revocable link to one batch (domain/shares.py), kept
as the SHA-256 of its token.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("share_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.BigInteger, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kept_only", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("share_id", name="pk_shares"),
        sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
    )
    op.create_index("ix_shares_owner_batch", "shares", ["owner", "batch_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_shares_owner_batch", table_name="shares")
    op.drop_table("shares")
