"""A restore request as the CLI and the chat adapters show it: the stored row with plan and result read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from core.restore.executor import RestoreResult
from core.restore.identity import Person
from core.restore.model import Plan
from core.restore.request_row import RequestRow, RequestState


@dataclass(frozen=True)
class RequestView:
    request_id: str
    tenant_id: str
    state: RequestState
    plan_json: str  # parsed on first use (``plan``): listing requests needs none of their plans
    selector: str
    snapshot_id: str
    plan_hash: str
    summary: str
    requester: Person
    approvals: tuple[Person, ...]
    rejected_by: Person | None
    required_approvals: int
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    origin: dict[str, Any] | None
    result: RestoreResult | None
    error: str | None

    @cached_property
    def plan(self) -> Plan:
        return Plan.from_canonical(self.plan_json.encode())

    @property
    def short_id(self) -> str:
        return self.request_id[:8]

    @property
    def approvals_needed(self) -> int:
        return max(0, self.required_approvals - len(self.approvals))

    def to_json(self, *, with_plan: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.request_id,
            "tenant_id": self.tenant_id,
            "state": self.state.value,
            "plan_hash": self.plan_hash,
            "summary": self.summary,
            "selector": self.selector,
            "snapshot_id": self.snapshot_id,
            "requester": self.requester.to_json(),
            "approvals": [p.to_json() for p in self.approvals],
            "rejected_by": self.rejected_by.to_json() if self.rejected_by else None,
            "required_approvals": self.required_approvals,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "origin": self.origin,
            "result": self.result.to_json() if self.result else None,
            "error": self.error,
        }
        if with_plan:
            out["plan"] = self.plan.to_json()
        return out


def view_of(row: RequestRow) -> RequestView:
    return RequestView(
        request_id=row.request_id,
        tenant_id=row.tenant_id,
        state=row.state,
        plan_json=row.plan_json,
        selector=row.selector,
        snapshot_id=row.snapshot_id,
        plan_hash=row.plan_hash,
        summary=row.summary,
        requester=row.requester,
        approvals=row.approvals,
        rejected_by=row.rejected_by,
        required_approvals=row.required_approvals,
        created_at=row.created_at,
        expires_at=row.expires_at,
        updated_at=row.updated_at,
        origin=row.origin,
        result=RestoreResult.from_json(row.result) if row.result else None,
        error=row.error,
    )
