"""Run an approved plan: re-validate, write step by step from the journal, then verify.

Steps run in dependency levels (an action runs once everything it depends on succeeded); inside a level the
directory writes go out as ``$batch`` requests of 20, several at once, under the client's limiter, with the
adds to one group's members or owners coalesced into ``@odata.bind`` PATCHes of 20 links (exec_links); the
Conditional Access ones go one by one (that service allows one request a second). Each step is journaled
before it is sent and after its answer, so a killed run resumes without doing anything twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from core.graph import BatchRequest, GraphClient, GraphError
from core.restore.errors import PlanDrifted
from core.restore.exec_bodies import NEW_PASSWORD_NOTE, PasswordFactory, strong_password
from core.restore.exec_levels import levels
from core.restore.exec_links import Unit, units_of
from core.restore.journal import FINISHED, Journal, StepEnd, StepRow, encode_detail
from core.restore.live import LiveTenant, ObjectRef, Presence, fingerprint
from core.restore.model import Action, Operation, Plan
from core.restore.verify import LAG_RETRIES, ObjectOutcome, verify
from core.restore.writes import (
    StepWrite,
    UnsupportedAction,
    Verdict,
    WriteCall,
    calls_for,
    created_id,
    find_created,
    judge,
)
from core.tasks import all_or_cancel

__all__ = ["ObjectOutcome", "RestoreExecutor", "RestoreResult", "StepEvent", "touched_keys"]

log = structlog.get_logger("rewind.restore")

MAX_BATCH = 20
StepState = Literal["started", "done", "failed", "skipped"]
ResultStatus = Literal["succeeded", "partially_failed", "failed"]


@dataclass(frozen=True)
class StepEvent:
    action: Action
    state: StepState
    new_id: str | None = None
    error: str | None = None


Progress = Callable[[StepEvent], Awaitable[None]]


@dataclass(frozen=True)
class RestoreResult:
    status: ResultStatus
    outcomes: tuple[ObjectOutcome, ...]
    steps_done: int
    steps_failed: int
    new_ids: dict[str, str] = field(default_factory=dict)
    steps_skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "steps_done": self.steps_done,
            "steps_failed": self.steps_failed,
            "steps_skipped": self.steps_skipped,
            "new_ids": dict(self.new_ids),
            "outcomes": [o.to_json() for o in self.outcomes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestoreResult:
        return cls(
            status=data["status"],
            outcomes=tuple(ObjectOutcome.from_json(o) for o in data.get("outcomes", ())),
            steps_done=int(data.get("steps_done", 0)),
            steps_failed=int(data.get("steps_failed", 0)),
            new_ids={str(k): str(v) for k, v in (data.get("new_ids") or {}).items()},
            steps_skipped=int(data.get("steps_skipped", 0)),
        )

    def summary_line(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"{self.status.replace('_', ' ')}: {parts or 'nothing to do'}"


class RestoreExecutor:
    def __init__(
        self,
        *,
        graph: GraphClient,
        live: LiveTenant,
        journal: Journal,
        password: PasswordFactory = strong_password,
        lag_retries: int = 6,
        lag_delay_s: float = 0.5,
        concurrency: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.graph = graph
        self.live = live
        self.journal = journal
        self.password = password
        self.lag_retries = lag_retries
        self.lag_delay_s = lag_delay_s
        self.concurrency = concurrency
        self.sleep = sleep

    async def revalidate(self, plan: Plan, *, request_id: str | None = None) -> list[str]:
        """The "type/id" keys whose live state differs from the plan's; this request's own steps exempt."""
        exempt = touched_keys(plan, self.journal.steps(request_id).keys()) if request_id else set()
        keys = [key for key in plan.live_state if key not in exempt]
        refs = [ObjectRef(*key.split("/", 1)) for key in keys]
        lives = await self.live.fetch_many(refs) if refs else []
        return [
            key for key, live in zip(keys, lives, strict=True) if fingerprint(live) != plan.live_state[key]
        ]

    async def run(self, plan: Plan, *, request_id: str, progress: Progress | None = None) -> RestoreResult:
        drifted = await self.revalidate(plan, request_id=request_id)
        if drifted:
            shown = ", ".join(drifted[:3]) + (f" and {len(drifted) - 3} more" if len(drifted) > 3 else "")
            raise PlanDrifted(
                f"the tenant changed since the plan was made ({shown}): make a new plan and have it approved",
                drifted,
            )
        run = _Run(self, plan, request_id, progress)
        await run.execute()
        steps = self.journal.steps(request_id)
        new_ids = self.journal.new_ids(request_id)
        outcomes = await verify(
            plan,
            self.live,
            steps,
            new_ids,
            retries=min(self.lag_retries, LAG_RETRIES),
            delay_s=self.lag_delay_s,
            sleep=self.sleep,
        )
        return _result(plan, steps, new_ids, outcomes)


def touched_keys(plan: Plan, step_keys: Iterable[str]) -> set[str]:
    """Objects (and link targets) of the steps this request already journaled."""
    by_key = {a.key: a for a in plan.actions}
    out: set[str] = set()
    for key in step_keys:
        action = by_key.get(key)
        if action is None:
            continue
        out.add(f"{action.object_type}/{action.object_id}")
        if action.target_type and action.target_id:
            out.add(f"{action.target_type}/{action.target_id}")
    return out


def _result(
    plan: Plan, steps: dict[str, StepRow], new_ids: dict[str, str], outcomes: Sequence[ObjectOutcome]
) -> RestoreResult:
    writes = plan.writes()
    done = sum(1 for a in writes if steps.get(a.key) and steps[a.key].state == "done")
    failed = sum(1 for a in writes if steps.get(a.key) and steps[a.key].state == "failed")
    skipped = sum(1 for a in writes if not steps.get(a.key) or steps[a.key].state == "skipped")
    mismatched = any(o.status in ("mismatch", "failed") for o in outcomes)
    status: ResultStatus
    if not writes or (done == len(writes) and not mismatched):
        status = "succeeded"
    elif done == 0:
        status = "failed"
    else:
        status = "partially_failed"
    return RestoreResult(status, tuple(outcomes), done, failed, new_ids, skipped)


class _Run:
    """One execution of a plan: the journal's view of each step, and the ids learnt so far."""

    def __init__(self, executor: RestoreExecutor, plan: Plan, request_id: str, progress: Progress | None):
        self.x = executor
        self.plan = plan
        self.request_id = request_id
        self.progress = progress
        self.journal = executor.journal
        self.rows = self.journal.steps(request_id)
        self.state: dict[str, str] = {k: r.state for k, r in self.rows.items()}
        self.new_ids = self.journal.new_ids(request_id)
        self.ended: dict[str, int] = {}  # step key -> the order its end was recorded in, this run
        self.sem = asyncio.Semaphore(executor.concurrency)

    @property
    def created(self) -> set[str]:
        return set(self.new_ids.values())

    async def execute(self) -> None:
        for level in levels(self.plan.actions):
            runnable: list[StepWrite] = []
            skipped: list[_Ending] = []
            for action in level:
                prepared = await self._prepare(action)
                if isinstance(prepared, StepWrite):
                    runnable.append(prepared)
                elif prepared is not None:
                    skipped.append(prepared)
            await self._record(skipped)  # a level's steps never depend on each other
            await self._run_level(runnable)

    async def _emit(self, event: StepEvent) -> None:
        if self.progress is not None:
            await self.progress(event)

    async def _prepare(self, action: Action) -> StepWrite | _Ending | None:
        """The write to send for ``action``; its skip, to record; or None when it ended here (finished,
        failed, resumed)."""
        if self.state.get(action.key) in FINISHED:
            return None
        if action.operation is Operation.SKIP:
            return _Ending.skip(action, action.reason or "skipped by the plan")
        blocker = next((d for d in action.depends_on if self.state.get(d) in ("failed", "skipped")), None)
        if blocker is not None:
            return _Ending.skip(action, f"depends on {self.state[blocker]} step {blocker}")
        try:
            write = calls_for(action, self.new_ids, self.x.graph, password=self.x.password)
        except UnsupportedAction as exc:
            self.journal.begin(self.request_id, action.key)
            await self._fail(action, str(exc))
            return None
        if self.state.get(action.key) == "started" and await self._already_happened(write):
            return None
        return write

    async def _already_happened(self, write: StepWrite) -> bool:
        """A step journaled as started by a killed run: adopt its effect when it is there."""
        action = write.action
        if write.creates:
            found = await find_created(self.x.graph, write)
            if found is not None:
                await self._done(write, created_id(write, found), found)
                return True
        elif action.operation is Operation.RESTORE_DELETED:
            live = await self.x.live.fetch(ObjectRef(action.object_type, action.object_id))
            if live.presence is Presence.PRESENT:
                await self._done(write, None, None)
                return True
        return False  # links and patches are safe to send again: an existing link counts as done

    async def _run_level(self, writes: list[StepWrite]) -> None:
        batched = [w for w in writes if len(w.calls) == 1 and w.calls[0].batchable]
        in_batches = {id(w) for w in batched}
        single = [w for w in writes if id(w) not in in_batches]
        # Writes that name the objects created last go last: by then those have replicated, and a write
        # refused for replication lag would spend a second write of the quota on its retry.
        batched.sort(key=self._freshness)
        units = sorted(units_of(batched), key=lambda u: max(self._freshness(w) for w in u.writes))
        chunks = [units[i : i + MAX_BATCH] for i in range(0, len(units), MAX_BATCH)]
        jobs = [self._chunk(chunk) for chunk in chunks]
        if single:
            jobs.append(self._one_by_one(single))
        await all_or_cancel(jobs)

    def _freshness(self, write: StepWrite) -> int:
        """How late in this run the newest step ``write`` depends on ended (-1: none of this run)."""
        return max((self.ended.get(key, -1) for key in write.action.depends_on), default=-1)

    async def _chunk(self, units: list[Unit]) -> None:
        """One ``$batch`` of up to 20 requests; a refused bind PATCH is sent again as single adds."""
        async with self.sem:
            writes = [w for unit in units for w in unit.writes]
            self.journal.begin_many(self.request_id, [w.action.key for w in writes])
            for write in writes:
                await self._emit(StepEvent(write.action, "started"))
            fallback = await self._send_units(units)
            for start in range(0, len(fallback), MAX_BATCH):
                await self._send_units([Unit.single(w) for w in fallback[start : start + MAX_BATCH]])

    async def _send_units(self, units: list[Unit]) -> list[StepWrite]:
        """Send ``units`` as one ``$batch``, retrying replication lag; the link steps of refused bind
        PATCHes come back to be sent one by one (all-or-nothing: none of their links was added)."""
        fallback: list[StepWrite] = []
        pending = units
        for attempt in range(self.x.lag_retries + 1):
            requests = [
                BatchRequest(str(i), u.call.method, u.call.path, u.call.body) for i, u in enumerate(pending)
            ]
            try:
                answers = await self.x.graph.batch(requests)
            except GraphError as exc:
                await self._record([_Ending.fail(w.action, str(exc)) for u in pending for w in u.writes])
                return fallback
            lagging: list[Unit] = []
            created = self.created
            endings: list[_Ending] = []
            for unit, answer in zip(pending, answers, strict=True):
                verdict, reason = judge(unit.writes[0], unit.call, answer.status, answer.body, created)
                if verdict is Verdict.LAG and attempt < self.x.lag_retries:
                    lagging.append(unit)
                elif not unit.coalesced:
                    endings.append(await self._ending(unit.writes[0], verdict, reason, answer.body))
                elif verdict is Verdict.DONE:
                    endings.extend(_Ending.done(write, None, None) for write in unit.writes)
                else:
                    fallback.extend(unit.writes)
            await self._record(endings)  # the batch's answers, in one transaction
            if not lagging:
                return fallback
            await self.x.sleep(self.x.lag_delay_s * 2**attempt)
            pending = lagging
        return fallback

    async def _one_by_one(self, writes: list[StepWrite]) -> None:
        for write in writes:
            self.journal.begin(self.request_id, write.action.key)
            await self._emit(StepEvent(write.action, "started"))
            verdict, reason, body = Verdict.DONE, "", None
            for call in write.calls:
                verdict, reason, body = await self._send(write, call)
                if verdict not in (Verdict.DONE, Verdict.ALREADY):
                    break
            await self._settle(write, verdict, reason, body)

    async def _send(self, write: StepWrite, call: WriteCall) -> tuple[Verdict, str, Any]:
        root = self.x.graph.config.endpoints().graph_url
        url = self.x.graph.resolve(f"{root}/{call.version}{call.path}")
        for attempt in range(self.x.lag_retries + 1):
            try:
                response = await self.x.graph.exchange(call.method, url, json=call.body)
            except GraphError as exc:
                return Verdict.FAILED, str(exc), None
            verdict, reason = judge(write, call, response.status, response.json, self.created)
            if verdict is not Verdict.LAG or attempt == self.x.lag_retries:
                return verdict, reason, response.json
            await self.x.sleep(self.x.lag_delay_s * 2**attempt)
        raise AssertionError("unreachable")

    async def _settle(self, write: StepWrite, verdict: Verdict, reason: str, body: Any) -> None:
        await self._record([await self._ending(write, verdict, reason, body)])

    async def _ending(self, write: StepWrite, verdict: Verdict, reason: str, body: Any) -> _Ending:
        """How a step ends given its answer; an ambiguous answer is settled by reading the tenant."""
        action = write.action
        if verdict is Verdict.DONE:
            return _Ending.done(write, created_id(write, body) if write.creates else None, body)
        if verdict is Verdict.ALREADY and write.creates:
            found = await find_created(self.x.graph, write)
            if found is None:
                return _Ending.fail(action, reason)
            return _Ending.done(write, created_id(write, found), found)
        if verdict is Verdict.ALREADY:
            return _Ending.done(write, None, None)
        if verdict is Verdict.CHECK:
            live = await self.x.live.fetch(ObjectRef(action.object_type, action.object_id))
            if live.presence is Presence.PRESENT:
                return _Ending.done(write, None, None)
        return _Ending.fail(action, reason)

    async def _done(self, write: StepWrite, new_id: str | None, body: Any) -> None:
        await self._record([_Ending.done(write, new_id, body)])

    async def _fail(self, action: Action, reason: str) -> None:
        await self._record([_Ending.fail(action, reason)])

    async def _record(self, endings: Sequence[_Ending]) -> None:
        """Journal the ends of several steps in one transaction, then learn their ids and report them."""
        if not endings:
            return
        self.journal.finish_many(self.request_id, [e.end for e in endings])
        for ending in endings:
            action, end = ending.action, ending.end
            self.new_ids.update(ending.aliases)
            self.state[action.key] = end.state
            self.ended[action.key] = len(self.ended)
            if end.state == "done":
                log.info("restore.step", key=action.key, state="done", new_id=end.new_id)
                await self._emit(StepEvent(action, "done", end.new_id))
            else:
                if end.state == "failed":
                    log.warning("restore.step", key=action.key, state="failed", error=end.detail)
                await self._emit(StepEvent(action, end.state, error=end.detail))


@dataclass(frozen=True)
class _Ending:
    """A step's end as the journal records it, with the old -> new values it taught."""

    action: Action
    end: StepEnd
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def done(cls, write: StepWrite, new_id: str | None, body: Any) -> _Ending:
        action = write.action
        aliases: dict[str, str] = {}
        if new_id and new_id != action.object_id:
            aliases[action.object_id] = new_id
        new_app_id = body.get("appId") if isinstance(body, dict) else None
        if write.old_app_id and isinstance(new_app_id, str) and new_app_id != write.old_app_id:
            aliases[write.old_app_id] = new_app_id
        note = NEW_PASSWORD_NOTE if write.creates and write.kind.name == "user" else None
        return cls(action, StepEnd(action.key, "done", new_id, encode_detail(note, aliases)), aliases)

    @classmethod
    def fail(cls, action: Action, reason: str) -> _Ending:
        return cls(action, StepEnd(action.key, "failed", None, reason))

    @classmethod
    def skip(cls, action: Action, reason: str) -> _Ending:
        return cls(action, StepEnd(action.key, "skipped", None, reason))
