"""A preset's label: its name on the page ("Dusk, photoreal"); presets stored before it
have none, so the page shows their names.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("presets") as batch:
        batch.add_column(sa.Column("label", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("presets") as batch:
        batch.drop_column("label")
