"""Reading restore requests, and the compare-and-set loop every state transition runs in.

A transition's UPDATE names the state and version it read; a row count of 0 means another click, webhook
retry or bot replica got there first, so the transaction is rolled back and the decision re-made on the
fresh row. Audit events are appended in the same transaction as the change they describe, so the trail never
disagrees with the state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.catalog import Catalog
from core.catalog.models import RESTORE_REQUESTS
from core.restore.audit import AuditRecord, AuditTrail, NewEvent
from core.restore.errors import ApprovalRefused, RefusalReason, RequestNotFound, RestoreError
from core.restore.request_row import RequestRow, RequestState, read_request

MIN_PREFIX = 4
_ATTEMPTS = 50  # compare-and-set retries; each retry means another writer committed in between


@dataclass
class Outcome:
    """What one attempt at a transition came to: events to publish, a refusal to raise, or try again."""

    records: list[AuditRecord] = field(default_factory=list)
    refusal: ApprovalRefused | None = None
    retry: bool = False


RETRY = Outcome(retry=True)

Attempt: TypeAlias = Callable[[Connection, RequestRow, datetime], Outcome]


def refusal(reason: RefusalReason, message: str) -> Outcome:
    return Outcome(refusal=ApprovalRefused(reason, message))


def compare_and_set(
    conn: Connection, row: RequestRow, state: RequestState, now: datetime, **values: Any
) -> bool:
    """Move ``row`` to ``state`` (a new version) unless another writer changed it since it was read."""
    table = RESTORE_REQUESTS
    return _update_unchanged(
        conn, row, row.state, state=state.value, version=table.c.version + 1, updated_at=now, **values
    )


def _update_unchanged(conn: Connection, row: RequestRow, was: RequestState, **values: Any) -> bool:
    """Write ``values`` unless the row is no longer in state ``was`` at the version read."""
    table = RESTORE_REQUESTS
    done = conn.execute(
        table.update()
        .where(
            table.c.request_id == row.request_id,
            table.c.state == was.value,
            table.c.version == row.version,
        )
        .values(**values)
    )
    return done.rowcount == 1


class RequestStore:
    """Reads of restore requests, the changes that are not transitions, and the transition loop."""

    def __init__(self, catalog: Catalog, audit: AuditTrail) -> None:
        self.catalog = catalog
        self.audit = audit

    def resolve(self, reference: str) -> str:
        """The full request id for an id or a unique prefix (at least four characters)."""
        ref = reference.strip().lower()
        if len(ref) < MIN_PREFIX:
            raise RequestNotFound(f"{reference!r} is not a request id: give at least {MIN_PREFIX} characters")
        table = RESTORE_REQUESTS
        with self.catalog.reading() as conn:
            found = list(
                conn.execute(
                    sa.select(table.c.request_id)
                    .where(table.c.request_id >= ref, table.c.request_id < ref + "\U0010ffff")
                    .limit(3)
                ).scalars()
            )
        if len(found) == 1:
            return str(found[0])
        if not found:
            raise RequestNotFound(f"no restore request matches {reference!r}: see `rewind restore list`")
        shown = ", ".join(f[:12] for f in found[:2])
        raise RequestNotFound(f"{reference!r} matches several requests ({shown}, ...): give more characters")

    def load(self, reference: str) -> RequestRow:
        request_id = self.resolve(reference)
        with self.catalog.reading() as conn:
            row = read_request(conn, request_id)
        if row is None:
            raise RequestNotFound(f"restore request {reference} no longer exists")
        return row

    def find(
        self,
        tenant_id: str | None = None,
        *,
        states: Iterable[RequestState] | None = None,
        limit: int = 50,
    ) -> list[RequestRow]:
        ids = self.find_ids(tenant_id, states=states, limit=limit)
        with self.catalog.reading() as conn:
            rows = [read_request(conn, i) for i in ids]
        return [r for r in rows if r is not None]

    def find_ids(
        self,
        tenant_id: str | None = None,
        *,
        states: Iterable[RequestState] | None = None,
        due: datetime | None = None,
        limit: int = 50,
    ) -> list[str]:
        """Request ids, newest first; ``due``: only those whose time is up by then."""
        table = RESTORE_REQUESTS
        query = sa.select(table.c.request_id).order_by(table.c.created_at.desc(), table.c.request_id)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        if states is not None:
            query = query.where(table.c.state.in_([s.value for s in states]))
        if due is not None:
            query = query.where(table.c.expires_at <= due)
        with self.catalog.reading() as conn:
            return [str(i) for i in conn.execute(query.limit(limit)).scalars()]

    def heartbeat(self, row: RequestRow) -> bool:
        """Show the run is alive; False when another runner took the request over."""
        # The version stays: it is what the runner's final compare-and-set names.
        with self.catalog.writing() as conn:
            return _update_unchanged(conn, row, RequestState.EXECUTING, updated_at=self.catalog.clock())

    def set_origin(self, request_id: str, origin: dict[str, Any]) -> None:
        # Where the request is shown (a chat message) is presentation, not state: no version change.
        full = self.resolve(request_id)
        with self.catalog.writing() as conn:
            conn.execute(
                RESTORE_REQUESTS.update()
                .where(RESTORE_REQUESTS.c.request_id == full)
                .values(origin=json.dumps(origin, sort_keys=True))
            )

    def record(self, tenant_id: str, event: NewEvent, request_id: str | None) -> list[AuditRecord]:
        """An audit event with no state change (a refusal)."""
        with self.catalog.writing() as conn:
            return [self.audit.append(conn, tenant_id, event, request_id=request_id, at=self.catalog.clock())]

    def append(self, conn: Connection, row: RequestRow, event: NewEvent, now: datetime) -> list[AuditRecord]:
        """The request's event, in the transaction of the change it describes."""
        return [self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]

    def transact(self, reference: str, attempt: Attempt) -> tuple[RequestRow, list[AuditRecord]]:
        """Run ``attempt`` on the freshly read row until no other writer got in between."""
        request_id = self.resolve(reference)
        for _ in range(_ATTEMPTS):
            with self.catalog.writing() as conn:
                row = read_request(conn, request_id)
                if row is None:
                    raise RequestNotFound(f"restore request {reference} no longer exists")
                outcome = attempt(conn, row, self.catalog.clock())
                if outcome.retry:
                    conn.rollback()  # another writer committed first: decide again on the fresh row
                    continue
                fresh = read_request(conn, request_id)
            # Committed (an expiry may have been recorded) before a refusal is raised.
            if outcome.refusal is not None:
                raise outcome.refusal
            assert fresh is not None
            return fresh, outcome.records
        raise RestoreError(f"request {request_id[:8]} kept changing under this decision: try again")
