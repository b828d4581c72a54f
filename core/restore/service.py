"""The restore workflow: plan, request, approve by a second person, execute exactly once, audit everything.

This is the one entry point for the command line and the chat adapters (``bot/``). It checks the rules that
need Graph (``approvers``: who may approve, the configured list and/or transitive membership of an Entra
group, checked at the click and again just before execution) and delegates the state machine to
``core.restore.approval``, the run to ``core.restore.request_run`` and the trail to ``core.restore.audit``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import structlog

from core.catalog import Catalog
from core.graph import GraphClient
from core.repository import Repository
from core.restore.approval import Requests
from core.restore.approval_rules import (
    ApprovalPolicy,
    expired_message,
    not_runnable,
    privileged_reasons,
    self_approval_message,
)
from core.restore.approvers import identify, may_approve
from core.restore.audit import AuditRecord, AuditTrail, NewEvent
from core.restore.errors import ApprovalRefused, RefusalReason, RequestNotFound, RestoreError
from core.restore.graph_live import GraphLiveTenant
from core.restore.identity import Person
from core.restore.model import Plan, role_assignable
from core.restore.planner import PlanOptions, plan_restore
from core.restore.request_row import OPEN, RequestRow, RequestState
from core.restore.request_run import HEARTBEAT, Executor, ExecutorFor, Progress, RequestRunner, real_executor
from core.restore.request_view import RequestView, view_of
from core.restore.selection import snapshot_reader

__all__ = [
    "HEARTBEAT",
    "STALE_AFTER",
    "ApprovalPolicy",
    "ApprovalRefused",
    "Executor",
    "Progress",
    "RequestNotFound",
    "RequestState",
    "RequestView",
    "RestoreService",
]

STALE_AFTER = timedelta(minutes=10)  # an executing request this quiet is presumed to have lost its runner

log = structlog.get_logger("rewind.restore")


class RestoreService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        repository_for: Callable[[str], Repository],
        graph_for: Callable[[str], GraphClient],
        policy: ApprovalPolicy,
        options: PlanOptions = PlanOptions(),  # noqa: B008 - frozen, so sharing the default is safe
        store_audit: bool = True,
        executor_for: ExecutorFor | None = None,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.options = options
        self._repository_for = repository_for
        self._graph_for = graph_for
        self._stale_after = stale_after
        self._repositories: dict[str, Repository] = {}
        self._opening = threading.Lock()
        self.audit = AuditTrail(catalog, self.repository if store_audit else None)
        self._requests = Requests(catalog, self.audit)
        self._runner = RequestRunner(self._requests, graph_for, executor_for or real_executor)

    def repository(self, tenant_id: str) -> Repository:
        """The tenant's repository, opened once per service."""
        with self._opening:
            repository = self._repositories.get(tenant_id)
            if repository is None:
                repository = self._repositories[tenant_id] = self._repository_for(tenant_id)
            return repository

    # --- planning and requesting ----------------------------------------------------------------------

    async def plan(self, tenant_id: str, selector: str, *, snapshot: str | None = None) -> Plan:
        repository = self.repository(tenant_id)
        async with self._graph_for(tenant_id) as graph:
            return await plan_restore(
                tenant_id=tenant_id,
                catalog=self.catalog,
                repository=repository,
                live=GraphLiveTenant(graph),
                selector=selector,
                snapshot=snapshot,
                options=self.options,
            )

    async def request(
        self,
        tenant_id: str,
        selector: str,
        *,
        requester: Person,
        snapshot: str | None = None,
        origin: dict[str, Any] | None = None,
        plan: Plan | None = None,
    ) -> RequestView:
        async with self._graph_for(tenant_id) as graph:
            requester = await identify(graph, self.policy, requester)
            if self.policy.restricted and not await may_approve(graph, self.policy, requester):
                raise self._refuse(
                    tenant_id,
                    None,
                    requester,
                    "not_requester",
                    f"{requester} may not request restores: only configured approvers may "
                    "(REWIND_APPROVERS / REWIND_APPROVER_GROUP)",
                )
        if plan is None:
            plan = await self.plan(tenant_id, selector, snapshot=snapshot)
        if plan.tenant_id != tenant_id:
            raise RestoreError(f"the plan is for tenant {plan.tenant_id}, not {tenant_id}")
        if not plan.writes():
            raise RestoreError(f"nothing to restore: {plan.summary_line()}")
        reasons = privileged_reasons(plan, self._role_assignable_groups(plan))
        required = max(1, self.policy.privileged_approvals) if reasons else 1
        row, records = self._requests.create(
            plan=plan, requester=requester, required_approvals=required, ttl=self.policy.ttl, origin=origin
        )
        self.audit.publish(records)
        return view_of(row)

    # --- decisions ------------------------------------------------------------------------------------

    async def approve(self, request_id: str, *, approver: Person) -> RequestView:
        """pending -> approved once enough distinct approvers agreed; never executes."""
        return await self._decide(request_id, approver, "approve", None)

    async def reject(self, request_id: str, *, person: Person, reason: str | None = None) -> RequestView:
        return await self._decide(request_id, person, "reject", reason)

    async def cancel(self, request_id: str, *, person: Person) -> RequestView:
        row = self._requests.load(request_id)
        if not person.same_person(row.requester):
            async with self._graph_for(row.tenant_id) as graph:
                person = await identify(graph, self.policy, person)
                if not person.same_person(row.requester) and not (
                    self.policy.restricted and await may_approve(graph, self.policy, person)
                ):
                    raise self._refuse(
                        row.tenant_id,
                        row.request_id,
                        person,
                        "not_requester",
                        f"only the requester ({row.requester}) or an approver may cancel {row.short_id}",
                    )
        fresh, records = self._requests.cancel(row.request_id, person)
        self.audit.publish(records)
        return view_of(fresh)

    async def _decide(self, reference: str, person: Person, decision: Any, reason: str | None) -> RequestView:
        row = self._requests.load(reference)
        self._expire_if_due(row)
        if row.state is not RequestState.PENDING:
            raise ApprovalRefused("not_pending", f"request {row.short_id} is {row.state.value}, not pending")
        async with self._graph_for(row.tenant_id) as graph:
            person = await identify(graph, self.policy, person)
            if person.same_person(row.requester) and decision == "approve":
                raise self._refuse(
                    row.tenant_id,
                    row.request_id,
                    person,
                    "self_approval",
                    self_approval_message(row, person),
                )
            if not await may_approve(graph, self.policy, person):
                raise self._refuse(
                    row.tenant_id,
                    row.request_id,
                    person,
                    "not_approver",
                    f"{person} is not an approver: see REWIND_APPROVERS / REWIND_APPROVER_GROUP",
                )
        try:
            fresh, records = self._requests.decide(row.request_id, person, decision, reason)
        except ApprovalRefused as refused:
            if refused.reason != "expired":  # an expiry is already in the trail
                self._record_refusal(row.tenant_id, row.request_id, person, refused)
            raise
        self.audit.publish(records)
        return view_of(fresh)

    # --- execution ------------------------------------------------------------------------------------

    async def execute(self, request_id: str, *, progress: Progress | None = None) -> RequestView:
        """approved -> executing -> final, exactly once however many callers race."""
        row = self._requests.load(request_id)
        self._expire_if_due(row)
        if row.state is not RequestState.APPROVED:  # the claim checks again inside its transaction
            raise ApprovalRefused("not_approved", not_runnable(row))
        await self._recheck_approvers(row)
        plan = self._runner.approved_plan(row)
        if plan is None:
            return self.get(row.request_id)
        try:
            claimed, records = self._requests.claim(row.request_id, plan.object_keys())
        except ApprovalRefused as refused:
            self._record_refusal(row.tenant_id, row.request_id, None, refused)
            raise
        self.audit.publish(records)
        return await self._runner.run(claimed, plan, progress)

    async def resume(
        self, request_id: str, *, progress: Progress | None = None, force: bool = False
    ) -> RequestView:
        """Take over an executing request whose runner died (quiet for ``stale_after``, stopped on an error,
        or ``force``) and continue it from its journal."""
        row = self._requests.load(request_id)
        if row.state is RequestState.APPROVED:
            return await self.execute(row.request_id, progress=progress)
        await self._recheck_approvers(row)
        plan = self._runner.approved_plan(row)
        if plan is None:
            return self.get(row.request_id)
        claimed, records = self._requests.take_over(
            row.request_id, stale_after=self._stale_after, force=force
        )
        self.audit.publish(records)
        return await self._runner.run(claimed, plan, progress)

    # --- reading --------------------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestView:
        return view_of(self._requests.load(request_id))

    def requests(
        self,
        tenant_id: str | None = None,
        *,
        states: Iterable[RequestState] | None = None,
        limit: int = 50,
    ) -> list[RequestView]:
        return [view_of(r) for r in self._requests.find(tenant_id, states=states, limit=limit)]

    def expire_due(self) -> list[RequestView]:
        """Mark every open request whose time is up as expired; the ones that changed."""
        expired: list[RequestView] = []
        # Read only the due ones: this runs every minute in a server, where most open requests are not.
        for request_id in self._requests.find_ids(states=OPEN, due=self.catalog.clock(), limit=10_000):
            fresh, records = self._requests.expire(request_id)  # checks again, in its own transaction
            self.audit.publish(records)
            if records:
                expired.append(view_of(fresh))
        return expired

    def set_origin(self, request_id: str, origin: dict[str, Any]) -> None:
        self._requests.set_origin(request_id, origin)

    # --- helpers --------------------------------------------------------------------------------------

    async def _recheck_approvers(self, row: RequestRow) -> None:
        """Approvers must still qualify just before the run (removed from the group since the click?)."""
        if self.policy.approver_group is None:
            return
        async with self._graph_for(row.tenant_id) as graph:
            for approver in row.approvals:
                if not await may_approve(graph, self.policy, approver):
                    raise self._refuse(
                        row.tenant_id,
                        row.request_id,
                        approver,
                        "not_approver",
                        f"{approver} approved {row.short_id} but is no longer an approver: "
                        "another approver must approve a new request",
                    )

    def _role_assignable_groups(self, plan: Plan) -> list[str]:
        groups = [key.split("/", 1)[1] for key in plan.object_keys() if key.startswith("group/")]
        if not groups:
            return []
        try:
            reader = snapshot_reader(self.repository(plan.tenant_id), plan.snapshot_id)
            found = []
            for group_id in groups:
                stored = reader.get("group", group_id)
                if stored is not None and role_assignable(stored.object):
                    found.append(group_id)
            return found
        except Exception as exc:  # unreadable: be strict rather than let a privileged change through
            log.warning("role_assignable_check_failed", error=str(exc))
            return groups

    def _expire_if_due(self, row: RequestRow) -> None:
        if row.expired(self.catalog.clock()):
            _, records = self._requests.expire(row.request_id)
            self.audit.publish(records)
            raise ApprovalRefused("expired", expired_message(row))

    def _refuse(
        self,
        tenant_id: str,
        request_id: str | None,
        person: Person | None,
        reason: RefusalReason,
        message: str,
    ) -> ApprovalRefused:
        refused = ApprovalRefused(reason, message)
        self._record_refusal(tenant_id, request_id, person, refused)
        return refused

    def _record_refusal(
        self, tenant_id: str, request_id: str | None, person: Person | None, refused: ApprovalRefused
    ) -> None:
        event = NewEvent("refused", actor=person, detail={"reason": refused.reason, "message": str(refused)})
        records: list[AuditRecord] = self._requests.record(tenant_id, event, request_id)
        self.audit.publish(records)
