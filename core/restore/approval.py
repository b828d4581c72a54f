"""The restore request state machine over RESTORE_REQUESTS, RESTORE_DECISIONS and RESTORE_LOCKS.

Every transition is a compare-and-set on ``(state, version)``: the UPDATE names the state and version it
read, and a row count of 0 means another click, webhook retry or bot replica got there first, so the
transaction is rolled back and the decision re-made on the fresh row. Audit events are appended in the
same transaction as the change they describe, so the trail never disagrees with the state.

Rules that need Graph (group membership, resolving an email to an Entra user) are checked by the service
before it calls in here; the rules that only need the database (pending, not expired, not the same person
twice, the number of approvals) are checked again inside the transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.catalog import Catalog
from core.catalog.models import RESTORE_DECISIONS, RESTORE_LOCKS, RESTORE_REQUESTS, TENANTS
from core.restore.audit import AuditRecord, AuditTrail, NewEvent
from core.restore.errors import RestoreError
from core.restore.identity import Person
from core.restore.model import Plan

MIN_PREFIX = 4
_ATTEMPTS = 50  # compare-and-set retries; each retry means another writer committed in between
_CHUNK = 500  # keys per IN (...) query

RefusalReason = Literal[
    "self_approval",
    "not_approver",
    "not_requester",
    "expired",
    "drifted",
    "not_pending",
    "already_decided",
    "overlap",
    "not_approved",
]


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {
        RequestState.SUCCEEDED,
        RequestState.PARTIALLY_FAILED,
        RequestState.FAILED,
        RequestState.REJECTED,
        RequestState.EXPIRED,
        RequestState.CANCELLED,
    }
)
OPEN = frozenset({RequestState.PENDING, RequestState.APPROVED})  # may still expire

# Changes to these need policy.privileged_approvals distinct approvers.
PRIVILEGED_ROLE_TYPES = frozenset(
    {"unifiedRoleAssignment", "unifiedRoleEligibilitySchedule", "unifiedRoleDefinition"}
)
CONDITIONAL_ACCESS_TYPES = frozenset(
    {"conditionalAccessPolicy", "namedLocation", "authenticationStrengthPolicy"}
)


class ApprovalRefused(RestoreError):
    """A decision or a run the rules do not allow; ``reason`` is machine-readable, the message one line."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


class RequestNotFound(RestoreError):
    """No request, or more than one, matches the id or prefix given."""


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may request and approve. With neither ``approvers`` nor ``approver_group``, any second person
    may approve; with either, requesters must qualify too."""

    approvers: tuple[str, ...] = ()
    approver_group: str | None = None
    ttl: timedelta = timedelta(minutes=30)
    privileged_approvals: int = 2

    @property
    def restricted(self) -> bool:
        return bool(self.approvers) or self.approver_group is not None

    @classmethod
    def from_settings(cls, settings: Any) -> ApprovalPolicy:
        return cls(
            approvers=tuple(settings.approvers),
            approver_group=settings.approver_group,
            ttl=timedelta(minutes=settings.restore_request_minutes),
            privileged_approvals=settings.privileged_approvals,
        )


@dataclass(frozen=True)
class Decision:
    decision: Literal["approve", "reject"]
    person: Person
    decided_at: datetime


@dataclass(frozen=True)
class RequestRow:
    """One request as stored, with its decisions."""

    request_id: str
    tenant_id: str
    state: RequestState
    version: int
    plan_hash: str
    plan_json: str
    selector: str
    snapshot_id: str
    summary: str
    requester: Person
    required_approvals: int
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    origin: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    decisions: tuple[Decision, ...] = field(default=())

    @property
    def short_id(self) -> str:
        return self.request_id[:8]

    @property
    def approvals(self) -> tuple[Person, ...]:
        return tuple(d.person for d in self.decisions if d.decision == "approve")

    @property
    def rejected_by(self) -> Person | None:
        return next((d.person for d in self.decisions if d.decision == "reject"), None)

    def expired(self, now: datetime) -> bool:
        return self.state in OPEN and now >= self.expires_at


def privileged_reasons(plan: Plan, role_assignable_groups: Iterable[str] = ()) -> list[str]:
    """Why a plan needs the privileged number of approvers (empty: it does not).

    ``role_assignable_groups`` are the ids (snapshot ids) of the plan's groups that can hold directory roles.
    """
    assignable = set(role_assignable_groups)
    found: set[str] = set()
    for action in plan.writes():
        for kind, oid in ((action.object_type, action.object_id), (action.target_type, action.target_id)):
            if kind in PRIVILEGED_ROLE_TYPES:
                found.add("privileged roles")
            elif kind in CONDITIONAL_ACCESS_TYPES:
                found.add("Conditional Access")
            elif kind == "group" and (oid in assignable or _assignable_body(action.body)):
                found.add("role-assignable groups")
    return sorted(found)


def _assignable_body(body: dict[str, Any] | None) -> bool:
    return bool(body and body.get("isAssignableToRole"))


class Requests:
    """Reads and compare-and-set transitions of restore requests; audit events in the same transaction."""

    def __init__(self, catalog: Catalog, audit: AuditTrail) -> None:
        self.catalog = catalog
        self.audit = audit

    # --- reading --------------------------------------------------------------------------------------

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
            row = _read(conn, request_id)
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
        table = RESTORE_REQUESTS
        query = sa.select(table.c.request_id).order_by(table.c.created_at.desc(), table.c.request_id)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        if states is not None:
            query = query.where(table.c.state.in_([s.value for s in states]))
        with self.catalog.reading() as conn:
            ids = list(conn.execute(query.limit(limit)).scalars())
            rows = [_read(conn, str(i)) for i in ids]
        return [r for r in rows if r is not None]

    # --- transitions ----------------------------------------------------------------------------------

    def create(
        self,
        *,
        plan: Plan,
        requester: Person,
        required_approvals: int,
        ttl: timedelta,
        origin: dict[str, Any] | None,
    ) -> tuple[RequestRow, list[AuditRecord]]:
        now = self.catalog.clock()
        request_id = secrets.token_hex(16)
        values = {
            "request_id": request_id,
            "tenant_id": plan.tenant_id,
            "state": RequestState.PENDING.value,
            "version": 1,
            "plan_hash": plan.plan_hash,
            "plan": plan.canonical().decode(),
            "selector": plan.selector,
            "snapshot_id": plan.snapshot_id,
            "summary": plan.summary_line(),
            "requester_key": requester.key,
            "requester": json.dumps(requester.to_json(), sort_keys=True),
            "required_approvals": required_approvals,
            "created_at": now,
            "expires_at": now + ttl,
            "updated_at": now,
            "origin": json.dumps(origin, sort_keys=True) if origin is not None else None,
        }
        event = NewEvent(
            "requested",
            actor=requester,
            detail={
                "summary": values["summary"],
                "plan_hash": plan.plan_hash,
                "selector": plan.selector,
                "snapshot_id": plan.snapshot_id,
                "required_approvals": required_approvals,
                "expires_at": (now + ttl).isoformat(),
                "requester": requester.to_json(),
            },
        )
        with self.catalog.writing() as conn:
            conn.execute(_insert_ignore(conn, TENANTS), {"tenant_id": plan.tenant_id, "added_at": now})
            conn.execute(RESTORE_REQUESTS.insert().values(values))
            records = [self.audit.append(conn, plan.tenant_id, event, request_id=request_id, at=now)]
            row = _read(conn, request_id)
        assert row is not None
        return row, records

    def decide(
        self, request_id: str, person: Person, decision: Literal["approve", "reject"], reason: str | None
    ) -> tuple[RequestRow, list[AuditRecord]]:
        """Record one person's approval or rejection; the last approval needed moves it to approved,
        a rejection ends it. Raises ApprovalRefused (after recording an expiry) when not allowed."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state is not RequestState.PENDING:
                return _refusal("not_pending", f"request {row.short_id} is {row.state.value}, not pending")
            if person.same_person(row.requester):
                if decision == "reject":
                    return _refusal("self_approval", f"{person} requested {row.short_id}: cancel it instead")
                return _refusal("self_approval", _self_approval(row, person))
            for earlier in row.decisions:
                if earlier.person.same_person(person):
                    verb = "approved" if earlier.decision == "approve" else "rejected"
                    return _refusal("already_decided", f"{person} already {verb} request {row.short_id}")
            approvals = len(row.approvals) + (decision == "approve")
            if decision == "reject":
                new_state = RequestState.REJECTED
            elif approvals >= row.required_approvals:
                new_state = RequestState.APPROVED
            else:
                new_state = RequestState.PENDING
            if not _cas(conn, row, new_state, now):
                return _RETRY
            conn.execute(
                RESTORE_DECISIONS.insert().values(
                    request_id=row.request_id,
                    person_key=person.key,
                    decision=decision,
                    person=json.dumps(person.to_json(), sort_keys=True),
                    decided_at=now,
                )
            )
            detail: dict[str, Any] = {
                "approvals": approvals,
                "required_approvals": row.required_approvals,
                "state": new_state.value,
                "person": person.to_json(),
            }
            if reason:
                detail["reason"] = reason
            event = NewEvent("approved" if decision == "approve" else "rejected", actor=person, detail=detail)
            records = [self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            if new_state in TERMINAL:
                _release_locks(conn, row.request_id)
            return _Outcome(records=records)

        return self._transact(request_id, attempt)

    def cancel(self, request_id: str, person: Person) -> tuple[RequestRow, list[AuditRecord]]:
        def attempt(conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state not in OPEN:
                return _refusal(
                    "not_pending", f"request {row.short_id} is {row.state.value}: too late to cancel"
                )
            if not _cas(conn, row, RequestState.CANCELLED, now):
                return _RETRY
            event = NewEvent("cancelled", actor=person, detail={"person": person.to_json()})
            return _Outcome(
                records=[self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            )

        return self._transact(request_id, attempt)

    def expire(self, request_id: str) -> tuple[RequestRow, list[AuditRecord]]:
        """Mark an open request whose time is up as expired (a no-op for any other)."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
            if not row.expired(now):
                return _Outcome()
            outcome = self._expire_in(conn, row, now)
            return _Outcome(records=outcome.records, retry=outcome.retry)

        return self._transact(request_id, attempt)

    def claim(self, request_id: str, object_keys: Iterable[str]) -> tuple[RequestRow, list[AuditRecord]]:
        """approved -> executing, taking a lock on every object the plan touches, in one transaction."""
        keys = sorted(set(object_keys))

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state is not RequestState.APPROVED:
                return _refusal("not_approved", not_runnable(row))
            if not _cas(conn, row, RequestState.EXECUTING, now, error=None):
                return _RETRY
            other = _lock(conn, row.tenant_id, row.request_id, keys, now)
            if other is not None:
                # Raising rolls the transition back; the service records the refusal afterwards.
                raise ApprovalRefused(
                    "overlap",
                    f"request {row.short_id} overlaps request {other[0][:8]}, which is executing on "
                    f"{other[1]}: wait for it to finish, then run this one",
                )
            event = NewEvent("executing", actor=None, detail={"plan_hash": row.plan_hash, "locks": len(keys)})
            return _Outcome(
                records=[self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            )

        return self._transact(request_id, attempt)

    def take_over(
        self, request_id: str, *, stale_after: timedelta, force: bool
    ) -> tuple[RequestRow, list[AuditRecord]]:
        """executing -> executing under a new version, for a runner resuming one whose runner died; the old
        runner (if it was only slow) then loses its final compare-and-set."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
            if row.state is not RequestState.EXECUTING:
                return _refusal("not_approved", not_runnable(row))
            idle = now - row.updated_at
            if not (force or row.error is not None or idle >= stale_after):
                return _refusal(
                    "not_approved",
                    f"request {row.short_id} is executing (last progress {int(idle.total_seconds())} s ago): "
                    "if its runner died, resume with --force",
                )
            if not _cas(conn, row, RequestState.EXECUTING, now, error=None):
                return _RETRY
            event = NewEvent("resumed", actor=None, detail={"idle_seconds": int(idle.total_seconds())})
            return _Outcome(
                records=[self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            )

        return self._transact(request_id, attempt)

    def heartbeat(self, row: RequestRow) -> bool:
        """Show the run is alive; False when another runner took the request over."""
        table = RESTORE_REQUESTS
        with self.catalog.writing() as conn:
            done = conn.execute(
                table.update()
                .where(
                    table.c.request_id == row.request_id,
                    table.c.state == RequestState.EXECUTING.value,
                    table.c.version == row.version,
                )
                .values(updated_at=self.catalog.clock())
            )
        return bool(done.rowcount)

    def interrupt(self, row: RequestRow, error: str) -> tuple[RequestRow | None, list[AuditRecord]]:
        """The runner stopped on an error worth retrying: the request stays executing (and locked), marked
        resumable at once."""
        now = self.catalog.clock()
        with self.catalog.writing() as conn:
            if not _cas(conn, row, RequestState.EXECUTING, now, error=error):
                return None, []
            event = NewEvent("interrupted", actor=None, detail={"error": error})
            records = [self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            return _read(conn, row.request_id), records

    def finish(
        self,
        row: RequestRow,
        state: RequestState,
        *,
        event: NewEvent,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> tuple[RequestRow | None, list[AuditRecord]]:
        """executing -> a final state, releasing the locks; (None, []) when another runner took over."""
        now = self.catalog.clock()
        with self.catalog.writing() as conn:
            extra: dict[str, Any] = {"error": error}
            if result is not None:
                extra["result"] = json.dumps(result, sort_keys=True)
            if not _cas(conn, row, state, now, **extra):
                return None, []
            _release_locks(conn, row.request_id)
            records = [self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
            return _read(conn, row.request_id), records

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

    # --- internals ------------------------------------------------------------------------------------

    def _expire_in(self, conn: Connection, row: RequestRow, now: datetime) -> _Outcome:
        if not _cas(conn, row, RequestState.EXPIRED, now):
            return _RETRY
        _release_locks(conn, row.request_id)
        event = NewEvent("expired", actor=None, detail={"expires_at": row.expires_at.isoformat()})
        records = [self.audit.append(conn, row.tenant_id, event, request_id=row.request_id, at=now)]
        return _Outcome(
            records=records,
            refusal=ApprovalRefused("expired", expired_message(row)),
        )

    def _transact(self, reference: str, attempt: _Attempt) -> tuple[RequestRow, list[AuditRecord]]:
        request_id = self.resolve(reference)
        for _ in range(_ATTEMPTS):
            with self.catalog.writing() as conn:
                row = _read(conn, request_id)
                if row is None:
                    raise RequestNotFound(f"restore request {reference} no longer exists")
                outcome = attempt(conn, row, self.catalog.clock())
                if outcome.retry:
                    conn.rollback()  # another writer committed first: decide again on the fresh row
                    continue
                fresh = _read(conn, request_id)
            # Committed (an expiry may have been recorded) before a refusal is raised.
            if outcome.refusal is not None:
                raise outcome.refusal
            assert fresh is not None
            return fresh, outcome.records
        raise RestoreError(f"request {request_id[:8]} kept changing under this decision: try again")


@dataclass
class _Outcome:
    records: list[AuditRecord] = field(default_factory=list)
    refusal: ApprovalRefused | None = None
    retry: bool = False


_RETRY = _Outcome(retry=True)

_Attempt: TypeAlias = Callable[[Connection, RequestRow, datetime], _Outcome]


def _refusal(reason: RefusalReason, message: str) -> _Outcome:
    return _Outcome(refusal=ApprovalRefused(reason, message))


def expired_message(row: RequestRow) -> str:
    return f"request {row.short_id} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC: request the restore again"


def _self_approval(row: RequestRow, person: Person) -> str:
    return f"{person} requested restore {row.short_id} and cannot approve it: a second person must approve"


def not_runnable(row: RequestRow) -> str:
    if row.state is RequestState.PENDING:
        have = len(row.approvals)
        return f"request {row.short_id} is not approved yet ({have} of {row.required_approvals} approvals)"
    if row.state is RequestState.EXECUTING:
        return f"request {row.short_id} is already executing"
    return f"request {row.short_id} is {row.state.value.replace('_', ' ')}: it cannot run again"


def _cas(conn: Connection, row: RequestRow, state: RequestState, now: datetime, **values: Any) -> bool:
    table = RESTORE_REQUESTS
    done = conn.execute(
        table.update()
        .where(
            table.c.request_id == row.request_id,
            table.c.state == row.state.value,
            table.c.version == row.version,
        )
        .values(state=state.value, version=table.c.version + 1, updated_at=now, **values)
    )
    return done.rowcount == 1


def _lock(
    conn: Connection, tenant_id: str, request_id: str, keys: Sequence[str], now: datetime
) -> tuple[str, str] | None:
    """Insert the locks (ignoring ones already held); the first (request, key) held by another request."""
    table = RESTORE_LOCKS
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        conn.execute(
            _insert_ignore(conn, table),
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


def _release_locks(conn: Connection, request_id: str) -> None:
    conn.execute(RESTORE_LOCKS.delete().where(RESTORE_LOCKS.c.request_id == request_id))


def _read(conn: Connection, request_id: str) -> RequestRow | None:
    row = conn.execute(sa.select(RESTORE_REQUESTS).where(RESTORE_REQUESTS.c.request_id == request_id)).first()
    if row is None:
        return None
    decided = conn.execute(
        sa.select(RESTORE_DECISIONS)
        .where(RESTORE_DECISIONS.c.request_id == request_id)
        .order_by(RESTORE_DECISIONS.c.decided_at, RESTORE_DECISIONS.c.person_key)
    )
    decisions = tuple(Decision(d.decision, Person.from_json(d.person), d.decided_at) for d in decided)
    return RequestRow(
        request_id=row.request_id,
        tenant_id=row.tenant_id,
        state=RequestState(row.state),
        version=row.version,
        plan_hash=row.plan_hash,
        plan_json=row.plan,
        selector=row.selector,
        snapshot_id=row.snapshot_id,
        summary=row.summary,
        requester=Person.from_json(row.requester),
        required_approvals=row.required_approvals,
        created_at=row.created_at,
        expires_at=row.expires_at,
        updated_at=row.updated_at,
        origin=json.loads(row.origin) if row.origin else None,
        result=json.loads(row.result) if row.result else None,
        error=row.error,
        decisions=decisions,
    )


def _insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
