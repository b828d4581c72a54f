"""Mutes: alerts someone silenced in one destination for a while ("Mute 24h").

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mutes",
        sa.Column("destination_id", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("muted_by", sa.String(), nullable=True),
        sa.Column("muted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["destination_id"], ["destinations.destination_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("destination_id", "fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("mutes")
