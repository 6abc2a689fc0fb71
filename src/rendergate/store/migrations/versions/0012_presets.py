"""Presets: a key's saved looks, every version kept; a task names the one it was made with.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rendergate.store.tables import JSONType, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presets",
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("reference", JSONType, nullable=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("owner", "name", "version", name="pk_presets"),
    )

    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("preset", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("preset_version", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("preset_version")
        batch.drop_column("preset")
    op.drop_table("presets")
