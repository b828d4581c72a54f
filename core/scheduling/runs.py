"""Scheduled runs in the catalog's ``runs`` table: one row per (tenant, job, target, slot).

The primary key is the arbiter: ``claim`` inserts the row and only the scheduler whose insert landed runs
the slot, however many schedulers share the database. A row stays "running" until ``finish``; one still
running after ``stale_after`` belongs to a scheduler that died, and reads as failed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.catalog import Catalog
from core.catalog.models import RUNS

RunStatus = Literal["running", "succeeded", "failed", "skipped"]
STATUSES: tuple[RunStatus, ...] = ("running", "succeeded", "failed", "skipped")
DEFAULT_STALE_AFTER = timedelta(hours=6)
_ERROR_LIMIT = 500


@dataclass(frozen=True)
class RunRow:
    tenant_id: str
    job: str
    target: str
    slot: datetime
    status: RunStatus
    owner: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    snapshot_id: str | None


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(
    catalog: Catalog, tenant_id: str, job: str, slot: datetime, target: str = "", *, owner: str | None = None
) -> bool:
    """Take the slot: True if this call inserted its row, False if another scheduler (or an earlier run of
    this one) already has it. Atomic on SQLite and PostgreSQL alike."""
    values = {
        "tenant_id": tenant_id,
        "job": job,
        "target": target,
        "slot": _aware(slot),
        "status": "running",
        "owner": owner or default_owner(),
        "started_at": catalog.clock(),
    }
    with catalog.writing() as conn:
        # ON CONFLICT DO NOTHING on the primary key: the same arbiter as catching the IntegrityError, without
        # leaving an aborted transaction behind on PostgreSQL. RETURNING says whether this insert landed
        # (psycopg reports no rowcount here).
        statement = _insert_unless_present(conn).values(values).returning(RUNS.c.owner)
        return conn.execute(statement).first() is not None


def finish(
    catalog: Catalog,
    tenant_id: str,
    job: str,
    slot: datetime,
    target: str = "",
    *,
    status: RunStatus,
    error: str | None = None,
    snapshot_id: str | None = None,
) -> None:
    """Record how a claimed run ended; ``error`` is kept to one line (it is shown in chat and status)."""
    if status not in STATUSES or status == "running":
        raise ValueError(f"a run finishes as succeeded, failed or skipped, not {status!r}")
    values: dict[str, Any] = {
        "status": status,
        "finished_at": catalog.clock(),
        "error": one_line(error) if error else None,
        "snapshot_id": snapshot_id,
    }
    with catalog.writing() as conn:
        conn.execute(RUNS.update().where(*_key(tenant_id, job, target, slot)).values(**values))


def run(catalog: Catalog, tenant_id: str, job: str, slot: datetime, target: str = "") -> RunRow | None:
    with catalog.reading() as conn:
        row = conn.execute(sa.select(RUNS).where(*_key(tenant_id, job, target, slot))).first()
    return None if row is None else _row(row._mapping)


def last_runs(
    catalog: Catalog,
    tenant_id: str,
    *,
    job: str | None = None,
    status: RunStatus | None = None,
    limit: int = 20,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> list[RunRow]:
    """The tenant's runs, newest slot first; stale "running" rows come back as failed."""
    query = sa.select(RUNS).where(RUNS.c.tenant_id == tenant_id)
    if job is not None:
        query = query.where(RUNS.c.job == job)
    stale_before = catalog.clock() - stale_after
    if status == "failed":
        query = query.where(
            sa.or_(
                RUNS.c.status == "failed",
                sa.and_(RUNS.c.status == "running", RUNS.c.started_at < stale_before),
            )
        )
    elif status == "running":
        query = query.where(RUNS.c.status == "running", RUNS.c.started_at >= stale_before)
    elif status is not None:
        query = query.where(RUNS.c.status == status)
    query = query.order_by(RUNS.c.slot.desc(), RUNS.c.job, RUNS.c.target).limit(limit)
    with catalog.reading() as conn:
        rows = [_row(row._mapping) for row in conn.execute(query)]
    return [_as_seen(row, stale_before, stale_after) for row in rows]


def active(
    catalog: Catalog,
    tenant_id: str,
    job: str,
    target: str = "",
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> list[RunRow]:
    """Runs of this job still going (in any scheduler), oldest first."""
    query = (
        sa.select(RUNS)
        .where(
            RUNS.c.tenant_id == tenant_id,
            RUNS.c.job == job,
            RUNS.c.target == target,
            RUNS.c.status == "running",
            RUNS.c.started_at >= catalog.clock() - stale_after,
        )
        .order_by(RUNS.c.slot)
    )
    with catalog.reading() as conn:
        return [_row(row._mapping) for row in conn.execute(query)]


def expire_stale(catalog: Catalog, *, stale_after: timedelta = DEFAULT_STALE_AFTER) -> int:
    """Mark runs abandoned by a scheduler that died as failed; returns how many."""
    now = catalog.clock()
    with catalog.writing() as conn:
        done = conn.execute(
            RUNS.update()
            .where(RUNS.c.status == "running", RUNS.c.started_at < now - stale_after)
            .values(status="failed", finished_at=now, error=_abandoned(stale_after))
        )
        return int(done.rowcount)


def one_line(text: str) -> str:
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return first if len(first) <= _ERROR_LIMIT else first[: _ERROR_LIMIT - 1] + "…"


def _abandoned(stale_after: timedelta) -> str:
    hours = stale_after.total_seconds() / 3600
    return f"no result after {hours:g} h: the scheduler running it stopped or hung"


def _as_seen(row: RunRow, stale_before: datetime, stale_after: timedelta) -> RunRow:
    if row.status == "running" and row.started_at < stale_before:
        return replace(row, status="failed", error=_abandoned(stale_after))
    return row


def _key(tenant_id: str, job: str, target: str, slot: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        RUNS.c.tenant_id == tenant_id,
        RUNS.c.job == job,
        RUNS.c.target == target,
        RUNS.c.slot == _aware(slot),
    )


def _row(mapping: Any) -> RunRow:
    return RunRow(**{name: mapping[name] for name in RunRow.__dataclass_fields__})


def _aware(slot: datetime) -> datetime:
    if slot.tzinfo is None or slot.utcoffset() is None:
        raise ValueError("a run's slot must be a timezone-aware datetime")
    return slot.astimezone(UTC)


def _insert_unless_present(conn: Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(RUNS).on_conflict_do_nothing()
    return sqlite.insert(RUNS).on_conflict_do_nothing()
