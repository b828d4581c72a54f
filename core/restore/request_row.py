"""A restore request as stored in RESTORE_REQUESTS, with its decisions from RESTORE_DECISIONS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.catalog.models import RESTORE_DECISIONS, RESTORE_REQUESTS
from core.restore.identity import Person


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


def read_request(conn: Connection, request_id: str) -> RequestRow | None:
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
