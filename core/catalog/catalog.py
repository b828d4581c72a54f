"""The catalog: a SQL index over the snapshot repository, so that listing snapshots, an object's history or
the delta token to resume from needs no S3 LIST. It is a cache: ``clear_tenant`` then re-adding every
snapshot from the store rebuilds it. Every table is keyed by tenant.

Snapshots get a per-tenant sequence number (``seq``) from a counter on the tenant row: monotonic, never
reused, so "is version V in snapshot S" is an integer comparison. Snapshots must be added oldest first.

Object versions are intervals. One row per version of an object: ``first_seq`` is the first snapshot that
contained that exact blob, ``last_seq`` the last one, or NULL while it is *current*: a current version is
present in every snapshot from ``first_seq`` up to the tenant's newest one. So an unchanged object costs
nothing per snapshot; only changes write rows:

- changed: ``record_versions`` closes the old row at ``seq - 1`` and opens a new one at ``seq``;
- deleted: its current row is closed at ``seq - 1``, either by ``carry_forward`` (listed in ``except_ids``)
  or, for a complete listing (full snapshots), because ``record_versions`` did not see it;
- re-created (or changed back to an earlier blob): a new row, because the object was absent (or different)
  in between; so several rows of one object may share a blob, but never overlap.

``version_at(S)`` is the row with ``first_seq <= S.seq <= coalesce(last_seq, infinity)``. First and last
snapshot ids are resolved at read time as the oldest and newest existing snapshots inside the interval, so
removing snapshots needs no rewrite; rows whose interval no longer holds any snapshot are deleted, and
removing the newest snapshot makes current again what it had closed. ``record_versions`` works set-based
through a staging table (``core.catalog.versions``): 100,000 versions take a second or two.

Writers lock the tenant row (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and
inserts ignore primary-key conflicts, so two processes recording the same snapshot leave one copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from core.catalog.errors import Ambiguous, CatalogError, NotFound
from core.catalog.migrations import upgrade_to_head
from core.catalog.models import (
    DELTA_TOKENS,
    SNAPSHOTS,
    TENANTS,
    VERSIONS,
    ObjectRef,
    ObjectVersion,
    ObjectVersionRow,
    SnapshotRow,
    TenantRow,
    snapshot_values,
)
from core.catalog.versions import chunks, record

MIN_PREFIX = 4
_AFTER_EVERY_KEY = "\U0010ffff"  # sorts after any character, so [p, p + this) is the prefix range of p
_WRITE = "catalog_write"  # execution option: SQLite transaction takes the write lock up front

DbRow = sa.Row[*tuple[Any, ...]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Catalog:
    def __init__(
        self, url: str, *, busy_timeout: float = 30.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        """Open (creating if needed) the catalog at a SQLAlchemy URL and migrate it to this version's schema.

        ``sqlite:///path`` creates the parent directory; ``postgresql://`` and ``postgresql+psycopg://``
        use psycopg 3. ``busy_timeout`` is how long a writer waits for another one, in seconds.
        """
        self._clock = clock
        parsed = _parse_url(url)
        self.location = parsed.render_as_string(hide_password=True)
        self._engine = _create_engine(parsed, busy_timeout)
        try:
            with self._write() as conn:
                upgrade_to_head(conn)
        except BaseException:
            self._engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.location!r})"

    # --- tenants ---------------------------------------------------------------------------------------

    def upsert_tenant(
        self, tenant_id: str, *, display_name: str | None = None, domain: str | None = None
    ) -> None:
        """Add the tenant if new; set the names given (None leaves a name as it is)."""
        with self._write() as conn:
            self._ensure_tenant(conn, tenant_id)
            values = {
                name: value for name, value in (("display_name", display_name), ("domain", domain)) if value
            }
            if values:
                conn.execute(TENANTS.update().where(TENANTS.c.tenant_id == tenant_id).values(**values))

    def tenants(self) -> list[TenantRow]:
        query = sa.select(TENANTS.c.tenant_id, TENANTS.c.display_name, TENANTS.c.domain, TENANTS.c.added_at)
        with self._read() as conn:
            rows = conn.execute(query.order_by(TENANTS.c.tenant_id)).all()
        return [TenantRow(**row._mapping) for row in rows]

    # --- snapshots -------------------------------------------------------------------------------------

    def add_snapshot(self, row: SnapshotRow) -> None:
        """Record a snapshot; a second call for the same (tenant, snapshot id) does nothing."""
        _require_aware(row.created_at, "created_at")
        if row.kind not in ("full", "incremental"):
            raise ValueError(f"snapshot kind must be full or incremental, not {row.kind!r}")
        with self._write() as conn:
            last_seq = self._lock_tenant(conn, row.tenant_id)
            if self._find_snapshot(conn, row.tenant_id, row.snapshot_id) is not None:
                return
            newest = self._newest(conn, row.tenant_id)
            if newest is not None and row.created_at < newest.created_at:
                raise CatalogError(
                    f"snapshot {row.snapshot_id} of tenant {row.tenant_id} is older than the newest one "
                    f"({newest.snapshot_id}); add snapshots oldest first (rebuild the catalog to reorder)"
                )
            seq = last_seq + 1
            conn.execute(TENANTS.update().where(TENANTS.c.tenant_id == row.tenant_id).values(last_seq=seq))
            conn.execute(_insert_ignore(conn, SNAPSHOTS), snapshot_values(row, seq))

    def snapshots(self, tenant_id: str, *, limit: int | None = None) -> list[SnapshotRow]:
        """The tenant's snapshots, newest first."""
        query = _snapshot_query(tenant_id).order_by(SNAPSHOTS.c.seq.desc()).limit(limit)
        with self._read() as conn:
            return [_snapshot_row(row) for row in conn.execute(query)]

    def snapshot(self, tenant_id: str, ref: str) -> SnapshotRow:
        """Resolve "latest", a full snapshot id or a unique prefix of at least four characters."""
        with self._read() as conn:
            if ref == "latest":
                newest = self._newest(conn, tenant_id)
                if newest is None:
                    raise NotFound(f"tenant {tenant_id} has no snapshots yet")
                return newest
            exact = self._find_snapshot(conn, tenant_id, ref)
            if exact is not None:
                return exact
            if len(ref) >= MIN_PREFIX:
                query = (
                    _snapshot_query(tenant_id)
                    .where(SNAPSHOTS.c.snapshot_id.startswith(ref, autoescape=True))
                    .order_by(SNAPSHOTS.c.seq.desc())
                    .limit(6)
                )
                matches = [_snapshot_row(row) for row in conn.execute(query)]
                if len(matches) == 1:
                    return matches[0]
                if matches:
                    ids = [match.snapshot_id for match in matches]
                    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
                    raise Ambiguous(
                        f"snapshot {ref!r} of tenant {tenant_id} is ambiguous: it starts {shown}; "
                        "give more characters",
                        ids,
                    )
        hint = (
            f" (give at least {MIN_PREFIX} characters of its id, or 'latest')"
            if len(ref) < MIN_PREFIX
            else ""
        )
        raise NotFound(f"tenant {tenant_id} has no snapshot {ref!r}{hint}")

    def snapshot_at(self, tenant_id: str, when: datetime) -> SnapshotRow | None:
        """The newest snapshot taken at or before ``when`` (an aware datetime)."""
        _require_aware(when, "when")
        query = (
            _snapshot_query(tenant_id)
            .where(SNAPSHOTS.c.created_at <= when)
            .order_by(SNAPSHOTS.c.created_at.desc(), SNAPSHOTS.c.seq.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _snapshot_row(row)

    def remove_snapshot(self, tenant_id: str, snapshot_id: str) -> None:
        """Forget a snapshot (absent already: nothing to do) and the versions only it contained."""
        with self._write() as conn:
            self._lock_tenant(conn, tenant_id)
            removed = self._find_snapshot(conn, tenant_id, snapshot_id)
            if removed is None or removed.seq is None:
                return
            seq = removed.seq
            conn.execute(
                SNAPSHOTS.delete().where(
                    SNAPSHOTS.c.tenant_id == tenant_id, SNAPSHOTS.c.snapshot_id == snapshot_id
                )
            )
            # Only intervals that contained the removed snapshot can have become empty.
            holds_a_snapshot = (
                sa.select(SNAPSHOTS.c.seq)
                .where(
                    SNAPSHOTS.c.tenant_id == VERSIONS.c.tenant_id,
                    SNAPSHOTS.c.seq >= VERSIONS.c.first_seq,
                    sa.or_(VERSIONS.c.last_seq.is_(None), SNAPSHOTS.c.seq <= VERSIONS.c.last_seq),
                )
                .exists()
            )
            conn.execute(
                VERSIONS.delete().where(
                    VERSIONS.c.tenant_id == tenant_id,
                    VERSIONS.c.first_seq <= seq,
                    sa.or_(VERSIONS.c.last_seq.is_(None), VERSIONS.c.last_seq >= seq),
                    ~holds_a_snapshot,
                )
            )
            # Versions closed by a change in the removed newest snapshot are current again.
            newest = self._newest(conn, tenant_id)
            if newest is not None and newest.seq is not None:
                conn.execute(
                    VERSIONS.update()
                    .where(VERSIONS.c.tenant_id == tenant_id, VERSIONS.c.last_seq >= newest.seq)
                    .values(last_seq=None)
                )

    # --- object versions -------------------------------------------------------------------------------

    def record_versions(
        self,
        tenant_id: str,
        snapshot_id: str,
        versions: Iterable[ObjectVersion],
        *,
        complete: bool | None = None,
    ) -> None:
        """Record that these object versions are in the snapshot, in one transaction (bulk, set-based).

        ``complete``: the versions are the whole snapshot, so every current version not listed was deleted.
        By default it is true for full snapshots: then pass all objects (of every type) in ONE call; for
        incremental ones pass the changed objects and call ``carry_forward``. Recording the same versions
        again changes nothing. Snapshots must be recorded oldest first.
        """
        with self._write() as conn:
            self._lock_tenant(conn, tenant_id)
            snapshot = self._require_snapshot(conn, tenant_id, snapshot_id)
            if complete is None:
                complete = snapshot.kind == "full"
            assert snapshot.seq is not None
            record(conn, tenant_id, snapshot.seq, snapshot_id, versions, complete)

    def carry_forward(
        self, tenant_id: str, from_snapshot_id: str, to_snapshot_id: str, except_ids: Iterable[str] = ()
    ) -> None:
        """Declare that ``to`` holds every version of ``from`` except objects in ``except_ids``.

        ``except_ids`` are the ids changed or deleted in ``to``; changed ones are recorded with
        ``record_versions`` (before or after this call). Unchanged versions cost nothing: they stay current.
        ``from`` must be the snapshot just before ``to``.
        """
        with self._write() as conn:
            self._lock_tenant(conn, tenant_id)
            source = self._require_snapshot(conn, tenant_id, from_snapshot_id)
            target = self._require_snapshot(conn, tenant_id, to_snapshot_id)
            assert source.seq is not None and target.seq is not None
            if source.seq >= target.seq:
                raise CatalogError(
                    f"cannot carry versions from snapshot {from_snapshot_id} to the older {to_snapshot_id}"
                )
            between = conn.execute(
                sa.select(sa.func.count())
                .select_from(SNAPSHOTS)
                .where(
                    SNAPSHOTS.c.tenant_id == tenant_id,
                    SNAPSHOTS.c.seq > source.seq,
                    SNAPSHOTS.c.seq < target.seq,
                )
            ).scalar_one()
            if between:
                raise CatalogError(
                    f"snapshot {from_snapshot_id} is not the one just before {to_snapshot_id} "
                    f"({between} snapshots lie between); carry forward from the previous snapshot"
                )
            for chunk in chunks(sorted(set(except_ids))):
                conn.execute(
                    VERSIONS.update()
                    .where(
                        VERSIONS.c.tenant_id == tenant_id,
                        VERSIONS.c.object_id.in_(chunk),
                        VERSIONS.c.last_seq.is_(None),
                        VERSIONS.c.first_seq <= source.seq,
                    )
                    .values(last_seq=target.seq - 1)
                )

    def versions(self, tenant_id: str, object_type: str, object_id: str) -> list[ObjectVersionRow]:
        """Every version of one object, oldest first."""
        query = _versions_of(tenant_id, object_type, object_id).order_by(VERSIONS.c.first_seq)
        with self._read() as conn:
            rows = conn.execute(query).all()
            found = (self._version_row(conn, row) for row in rows)
            return [row for row in found if row is not None]

    def version_at(
        self, tenant_id: str, object_type: str, object_id: str, snapshot_id: str
    ) -> ObjectVersionRow | None:
        """The version of the object that the snapshot holds, or None if the object was not in it."""
        with self._read() as conn:
            snapshot = self._require_snapshot(conn, tenant_id, snapshot_id)
            query = _versions_of(tenant_id, object_type, object_id).where(
                VERSIONS.c.first_seq <= snapshot.seq,
                sa.or_(VERSIONS.c.last_seq.is_(None), VERSIONS.c.last_seq >= snapshot.seq),
            )
            row = conn.execute(query).first()
            return None if row is None else self._version_row(conn, row)

    def find_objects(
        self, tenant_id: str, text: str, *, object_type: str | None = None, limit: int = 20
    ) -> list[ObjectRef]:
        """Objects (current or past) by exact id, exact principal name or display name (case-insensitive):
        exact matches first, then display-name prefixes. Each distinct (type, id, name, principal) once."""
        needle = text.strip()
        key = needle.lower()
        if not needle or limit <= 0:
            return []
        columns = (
            VERSIONS.c.object_type,
            VERSIONS.c.object_id,
            VERSIONS.c.display_name,
            VERSIONS.c.principal_name,
        )
        base = sa.select(*columns).distinct().where(VERSIONS.c.tenant_id == tenant_id)
        if object_type is not None:
            base = base.where(VERSIONS.c.object_type == object_type)
        stages = [
            base.where(VERSIONS.c.object_id.in_({needle, key})),
            base.where(VERSIONS.c.principal_key == key),
            base.where(VERSIONS.c.display_key == key),
            base.where(VERSIONS.c.display_key > key, VERSIONS.c.display_key < key + _AFTER_EVERY_KEY),
        ]
        found: dict[ObjectRef, None] = {}
        with self._read() as conn:
            for stage in stages:
                query = stage.order_by(VERSIONS.c.display_name, VERSIONS.c.object_type, VERSIONS.c.object_id)
                for row in conn.execute(query.limit(limit)):
                    found.setdefault(ObjectRef(**row._mapping), None)
                if len(found) >= limit:
                    break
        return list(found)[:limit]

    # --- delta tokens ----------------------------------------------------------------------------------

    def delta_token(self, tenant_id: str, object_type: str) -> str | None:
        query = sa.select(DELTA_TOKENS.c.token).where(
            DELTA_TOKENS.c.tenant_id == tenant_id, DELTA_TOKENS.c.object_type == object_type
        )
        with self._read() as conn:
            token: str | None = conn.execute(query).scalar_one_or_none()
        return token

    def set_delta_tokens(self, tenant_id: str, tokens: Mapping[str, str | None]) -> None:
        """Set the token of each object type (None removes it), all in one transaction."""
        now = self._clock()
        with self._write() as conn:
            self._ensure_tenant(conn, tenant_id)
            for object_type, token in sorted(tokens.items()):
                if token is None:
                    conn.execute(
                        DELTA_TOKENS.delete().where(
                            DELTA_TOKENS.c.tenant_id == tenant_id, DELTA_TOKENS.c.object_type == object_type
                        )
                    )
                    continue
                values = {
                    "tenant_id": tenant_id,
                    "object_type": object_type,
                    "token": token,
                    "updated_at": now,
                }
                conn.execute(_upsert(conn, DELTA_TOKENS, values, update=("token", "updated_at")))

    # --- maintenance -----------------------------------------------------------------------------------

    def clear_tenant(self, tenant_id: str) -> None:
        """Drop the tenant's snapshots, versions and delta tokens (before a rebuild); keep the tenant."""
        with self._write() as conn:
            self._lock_tenant(conn, tenant_id)
            for table in (VERSIONS, SNAPSHOTS, DELTA_TOKENS):
                conn.execute(table.delete().where(table.c.tenant_id == tenant_id))

    # --- internals -------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _database_errors(self.location), self._engine.connect() as conn:
            yield conn

    # Companion modules (operations tables) use these, so every access shares one engine and error mapping.
    def reading(self) -> AbstractContextManager[Connection]:
        return self._read()

    def writing(self) -> AbstractContextManager[Connection]:
        return self._write()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _database_errors(self.location), self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def _ensure_tenant(self, conn: Connection, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("tenant_id must not be empty")
        conn.execute(_insert_ignore(conn, TENANTS), {"tenant_id": tenant_id, "added_at": self._clock()})

    def _lock_tenant(self, conn: Connection, tenant_id: str) -> int:
        """Create the tenant if needed and hold its row until commit; returns its last snapshot seq."""
        self._ensure_tenant(conn, tenant_id)
        query = sa.select(TENANTS.c.last_seq).where(TENANTS.c.tenant_id == tenant_id).with_for_update()
        last_seq: int = conn.execute(query).scalar_one()
        return last_seq

    def _find_snapshot(self, conn: Connection, tenant_id: str, snapshot_id: str) -> SnapshotRow | None:
        row = conn.execute(_snapshot_query(tenant_id).where(SNAPSHOTS.c.snapshot_id == snapshot_id)).first()
        return None if row is None else _snapshot_row(row)

    def _require_snapshot(self, conn: Connection, tenant_id: str, snapshot_id: str) -> SnapshotRow:
        found = self._find_snapshot(conn, tenant_id, snapshot_id)
        if found is None:
            raise NotFound(f"tenant {tenant_id} has no snapshot {snapshot_id!r} in the catalog")
        return found

    def _newest(self, conn: Connection, tenant_id: str) -> SnapshotRow | None:
        row = conn.execute(_snapshot_query(tenant_id).order_by(SNAPSHOTS.c.seq.desc()).limit(1)).first()
        return None if row is None else _snapshot_row(row)

    def _version_row(self, conn: Connection, row: DbRow) -> ObjectVersionRow | None:
        within = [SNAPSHOTS.c.tenant_id == row.tenant_id, SNAPSHOTS.c.seq >= row.first_seq]
        if row.last_seq is not None:
            within.append(SNAPSHOTS.c.seq <= row.last_seq)
        bounds = sa.select(SNAPSHOTS.c.snapshot_id, SNAPSHOTS.c.created_at).where(*within).limit(1)
        first = conn.execute(bounds.order_by(SNAPSHOTS.c.seq)).first()
        last = conn.execute(bounds.order_by(SNAPSHOTS.c.seq.desc())).first()
        if first is None or last is None:
            return None
        return ObjectVersionRow(
            tenant_id=row.tenant_id,
            object_type=row.object_type,
            object_id=row.object_id,
            blob_id=row.blob_id,
            display_name=row.display_name,
            principal_name=row.principal_name,
            first_snapshot_id=first.snapshot_id,
            last_snapshot_id=last.snapshot_id,
            first_seen_at=first.created_at,
            last_seen_at=last.created_at,
            current=row.last_seq is None,
        )


# --- statements and helpers -------------------------------------------------------------------------------


def _versions_of(tenant_id: str, object_type: str, object_id: str) -> sa.Select[Any]:
    return sa.select(VERSIONS).where(
        VERSIONS.c.tenant_id == tenant_id,
        VERSIONS.c.object_type == object_type,
        VERSIONS.c.object_id == object_id,
    )


def _snapshot_query(tenant_id: str) -> sa.Select[Any]:
    return sa.select(SNAPSHOTS).where(SNAPSHOTS.c.tenant_id == tenant_id)


def _snapshot_row(row: DbRow) -> SnapshotRow:
    return SnapshotRow(
        tenant_id=row.tenant_id,
        snapshot_id=row.snapshot_id,
        created_at=row.created_at,
        kind=row.kind,
        parent_id=row.parent_id,
        counts=dict(row.counts or {}),
        bytes_added=row.bytes_added,
        status=row.status,
        tool_version=row.tool_version,
        seq=row.seq,
    )


def _insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _upsert(
    conn: Connection, table: sa.Table, values: dict[str, Any], *, update: tuple[str, ...]
) -> sa.Insert:
    keys = [column.name for column in table.primary_key.columns]
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(table).values(values)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={name: pg.excluded[name] for name in update}
        )
    lite = sqlite.insert(table).values(values)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={name: lite.excluded[name] for name in update}
    )


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), not a naive one")


@contextmanager
def _database_errors(location: str) -> Iterator[None]:
    """Turn driver errors into one-line CatalogErrors; the engine hides SQL parameters (hide_parameters)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise CatalogError(f"catalog database {location}: {detail}") from exc


# --- engines ------------------------------------------------------------------------------------------------


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise CatalogError(
            "the catalog URL is not a database URL; use sqlite:///path or postgresql://..."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise CatalogError(f"the catalog supports sqlite and postgresql databases, not {backend!r}")


def _create_engine(url: URL, busy_timeout: float) -> Engine:
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401  # only to report its absence clearly
        except ImportError:
            raise CatalogError(
                "a PostgreSQL catalog needs psycopg 3: pip install 'psycopg[binary]'"
            ) from None
        return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
    memory = url.database in (None, "", ":memory:")
    if not memory:
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        hide_parameters=True,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the lock at BEGIN: a deferred transaction upgrading later fails instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine
