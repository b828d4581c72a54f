"""Set-based recording of object versions (the interval scheme is described in ``core.catalog.catalog``).

The versions of one ``record_versions`` call are loaded into a temporary staging table (COPY on PostgreSQL,
executemany in chunks on SQLite), then a handful of statements apply them to the intervals at once. That keeps
a 100,000-object snapshot at a few seconds and an unchanged object at no write at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.catalog.errors import CatalogError
from core.catalog.models import VERSIONS, ObjectVersion

CHUNK = 5_000  # rows per executemany or IN list: well under SQLite's 32,766 bound parameters
T = TypeVar("T")

_DATA_COLUMNS = ("blob_id", "display_name", "principal_name", "display_key", "principal_key")
_NAMES = "object_id, object_type, blob_id, display_name, principal_name, display_key, principal_key"
_SQLITE_STAGE = f"INSERT INTO temp.catalog_incoming ({_NAMES}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608  # constants
_POSTGRES_STAGE = f"COPY pg_temp.catalog_incoming ({_NAMES}) FROM STDIN"
INCOMING = sa.Table(
    "catalog_incoming",
    sa.MetaData(),
    sa.Column("object_id", sa.String, primary_key=True),
    sa.Column("object_type", sa.String, primary_key=True),
    sa.Column("blob_id", sa.String, nullable=False),
    sa.Column("display_name", sa.String),
    sa.Column("principal_name", sa.String),
    sa.Column("display_key", sa.String),
    sa.Column("principal_key", sa.String),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def search_key(text: str | None) -> str | None:
    return text.lower() if text else None


def record(
    conn: Connection,
    tenant_id: str,
    seq: int,
    snapshot_id: str,
    versions: Iterable[ObjectVersion],
    complete: bool,
) -> None:
    """Apply the versions found in snapshot ``seq`` inside the caller's transaction (tenant row locked)."""
    _stage(conn, versions)
    try:
        _apply(conn, tenant_id, seq, snapshot_id, complete)
    finally:
        if conn.dialect.name == "sqlite":  # PostgreSQL drops it at commit
            conn.exec_driver_sql("DROP TABLE IF EXISTS temp.catalog_incoming")


def _stage(conn: Connection, versions: Iterable[ObjectVersion]) -> None:
    latest = {(version.object_type, version.object_id): version for version in versions}  # last one wins
    rows = [
        (
            version.object_id,
            version.object_type,
            version.blob_id,
            version.display_name,
            version.principal_name,
            search_key(version.display_name),
            search_key(version.principal_name),
        )
        for version in latest.values()
    ]
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.catalog_incoming")
    INCOMING.create(conn)
    if conn.dialect.name == "postgresql":
        # COPY on the driver connection, which is inside the same transaction.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(_POSTGRES_STAGE) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.close()
        conn.exec_driver_sql("ANALYZE pg_temp.catalog_incoming")  # temp tables get no statistics otherwise
        return
    for chunk in chunks(rows):
        conn.exec_driver_sql(_SQLITE_STAGE, chunk)


def _apply(conn: Connection, tenant_id: str, seq: int, snapshot_id: str, complete: bool) -> None:
    v, i = VERSIONS.c, INCOMING.c
    same_object = sa.and_(
        v.tenant_id == tenant_id, v.object_id == i.object_id, v.object_type == i.object_type
    )
    covers_seq = sa.and_(v.first_seq <= seq, sa.or_(v.last_seq.is_(None), v.last_seq >= seq))

    # A closed interval over this snapshot with another blob, or only later history: recorded out of order.
    clash = conn.execute(
        sa.select(i.object_type, i.object_id)
        .where(
            sa.or_(
                sa.exists().where(same_object, v.first_seq <= seq, v.last_seq >= seq, v.blob_id != i.blob_id),
                sa.and_(
                    sa.exists().where(same_object, v.first_seq > seq),
                    ~sa.exists().where(same_object, covers_seq),
                ),
            )
        )
        .limit(1)
    ).first()
    if clash is not None:
        raise CatalogError(
            f"{clash.object_type} {clash.object_id} already has other versions around snapshot {snapshot_id} "
            f"of tenant {tenant_id}; record snapshots oldest first (rebuild the catalog to repair it)"
        )

    mine = sa.and_(v.tenant_id == tenant_id, v.last_seq.is_(None))
    staged_twin = sa.and_(i.object_id == v.object_id, i.object_type == v.object_type)
    changed = sa.exists().where(staged_twin, i.blob_id != v.blob_id)
    # The same snapshot recorded again with other content: the later call wins.
    conn.execute(
        VERSIONS.update()
        .where(mine, v.first_seq == seq, changed)
        .values({name: sa.select(i[name]).where(staged_twin).scalar_subquery() for name in _DATA_COLUMNS})
    )
    # Changed objects: their current version ends just before this snapshot.
    conn.execute(VERSIONS.update().where(mine, v.first_seq < seq, changed).values(last_seq=seq - 1))
    if complete:  # not listed in a complete snapshot: deleted
        conn.execute(
            VERSIONS.update()
            .where(mine, v.first_seq < seq, ~sa.exists().where(staged_twin))
            .values(last_seq=seq - 1)
        )
    # New objects and new versions open at this snapshot; a concurrent writer's identical row is ignored.
    new_rows = sa.select(
        sa.literal(tenant_id, sa.String),
        i.object_id,
        i.object_type,
        sa.literal(seq, sa.BigInteger),
        *(i[name] for name in _DATA_COLUMNS),
    ).where(~sa.exists().where(same_object, covers_seq))
    columns = ["tenant_id", "object_id", "object_type", "first_seq", *_DATA_COLUMNS]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(VERSIONS).from_select(columns, new_rows).on_conflict_do_nothing())
