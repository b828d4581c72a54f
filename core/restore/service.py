"""The restore workflow: plan, request, approve by a second person, execute exactly once, audit everything.

This is the one entry point for the command line and the chat adapters (``bot/``). It owns the rules that
need Graph (who may approve: the configured list and/or transitive membership of an Entra group, checked at
the click and again just before execution; resolving an email to its Entra user) and delegates the state
machine to ``core.restore.approval`` and the trail to ``core.restore.audit``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from core.catalog import Catalog
from core.graph import GraphClient, GraphError
from core.graph.errors import ErrorKind
from core.graph.errors import NotFound as GraphNotFound
from core.repository import Repository
from core.restore.approval import (
    OPEN,
    ApprovalPolicy,
    ApprovalRefused,
    RequestNotFound,
    RequestRow,
    Requests,
    RequestState,
    expired_message,
    not_runnable,
    privileged_reasons,
)
from core.restore.audit import AuditRecord, AuditTrail, NewEvent
from core.restore.errors import PlanDrifted, RestoreError
from core.restore.executor import RestoreExecutor, RestoreResult, StepEvent
from core.restore.graph_live import GraphLiveTenant
from core.restore.identity import Person, is_object_id
from core.restore.journal import Journal
from core.restore.model import Plan
from core.restore.planner import PlanOptions, plan_restore
from core.snapshots import SnapshotReader

__all__ = [
    "ApprovalPolicy",
    "ApprovalRefused",
    "RequestNotFound",
    "RequestState",
    "RequestView",
    "RestoreService",
]

Progress = Callable[[StepEvent], Awaitable[None]]
HEARTBEAT = timedelta(seconds=5)
STALE_AFTER = timedelta(minutes=10)  # an executing request this quiet is presumed to have lost its runner

log = structlog.get_logger("rewind.restore")


class Executor(Protocol):
    async def run(
        self, plan: Plan, *, request_id: str, progress: Progress | None = None
    ) -> RestoreResult: ...


@dataclass(frozen=True)
class RequestView:
    request_id: str
    tenant_id: str
    state: RequestState
    plan: Plan
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
            "selector": self.plan.selector,
            "snapshot_id": self.plan.snapshot_id,
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
        executor_for: Callable[[GraphClient, Catalog], Executor] | None = None,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.options = options
        self._repository_for = repository_for
        self._graph_for = graph_for
        self._executor_for = executor_for or _real_executor
        self._stale_after = stale_after
        self._repositories: dict[str, Repository] = {}
        self._opening = threading.Lock()
        self.audit = AuditTrail(catalog, self.repository if store_audit else None)
        self._requests = Requests(catalog, self.audit)

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
            requester = await self._identify(graph, requester)
            if self.policy.restricted and not await self._allowed(graph, requester):
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
        return self._view(row)

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
                person = await self._identify(graph, person)
                if not person.same_person(row.requester) and not (
                    self.policy.restricted and await self._allowed(graph, person)
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
        return self._view(fresh)

    async def _decide(self, reference: str, person: Person, decision: Any, reason: str | None) -> RequestView:
        row = self._requests.load(reference)
        self._expire_if_due(row)
        if row.state is not RequestState.PENDING:
            raise ApprovalRefused("not_pending", f"request {row.short_id} is {row.state.value}, not pending")
        async with self._graph_for(row.tenant_id) as graph:
            person = await self._identify(graph, person)
            if person.same_person(row.requester) and decision == "approve":
                raise self._refuse(
                    row.tenant_id,
                    row.request_id,
                    person,
                    "self_approval",
                    f"{person} requested restore {row.short_id} and cannot approve it: a second person must",
                )
            if not await self._allowed(graph, person):
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
        return self._view(fresh)

    # --- execution ------------------------------------------------------------------------------------

    async def execute(self, request_id: str, *, progress: Progress | None = None) -> RequestView:
        """approved -> executing -> final, exactly once however many callers race."""
        row = self._requests.load(request_id)
        self._expire_if_due(row)
        if row.state is not RequestState.APPROVED:  # the claim checks again inside its transaction
            raise ApprovalRefused("not_approved", not_runnable(row))
        await self._recheck_approvers(row)
        plan = self._approved_plan(row)
        if plan is None:
            return self.get(row.request_id)
        try:
            claimed, records = self._requests.claim(row.request_id, plan.object_keys())
        except ApprovalRefused as refused:
            self._record_refusal(row.tenant_id, row.request_id, None, refused)
            raise
        self.audit.publish(records)
        return await self._run(claimed, plan, progress)

    async def resume(
        self, request_id: str, *, progress: Progress | None = None, force: bool = False
    ) -> RequestView:
        """Take over an executing request whose runner died (quiet for ``stale_after``, stopped on an error,
        or ``force``) and continue it from its journal."""
        row = self._requests.load(request_id)
        if row.state is RequestState.APPROVED:
            return await self.execute(row.request_id, progress=progress)
        await self._recheck_approvers(row)
        plan = self._approved_plan(row)
        if plan is None:
            return self.get(row.request_id)
        claimed, records = self._requests.take_over(
            row.request_id, stale_after=self._stale_after, force=force
        )
        self.audit.publish(records)
        return await self._run(claimed, plan, progress)

    async def _run(self, row: RequestRow, plan: Plan, progress: Progress | None) -> RequestView:
        beat = _Heartbeat(self._requests, row, self.catalog)

        async def report(event: StepEvent) -> None:
            beat()
            if progress is not None:
                await progress(event)

        try:
            async with self._graph_for(row.tenant_id) as graph:
                executor = self._executor_for(graph, self.catalog)
                result = await executor.run(plan, request_id=row.request_id, progress=report)
        except _TakenOver:
            return self.get(row.request_id)
        except PlanDrifted as drift:
            detail = {"keys": drift.keys[:100], "drifted": len(drift.keys)}
            return self._settle(
                row, RequestState.FAILED, NewEvent("drifted", detail=detail), None, str(drift), drift
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.RETRYABLE:
                return self._interrupt(row, exc)
            return self._settle(
                row, RequestState.FAILED, NewEvent("failed", detail={"error": str(exc)}), None, str(exc)
            )
        except RestoreError as exc:
            return self._settle(
                row, RequestState.FAILED, NewEvent("failed", detail={"error": str(exc)}), None, str(exc)
            )
        except Exception as exc:
            # Unknown: leave it executing and resumable at once; the journal makes a retry safe.
            self._interrupt(row, exc)
            raise
        failures = [o for o in result.outcomes if o.status in ("failed", "mismatch")]
        if failures:
            summary = [
                {"type": o.object_type, "id": o.object_id, "name": o.display_name, "status": o.status,
                 "detail": o.detail}
                for o in failures[:50]
            ]  # fmt: skip
            with self.catalog.writing() as conn:
                record = self.audit.append(
                    conn,
                    row.tenant_id,
                    NewEvent("step_failures", detail={"failed": len(failures), "objects": summary}),
                    request_id=row.request_id,
                )
            self.audit.publish([record])
        state = RequestState(result.status)
        detail = {
            "status": result.status,
            "steps_done": result.steps_done,
            "steps_failed": result.steps_failed,
            "outcomes": _count(o.status for o in result.outcomes),
            "new_ids": len(result.new_ids),
        }
        return self._settle(row, state, NewEvent(result.status, detail=detail), result.to_json(), None)

    def _settle(
        self,
        row: RequestRow,
        state: RequestState,
        event: NewEvent,
        result: dict[str, Any] | None,
        error: str | None,
        refusal: PlanDrifted | None = None,
    ) -> RequestView:
        final, records = self._requests.finish(row, state, event=event, result=result, error=error)
        self.audit.publish(records)
        if final is None:
            log.warning("restore_taken_over", request_id=row.request_id)
            return self.get(row.request_id)
        if refusal is not None:
            raise ApprovalRefused(
                "drifted",
                f"request {row.short_id} was not run: {refusal} The tenant changed since the plan; "
                "request the restore again for a new plan and a new approval",
            )
        return self._view(final)

    def _interrupt(self, row: RequestRow, exc: BaseException) -> RequestView:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, GraphError) else str(exc)
        current, records = self._requests.interrupt(row, message.splitlines()[0] if message else "")
        self.audit.publish(records)
        return self._view(current) if current is not None else self.get(row.request_id)

    def _approved_plan(self, row: RequestRow) -> Plan | None:
        """The stored plan, when its hash is the approved one; otherwise the request fails (None)."""
        try:
            plan = Plan.from_canonical(row.plan_json.encode())
        except (ValueError, KeyError, TypeError):
            plan = None
        if plan is not None and plan.plan_hash == row.plan_hash:
            return plan
        error = f"the stored plan of request {row.short_id} does not match the approved plan hash"
        _, records = self._requests.finish(
            row, RequestState.FAILED, event=NewEvent("failed", detail={"error": error}), error=error
        )
        self.audit.publish(records)
        return None

    # --- reading --------------------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestView:
        return self._view(self._requests.load(request_id))

    def requests(
        self,
        tenant_id: str | None = None,
        *,
        states: Iterable[RequestState] | None = None,
        limit: int = 50,
    ) -> list[RequestView]:
        return [self._view(r) for r in self._requests.find(tenant_id, states=states, limit=limit)]

    def expire_due(self) -> list[RequestView]:
        """Mark every open request whose time is up as expired; the ones that changed."""
        now = self.catalog.clock()
        expired: list[RequestView] = []
        for row in self._requests.find(states=OPEN, limit=10_000):
            if row.expired(now):
                fresh, records = self._requests.expire(row.request_id)
                self.audit.publish(records)
                if records:
                    expired.append(self._view(fresh))
        return expired

    def set_origin(self, request_id: str, origin: dict[str, Any]) -> None:
        self._requests.set_origin(request_id, origin)

    # --- rules that need Graph ------------------------------------------------------------------------

    async def _identify(self, graph: GraphClient, person: Person) -> Person:
        """The person with their Entra object id and email when the directory knows them (so two accounts
        of one person are recognised); unchanged when it does not."""
        if person.entra_id and person.email:
            return person
        lookup = person.entra_id or person.email
        if lookup is None:
            return person
        try:
            user = await graph.get(f"/users/{lookup}", params={"$select": "id,userPrincipalName,mail"})
        except GraphNotFound:
            return person
        except GraphError as exc:
            if self.policy.approver_group is not None:
                raise  # membership cannot be checked without the directory
            log.warning("identity_lookup_failed", error=str(exc))
            return person
        aliases = set(person.aliases)
        if user.get("id"):
            aliases.add(f"entra:{str(user['id']).lower()}")
        for name in ("userPrincipalName", "mail"):
            if user.get(name):
                aliases.add(f"email:{str(user[name]).strip().lower()}")
        return Person(display=person.display, aliases=frozenset(aliases))

    async def _allowed(self, graph: GraphClient, person: Person) -> bool:
        policy = self.policy
        if not policy.restricted or person.matches_any(policy.approvers):
            return True
        if policy.approver_group is None:
            return False
        entra_id = person.entra_id
        if entra_id is None or not is_object_id(entra_id):
            raise ApprovalRefused(
                "not_approver",
                f"{person} is not a user of this tenant, so membership of the approver group cannot be "
                "checked: act as the Entra account (its email or object id)",
            )
        answer = await graph.request(
            "POST", f"/users/{entra_id}/checkMemberGroups", json={"groupIds": [policy.approver_group]}
        )
        found = answer.json.get("value", []) if isinstance(answer.json, dict) else []
        return policy.approver_group.lower() in {str(g).lower() for g in found}

    async def _recheck_approvers(self, row: RequestRow) -> None:
        """Approvers must still qualify just before the run (removed from the group since the click?)."""
        if self.policy.approver_group is None:
            return
        async with self._graph_for(row.tenant_id) as graph:
            for approver in row.approvals:
                if not await self._allowed(graph, approver):
                    raise self._refuse(
                        row.tenant_id,
                        row.request_id,
                        approver,
                        "not_approver",
                        f"{approver} approved {row.short_id} but is no longer an approver: "
                        "another approver must approve a new request",
                    )

    # --- helpers --------------------------------------------------------------------------------------

    def _role_assignable_groups(self, plan: Plan) -> list[str]:
        groups = [key.split("/", 1)[1] for key in plan.object_keys() if key.startswith("group/")]
        if not groups:
            return []
        try:
            repository = self.repository(plan.tenant_id)
            reader = SnapshotReader(
                repository, {**repository.load_snapshot(plan.snapshot_id), "id": plan.snapshot_id}
            )
            found = []
            for group_id in groups:
                stored = reader.get("group", group_id)
                if stored is not None and stored.object.get("isAssignableToRole"):
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
        reason: Any,
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

    def _view(self, row: RequestRow) -> RequestView:
        return RequestView(
            request_id=row.request_id,
            tenant_id=row.tenant_id,
            state=row.state,
            plan=Plan.from_canonical(row.plan_json.encode()),
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


class _TakenOver(RestoreError):
    pass


class _Heartbeat:
    """Marks the request alive every few seconds of progress; stops the run if another runner took over."""

    def __init__(self, requests: Requests, row: RequestRow, catalog: Catalog) -> None:
        self._requests = requests
        self._row = row
        self._clock = catalog.clock
        self._last = catalog.clock()

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < HEARTBEAT:
            return
        self._last = now
        if not self._requests.heartbeat(self._row):
            raise _TakenOver(f"request {self._row.short_id} was taken over by another runner")


def _real_executor(graph: GraphClient, catalog: Catalog) -> Executor:
    return RestoreExecutor(graph=graph, live=GraphLiveTenant(graph), journal=Journal(catalog))


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
