"""The restore request state machine over RESTORE_REQUESTS, RESTORE_DECISIONS and RESTORE_LOCKS.

pending -> approved (enough distinct approvers) -> executing (locks taken) -> succeeded, partially_failed or
failed; pending -> rejected; pending or approved -> cancelled or expired. Each transition runs in the
compare-and-set loop of ``request_store``, with its audit event in the same transaction.

Rules that need Graph (group membership, resolving an email to an Entra user) are checked by the service
before it calls in here; the rules that only need the database (pending, not expired, not the same person
twice, the number of approvals) are checked again inside the transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.engine import Connection

from core.catalog.models import RESTORE_DECISIONS, RESTORE_REQUESTS, TENANTS
from core.restore.approval_rules import (
    CONDITIONAL_ACCESS_TYPES,
    PRIVILEGED_ROLE_TYPES,
    ApprovalPolicy,
    expired_message,
    not_runnable,
    privileged_reasons,
    self_approval_message,
)
from core.restore.audit import AuditRecord, NewEvent
from core.restore.errors import ApprovalRefused, RefusalReason, RequestNotFound
from core.restore.identity import Person
from core.restore.model import Plan
from core.restore.request_locks import insert_ignore, release_locks, take_locks
from core.restore.request_row import OPEN, TERMINAL, Decision, RequestRow, RequestState, read_request
from core.restore.request_store import (
    MIN_PREFIX,
    RETRY,
    Outcome,
    RequestStore,
    compare_and_set,
    refusal,
)

__all__ = [
    "CONDITIONAL_ACCESS_TYPES",
    "MIN_PREFIX",
    "OPEN",
    "PRIVILEGED_ROLE_TYPES",
    "TERMINAL",
    "ApprovalPolicy",
    "ApprovalRefused",
    "Decision",
    "RefusalReason",
    "RequestNotFound",
    "RequestRow",
    "RequestState",
    "Requests",
    "expired_message",
    "insert_request",
    "not_runnable",
    "privileged_reasons",
]


def insert_request(
    conn: Connection,
    plan: Plan,
    requester: Person,
    *,
    state: RequestState,
    required_approvals: int,
    now: datetime,
    ttl: timedelta,
    origin: dict[str, Any] | None = None,
) -> str:
    """Insert a request row for ``plan`` (and its tenant, if new) and return its id. No audit event: the
    caller records the one its transition means."""
    request_id = secrets.token_hex(16)
    conn.execute(insert_ignore(conn, TENANTS), {"tenant_id": plan.tenant_id, "added_at": now})
    conn.execute(
        RESTORE_REQUESTS.insert().values(
            request_id=request_id,
            tenant_id=plan.tenant_id,
            state=state.value,
            version=1,
            plan_hash=plan.plan_hash,
            plan=plan.canonical().decode(),
            selector=plan.selector,
            snapshot_id=plan.snapshot_id,
            summary=plan.summary_line(),
            requester_key=requester.key,
            requester=json.dumps(requester.to_json(), sort_keys=True),
            required_approvals=required_approvals,
            created_at=now,
            expires_at=now + ttl,
            updated_at=now,
            origin=json.dumps(origin, sort_keys=True) if origin is not None else None,
        )
    )
    return request_id


class Requests(RequestStore):
    """The transitions of restore requests, each a compare-and-set with its audit event."""

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
        with self.catalog.writing() as conn:
            request_id = insert_request(
                conn,
                plan,
                requester,
                state=RequestState.PENDING,
                required_approvals=required_approvals,
                now=now,
                ttl=ttl,
                origin=origin,
            )
            row = read_request(conn, request_id)
            assert row is not None
            event = NewEvent(
                "requested",
                actor=requester,
                detail={
                    "summary": row.summary,
                    "plan_hash": plan.plan_hash,
                    "selector": plan.selector,
                    "snapshot_id": plan.snapshot_id,
                    "required_approvals": required_approvals,
                    "expires_at": (now + ttl).isoformat(),
                    "requester": requester.to_json(),
                },
            )
            records = [self.audit.append(conn, plan.tenant_id, event, request_id=request_id, at=now)]
        return row, records

    def decide(
        self, request_id: str, person: Person, decision: Literal["approve", "reject"], reason: str | None
    ) -> tuple[RequestRow, list[AuditRecord]]:
        """Record one person's approval or rejection; the last approval needed moves it to approved,
        a rejection ends it. Raises ApprovalRefused (after recording an expiry) when not allowed."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state is not RequestState.PENDING:
                return refusal("not_pending", f"request {row.short_id} is {row.state.value}, not pending")
            if person.same_person(row.requester):
                if decision == "reject":
                    return refusal("self_approval", f"{person} requested {row.short_id}: cancel it instead")
                return refusal("self_approval", self_approval_message(row, person))
            for earlier in row.decisions:
                if earlier.person.same_person(person):
                    verb = "approved" if earlier.decision == "approve" else "rejected"
                    return refusal("already_decided", f"{person} already {verb} request {row.short_id}")
            approvals = len(row.approvals) + (decision == "approve")
            if decision == "reject":
                new_state = RequestState.REJECTED
            elif approvals >= row.required_approvals:
                new_state = RequestState.APPROVED
            else:
                new_state = RequestState.PENDING
            if not compare_and_set(conn, row, new_state, now):
                return RETRY
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
            records = self.append(conn, row, event, now)
            if new_state in TERMINAL:
                release_locks(conn, row.request_id)
            return Outcome(records=records)

        return self.transact(request_id, attempt)

    def cancel(self, request_id: str, person: Person) -> tuple[RequestRow, list[AuditRecord]]:
        def attempt(conn: Connection, row: RequestRow, now: datetime) -> Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state not in OPEN:
                return refusal(
                    "not_pending", f"request {row.short_id} is {row.state.value}: too late to cancel"
                )
            if not compare_and_set(conn, row, RequestState.CANCELLED, now):
                return RETRY
            event = NewEvent("cancelled", actor=person, detail={"person": person.to_json()})
            return Outcome(records=self.append(conn, row, event, now))

        return self.transact(request_id, attempt)

    def expire(self, request_id: str) -> tuple[RequestRow, list[AuditRecord]]:
        """Mark an open request whose time is up as expired (a no-op for any other)."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> Outcome:
            if not row.expired(now):
                return Outcome()
            outcome = self._expire_in(conn, row, now)
            return Outcome(records=outcome.records, retry=outcome.retry)

        return self.transact(request_id, attempt)

    def claim(self, request_id: str, object_keys: Iterable[str]) -> tuple[RequestRow, list[AuditRecord]]:
        """approved -> executing, taking a lock on every object the plan touches, in one transaction."""
        keys = sorted(set(object_keys))

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> Outcome:
            if row.expired(now):
                return self._expire_in(conn, row, now)
            if row.state is not RequestState.APPROVED:
                return refusal("not_approved", not_runnable(row))
            if not compare_and_set(conn, row, RequestState.EXECUTING, now, error=None):
                return RETRY
            other = take_locks(conn, row.tenant_id, row.request_id, keys, now)
            if other is not None:
                # Raising rolls the transition back; the service records the refusal afterwards.
                raise ApprovalRefused(
                    "overlap",
                    f"request {row.short_id} overlaps request {other[0][:8]}, which is executing on "
                    f"{other[1]}: wait for it to finish, then run this one",
                )
            event = NewEvent("executing", actor=None, detail={"plan_hash": row.plan_hash, "locks": len(keys)})
            return Outcome(records=self.append(conn, row, event, now))

        return self.transact(request_id, attempt)

    def take_over(
        self, request_id: str, *, stale_after: timedelta, force: bool
    ) -> tuple[RequestRow, list[AuditRecord]]:
        """executing -> executing under a new version, for a runner resuming one whose runner died; the old
        runner (if it was only slow) then loses its final compare-and-set."""

        def attempt(conn: Connection, row: RequestRow, now: datetime) -> Outcome:
            if row.state is not RequestState.EXECUTING:
                return refusal("not_approved", not_runnable(row))
            idle = now - row.updated_at
            if not (force or row.error is not None or idle >= stale_after):
                return refusal(
                    "not_approved",
                    f"request {row.short_id} is executing (last progress {int(idle.total_seconds())} s ago): "
                    "if its runner died, resume with --force",
                )
            if not compare_and_set(conn, row, RequestState.EXECUTING, now, error=None):
                return RETRY
            event = NewEvent("resumed", actor=None, detail={"idle_seconds": int(idle.total_seconds())})
            return Outcome(records=self.append(conn, row, event, now))

        return self.transact(request_id, attempt)

    def interrupt(self, row: RequestRow, error: str) -> tuple[RequestRow | None, list[AuditRecord]]:
        """The runner stopped on an error worth retrying: the request stays executing (and locked), marked
        resumable at once."""
        now = self.catalog.clock()
        with self.catalog.writing() as conn:
            if not compare_and_set(conn, row, RequestState.EXECUTING, now, error=error):
                return None, []
            records = self.append(
                conn, row, NewEvent("interrupted", actor=None, detail={"error": error}), now
            )
            return read_request(conn, row.request_id), records

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
            if not compare_and_set(conn, row, state, now, **extra):
                return None, []
            release_locks(conn, row.request_id)
            records = self.append(conn, row, event, now)
            return read_request(conn, row.request_id), records

    def _expire_in(self, conn: Connection, row: RequestRow, now: datetime) -> Outcome:
        if not compare_and_set(conn, row, RequestState.EXPIRED, now):
            return RETRY
        release_locks(conn, row.request_id)
        event = NewEvent("expired", actor=None, detail={"expires_at": row.expires_at.isoformat()})
        return Outcome(
            records=self.append(conn, row, event, now),
            refusal=ApprovalRefused("expired", expired_message(row)),
        )
