"""RESTORE_LOCKS: one row per object an executing request touches, so two overlapping restores never run at
once. Taken in the transaction that moves a request to executing, released with its final state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.catalog.models import RESTORE_LOCKS

_CHUNK = 500  # keys per IN (...) query


def take_locks(
    conn: Connection, tenant_id: str, request_id: str, keys: Sequence[str], now: datetime
) -> tuple[str, str] | None:
    """Insert the locks (ignoring ones already held); the first (request, key) held by another request."""
    table = RESTORE_LOCKS
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        conn.execute(
            insert_ignore(conn, table),
            [
                {"tenant_id": tenant_id, "object_key": k, "request_id": request_id, "locked_at": now}
                for k in chunk
            ],
        )
        held = conn.execute(
            sa.select(table.c.request_id, table.c.object_key)
            .where(
                table.c.tenant_id == tenant_id,
                table.c.object_key.in_(chunk),
                table.c.request_id != request_id,
            )
            .order_by(table.c.object_key)
            .limit(1)
        ).first()
        if held is not None:
            return str(held.request_id), str(held.object_key)
    return None


def release_locks(conn: Connection, request_id: str) -> None:
    conn.execute(RESTORE_LOCKS.delete().where(RESTORE_LOCKS.c.request_id == request_id))


def insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    """An INSERT that skips rows whose key exists (both dialects spell it ON CONFLICT DO NOTHING)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
