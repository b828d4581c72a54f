"""Initial catalog: tenants, snapshots, object version intervals, delta tokens.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Lowercased search keys compare by code point on PostgreSQL, so prefix ranges can use the index.
_SEARCH_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("domain", sa.String(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("snapshot_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("parent_id", sa.String(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("bytes_added", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tool_version", sa.String(), nullable=False),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "snapshot_id"),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_snapshots_tenant_seq"),
    )
    op.create_index("ix_snapshots_tenant_created", "snapshots", ["tenant_id", "created_at"])
    op.create_table(
        "object_versions",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("blob_id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("principal_name", sa.String(), nullable=True),
        sa.Column("display_key", _SEARCH_KEY, nullable=True),
        sa.Column("principal_key", _SEARCH_KEY, nullable=True),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "object_id", "object_type", "first_seq"),
    )
    op.create_index(
        "uq_object_versions_current",
        "object_versions",
        ["tenant_id", "object_id", "object_type"],
        unique=True,
        sqlite_where=sa.text("last_seq IS NULL"),
        postgresql_where=sa.text("last_seq IS NULL"),
    )
    op.create_index("ix_object_versions_principal", "object_versions", ["tenant_id", "principal_key"])
    op.create_index("ix_object_versions_display", "object_versions", ["tenant_id", "display_key"])
    op.create_table(
        "delta_tokens",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "object_type"),
    )


def downgrade() -> None:
    op.drop_table("delta_tokens")
    op.drop_table("object_versions")
    op.drop_table("snapshots")
    op.drop_table("tenants")
