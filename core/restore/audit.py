"""The append-only audit trail of restores: requests, decisions, refusals, runs and their results.

Two copies that check each other:

- AUDIT_EVENTS rows, one hash chain per tenant: ``digest = sha256(previous digest + canonical JSON of the
  event)``, so editing, reordering or deleting a row breaks every digest after it;
- one write-once object per event in the tenant's repository store, ``audit/<yyyy>/<mm>/<seq>-<event>.json``,
  sealed like every repository file (encrypted when the repository is) and under the store's Object Lock
  retention when it has one, so even the newest event, which no later digest covers, cannot be quietly
  removed from both.

Events are appended inside the transaction of the state change they describe and published to the store
after it commits (a failed upload is logged and shows up in ``verify_store``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from core.catalog import Catalog
from core.catalog.models import AUDIT_EVENTS
from core.errors import RewindError
from core.repository import Repository, RepositoryError
from core.restore.identity import Person
from core.snapshots.canonical import canonical_json
from core.store import AlreadyExists, NotFound, StoreError
from core.timeref import utc_iso

AUDIT_PREFIX = "audit/"
SYSTEM = "rewind"  # the actor of events no person caused (expiry, execution)

log = structlog.get_logger("rewind.audit")


@dataclass(frozen=True)
class NewEvent:
    event: str  # requested, approved, refused, rejected, cancelled, expired, executing, succeeded, ...
    actor: Person | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    tenant_id: str
    at: datetime
    event: str
    request_id: str | None
    actor: str
    detail: dict[str, Any]
    digest: str

    def content(self) -> dict[str, Any]:
        """What the digest covers (everything but the sequence number and the digest itself)."""
        return {
            "tenant_id": self.tenant_id,
            "at": utc_iso(self.at),
            "event": self.event,
            "request_id": self.request_id,
            "actor": self.actor,
            "detail": self.detail,
        }

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.content(), "digest": self.digest}

    @property
    def object_key(self) -> str:
        at = self.at.astimezone(UTC)
        return f"{AUDIT_PREFIX}{at:%Y}/{at:%m}/{self.seq:010d}-{self.event}.json"


def chain(previous: str | None, content: dict[str, Any]) -> str:
    return hashlib.sha256((previous or "").encode() + canonical_json(content)).hexdigest()


class AuditTrail:
    """Appends to and reads the trail. ``repository_for`` gives the tenant's repository for the store copies
    (None: catalog only)."""

    def __init__(self, catalog: Catalog, repository_for: Callable[[str], Repository] | None = None) -> None:
        self.catalog = catalog
        self._repository_for = repository_for
        self._sealing = threading.Lock()  # a repository's sealer is not thread-safe

    # --- writing --------------------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        tenant_id: str,
        event: NewEvent,
        *,
        request_id: str | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Add an event to the tenant's chain inside the caller's write transaction."""
        _lock_chain(conn, tenant_id)
        table = AUDIT_EVENTS
        previous = conn.execute(
            sa.select(table.c.digest)
            .where(table.c.tenant_id == tenant_id)
            .order_by(table.c.seq.desc())
            .limit(1)
        ).scalar()
        detail = dict(event.detail)
        if event.actor is not None:
            detail.setdefault("by", event.actor.to_json())
        when = (at or self.catalog.clock()).astimezone(UTC)
        actor = event.actor.key if event.actor is not None else SYSTEM
        content = {
            "tenant_id": tenant_id,
            "at": utc_iso(when),
            "event": event.event,
            "request_id": request_id,
            "actor": actor,
            "detail": detail,
        }
        digest = chain(previous, content)
        seq = conn.execute(
            table.insert()
            .values(
                tenant_id=tenant_id,
                at=when,
                event=event.event,
                request_id=request_id,
                actor=actor,
                detail=canonical_json(detail).decode(),
                digest=digest,
            )
            .returning(table.c.seq)
        ).scalar_one()
        return AuditRecord(int(seq), tenant_id, when, event.event, request_id, actor, detail, digest)

    def publish(self, records: Iterable[AuditRecord]) -> list[str]:
        """Write each record as a write-once object in its tenant's store; the problems met (also logged)."""
        problems: list[str] = []
        if self._repository_for is None:
            return problems
        for record in records:
            try:
                repository = self._repository_for(record.tenant_id)
                with self._sealing:
                    repository.put_object(record.object_key, canonical_json(record.to_json()))
            except AlreadyExists:
                problems.append(f"audit object {record.object_key} already exists with other content")
            except (RewindError, OSError) as exc:
                problems.append(f"audit event {record.seq} was not copied to the store: {exc}")
        for problem in problems:
            log.warning("audit_publish_failed", problem=problem)
        return problems

    # --- reading --------------------------------------------------------------------------------------

    def events(
        self,
        tenant_id: str | None = None,
        *,
        since: datetime | None = None,
        request_id: str | None = None,
    ) -> list[AuditRecord]:
        table = AUDIT_EVENTS
        query = sa.select(table).order_by(table.c.seq)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        if since is not None:
            query = query.where(table.c.at >= since)
        if request_id is not None:
            query = query.where(table.c.request_id == request_id)
        with self.catalog.reading() as conn:
            return [_record(row) for row in conn.execute(query)]

    def tenants(self) -> list[str]:
        with self.catalog.reading() as conn:
            found = conn.execute(
                sa.select(AUDIT_EVENTS.c.tenant_id).distinct().order_by(AUDIT_EVENTS.c.tenant_id)
            )
            return [str(t) for t in found.scalars()]

    def verify_chain(self, tenant_id: str) -> list[str]:
        """Problems with the tenant's chain in the catalog: an edited, reordered or removed row."""
        problems: list[str] = []
        previous: str | None = None
        for record in self.events(tenant_id):
            expected = chain(previous, record.content())
            if expected != record.digest:
                problems.append(
                    f"audit event {record.seq} ({record.event} at {utc_iso(record.at)}) does not match the "
                    "chain: it, or an event before it, was edited or removed"
                )
            previous = record.digest
        return problems

    def verify_store(self, tenant_id: str) -> list[str]:
        """Problems between the catalog's events and their store copies: missing, extra or different."""
        if self._repository_for is None:
            return []
        repository = self._repository_for(tenant_id)
        problems: list[str] = []
        records = {r.object_key: r for r in self.events(tenant_id)}
        try:
            stored = set(repository.store.list(AUDIT_PREFIX))
        except StoreError as exc:
            return [f"the audit objects cannot be listed: {exc}"]
        for key, record in records.items():
            if key not in stored:
                problems.append(f"audit event {record.seq} ({record.event}) has no store copy {key}")
                continue
            try:
                with self._sealing:
                    copy = json.loads(repository.sealer.open(repository.store.get(key), key))
            except (RepositoryError, NotFound, ValueError) as exc:
                problems.append(f"the store copy {key} cannot be read: {exc}")
                continue
            if copy != record.to_json():
                problems.append(f"audit event {record.seq} differs from its store copy {key}")
        for key in sorted(stored - set(records)):
            problems.append(
                f"the store holds {key}, which the catalog's audit trail lacks (a removed event?)"
            )
        return problems


def _lock_chain(conn: Connection, tenant_id: str) -> None:
    """Serialise appends to one tenant's chain. SQLite's writer already holds the database lock."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"rewind-audit:{tenant_id}".encode()).digest()[:8], "big", signed=True
        )
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        seq=int(row.seq),
        tenant_id=row.tenant_id,
        at=row.at,
        event=row.event,
        request_id=row.request_id,
        actor=row.actor,
        detail=json.loads(row.detail),
        digest=row.digest,
    )
