"""Operations: alert destinations, baselines, announced alerts and scheduled runs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("destination_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Boolean(), nullable=False),
        sa.Column("min_severity", sa.String(), nullable=False),
        sa.Column("summary_time", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("destination_id"),
        sa.UniqueConstraint("platform", "channel", "tenant_id", name="uq_destinations_target"),
    )
    op.create_table(
        "baselines",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("snapshot_id", sa.String(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(), nullable=True),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "announcements",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "fingerprint"),
    )
    op.create_table(
        "runs",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("snapshot_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "job", "target", "slot"),
    )
    op.create_index("ix_runs_tenant_started", "runs", ["tenant_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_tenant_started", table_name="runs")
    op.drop_table("runs")
    op.drop_table("announcements")
    op.drop_table("baselines")
    op.drop_table("destinations")
