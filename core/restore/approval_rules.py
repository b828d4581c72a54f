"""Who may approve, how many approvals a plan needs, and the one-line messages when a rule says no."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.restore.identity import Person
from core.restore.model import Plan, role_assignable
from core.restore.request_row import RequestRow, RequestState

# Changes to these need policy.privileged_approvals distinct approvers.
PRIVILEGED_ROLE_TYPES = frozenset(
    {"unifiedRoleAssignment", "unifiedRoleEligibilitySchedule", "unifiedRoleDefinition"}
)
CONDITIONAL_ACCESS_TYPES = frozenset(
    {"conditionalAccessPolicy", "namedLocation", "authenticationStrengthPolicy"}
)


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
            elif kind == "group" and (oid in assignable or role_assignable(action.body)):
                found.add("role-assignable groups")
    return sorted(found)


def expired_message(row: RequestRow) -> str:
    return f"request {row.short_id} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC: request the restore again"


def self_approval_message(row: RequestRow, person: Person) -> str:
    return f"{person} requested restore {row.short_id} and cannot approve it: a second person must approve"


def not_runnable(row: RequestRow) -> str:
    if row.state is RequestState.PENDING:
        have = len(row.approvals)
        return f"request {row.short_id} is not approved yet ({have} of {row.required_approvals} approvals)"
    if row.state is RequestState.EXECUTING:
        return f"request {row.short_id} is already executing"
    return f"request {row.short_id} is {row.state.value.replace('_', ' ')}: it cannot run again"
