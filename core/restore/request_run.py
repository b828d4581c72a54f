"""Running an executing request's plan and settling the request on how it went.

The run marks the request alive as it progresses; a runner that finds another took the request over stops
without writing its result, and errors decide the final state: a drift or a permanent error fails the
request, a retryable or unknown one leaves it executing and resumable (the journal makes a retry safe).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog

from core.catalog import Catalog
from core.graph import GraphClient, GraphError
from core.graph.errors import ErrorKind
from core.restore.approval import Requests
from core.restore.audit import NewEvent
from core.restore.errors import ApprovalRefused, PlanDrifted, RestoreError
from core.restore.executor import RestoreExecutor, RestoreResult, StepEvent
from core.restore.graph_live import GraphLiveTenant
from core.restore.journal import Journal
from core.restore.model import Plan
from core.restore.request_row import RequestRow, RequestState
from core.restore.request_view import RequestView, view_of

Progress = Callable[[StepEvent], Awaitable[None]]
HEARTBEAT = timedelta(seconds=5)

log = structlog.get_logger("rewind.restore")


class Executor(Protocol):
    async def run(
        self, plan: Plan, *, request_id: str, progress: Progress | None = None
    ) -> RestoreResult: ...


ExecutorFor = Callable[[GraphClient, Catalog], Executor]


def real_executor(graph: GraphClient, catalog: Catalog) -> Executor:
    return RestoreExecutor(graph=graph, live=GraphLiveTenant(graph), journal=Journal(catalog))


class RequestRunner:
    def __init__(
        self, requests: Requests, graph_for: Callable[[str], GraphClient], executor_for: ExecutorFor
    ) -> None:
        self._requests = requests
        self._graph_for = graph_for
        self._executor_for = executor_for
        self.catalog = requests.catalog
        self.audit = requests.audit

    async def run(self, row: RequestRow, plan: Plan, progress: Progress | None) -> RequestView:
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
            return self._current(row)
        except PlanDrifted as drift:
            detail = {"keys": drift.keys[:100], "drifted": len(drift.keys)}
            return self._settle(
                row, RequestState.FAILED, NewEvent("drifted", detail=detail), None, str(drift), drift
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.RETRYABLE:
                return self._interrupt(row, exc)
            return self._fail(row, str(exc))
        except RestoreError as exc:
            return self._fail(row, str(exc))
        except Exception as exc:
            # Unknown: leave it executing and resumable at once; the journal makes a retry safe.
            self._interrupt(row, exc)
            raise
        self._record_failures(row, result)
        detail = {
            "status": result.status,
            "steps_done": result.steps_done,
            "steps_failed": result.steps_failed,
            "outcomes": dict(Counter(o.status for o in result.outcomes)),
            "new_ids": len(result.new_ids),
        }
        state = RequestState(result.status)
        return self._settle(row, state, NewEvent(result.status, detail=detail), result.to_json(), None)

    def approved_plan(self, row: RequestRow) -> Plan | None:
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

    def _record_failures(self, row: RequestRow, result: RestoreResult) -> None:
        failures = [o for o in result.outcomes if o.status in ("failed", "mismatch")]
        if not failures:
            return
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

    def _fail(self, row: RequestRow, error: str) -> RequestView:
        return self._settle(
            row, RequestState.FAILED, NewEvent("failed", detail={"error": error}), None, error
        )

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
            return self._current(row)
        if refusal is not None:
            raise ApprovalRefused(
                "drifted",
                f"request {row.short_id} was not run: {refusal} The tenant changed since the plan; "
                "request the restore again for a new plan and a new approval",
            )
        return view_of(final)

    def _interrupt(self, row: RequestRow, exc: BaseException) -> RequestView:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, GraphError) else str(exc)
        current, records = self._requests.interrupt(row, message.splitlines()[0] if message else "")
        self.audit.publish(records)
        return view_of(current) if current is not None else self._current(row)

    def _current(self, row: RequestRow) -> RequestView:
        return view_of(self._requests.load(row.request_id))


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
