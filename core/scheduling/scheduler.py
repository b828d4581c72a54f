"""The in-process scheduler: APScheduler fires each tenant's jobs; the catalog decides who runs a slot.

Every firing computes the job's slot from the clock and claims it in the ``runs`` table before anything
else, so any number of schedulers on one database run each slot once. APScheduler keeps its jobs in memory
only: on ``start`` each job's most recent slot is claimed too, which runs a slot missed while no scheduler
was up exactly once (never once per missed slot). Within one process a job never overlaps itself for a
tenant (the later slot is recorded as skipped), and the jobs that write a tenant's repository take turns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.catalog import Catalog
from core.scheduling import runs
from core.scheduling.jobs import JobResult, Jobs
from core.scheduling.plan import (
    ALERTS,
    BACKUP_JOBS,
    FULL,
    INCREMENTAL,
    PRUNE,
    REPOSITORY_JOBS,
    SUMMARY,
    PlannedJob,
    ScheduleConfig,
    plan,
    summary_destinations,
)
from core.scheduling.slots import SlotRule, latest_slot, next_slot

log = structlog.get_logger("rewind.scheduler")
REFRESH_JOB = "refresh"
_MAX_INSTANCES = 8  # a firing that finds its job still running must get to record the skip


@dataclass(frozen=True)
class RunReport:
    """A slot this scheduler claimed, and how it ended."""

    tenant_id: str
    job: str
    target: str
    slot: datetime
    status: runs.RunStatus
    error: str | None = None
    snapshot_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "job": self.job,
            "target": self.target,
            "slot": self.slot.isoformat(),
            "status": self.status,
            "error": self.error,
            "snapshot_id": self.snapshot_id,
        }


class SlotTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """Fires at the slots of a rule, so APScheduler's timing and the claimed slot never disagree (DST)."""

    __slots__ = ("rule",)

    def __init__(self, rule: SlotRule) -> None:
        self.rule = rule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return next_slot(self.rule, previous_fire_time or now)

    def __str__(self) -> str:
        return f"slots[{self.rule}]"


class Scheduler:
    def __init__(
        self,
        catalog: Catalog,
        jobs: Jobs,
        config: ScheduleConfig | None = None,
        *,
        tenants: Callable[[], Iterable[str]],
        clock: Callable[[], datetime] | None = None,
        owner: str | None = None,
        refresh_every: timedelta = timedelta(minutes=5),
    ) -> None:
        """``tenants`` is asked again every ``refresh_every`` (new tenants and destinations get their jobs);
        ``clock`` (default: the catalog's) decides slots, so tests can move time."""
        self.catalog = catalog
        self.jobs = jobs
        self.config = config or ScheduleConfig()
        self.tenants = tenants
        self.clock = clock or catalog.clock
        self.owner = owner or f"{runs.default_owner()}:{uuid.uuid4().hex[:6]}"
        self.refresh_every = refresh_every
        self._aps: AsyncIOScheduler | None = None
        self._planned: dict[str, PlannedJob] = {}
        self._running: dict[tuple[str, str, str], datetime] = {}  # (tenant, job, target) -> slot
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self, *, catch_up: bool = True) -> None:
        """Start inside the running event loop; returns at once (catch-up runs in the background)."""
        if self._aps is not None:
            raise RuntimeError("the scheduler is already running")
        expired = runs.expire_stale(self.catalog, stale_after=self.config.stale_after)
        if expired:
            log.warning("runs abandoned by a stopped scheduler marked failed", count=expired)
        self._aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=ZoneInfo("UTC"))
        self._planned = {}
        try:
            self.refresh()
        except BaseException:
            self._aps = None
            raise
        self._aps.add_job(
            self._refresh_job,
            IntervalTrigger(seconds=self.refresh_every.total_seconds(), timezone=ZoneInfo("UTC")),
            id=REFRESH_JOB,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._aps.start()
        if catch_up:
            self._spawn(self.run_due())
        log.info("scheduler started", owner=self.owner, jobs=len(self._planned))

    async def stop(self, *, wait: bool = True) -> None:
        """Stop firing; let runs in flight finish (``wait``) or interrupt them (recorded as failed)."""
        aps, self._aps = self._aps, None
        if aps is None:
            return
        aps.pause()
        in_flight = [task for task in self._tasks if task is not asyncio.current_task()]
        if not wait:
            for task in in_flight:
                task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        aps.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down from a loop callback
        log.info("scheduler stopped", owner=self.owner)

    @property
    def running(self) -> bool:
        return self._aps is not None

    def refresh(self) -> None:
        """Re-plan every tenant's jobs, adding, replacing and removing APScheduler jobs to match."""
        planned = {f"{job.tenant_id}|{job.key}": job for job in self.planned()}
        if self._aps is not None:
            for job_id in self._planned.keys() - planned.keys():
                self._aps.remove_job(job_id)
            for job_id, job in planned.items():
                if self._planned.get(job_id) != job:
                    self._aps.add_job(
                        self._fire,
                        SlotTrigger(job.rule),
                        args=[job_id],
                        id=job_id,
                        replace_existing=True,
                        coalesce=True,
                        misfire_grace_time=None,  # a late firing still runs; its slot comes from the clock
                        max_instances=_MAX_INSTANCES,
                    )
        self._planned = planned

    async def _refresh_job(self) -> None:
        # A coroutine, so APScheduler runs it on the loop rather than in a worker thread.
        try:
            self.refresh()
        except Exception as exc:  # the catalog may be briefly unreachable: keep the current plan
            log.warning("could not refresh the schedule", exc_info=exc)

    def planned(self) -> list[PlannedJob]:
        found: list[PlannedJob] = []
        for tenant_id in dict.fromkeys(self.tenants()):
            summaries = summary_destinations(self.catalog, tenant_id) if self.jobs.summary else []
            found += plan(tenant_id, self.config, prune=self.jobs.prune is not None, summaries=summaries)
        return found

    def next_fire_times(self) -> dict[str, datetime]:
        """APScheduler's next firing of each job, by "tenant|job[:target]" (empty when not started)."""
        if self._aps is None:
            return {}
        return {
            job.id: job.next_run_time
            for job in self._aps.get_jobs()
            if job.id != REFRESH_JOB and job.next_run_time is not None
        }

    # --- running slots ---------------------------------------------------------------------------------

    async def run_due(self) -> list[RunReport]:
        """Claim and run every job's most recent slot that no scheduler has run yet; tenants side by side,
        each tenant's jobs in plan order."""
        by_tenant: dict[str, list[PlannedJob]] = {}
        for job in self.planned():
            by_tenant.setdefault(job.tenant_id, []).append(job)

        async def tenant_jobs(jobs: list[PlannedJob]) -> list[RunReport]:
            done: list[RunReport] = []
            for job in jobs:
                report = await self._guarded(job, latest_slot(job.rule, self.clock()))
                if report is not None:
                    done.append(report)
            return done

        results = await asyncio.gather(*(tenant_jobs(jobs) for jobs in by_tenant.values()))
        return [report for reports in results for report in reports]

    async def run_slot(self, job: PlannedJob, slot: datetime) -> RunReport | None:
        """Run one slot of one job if this scheduler wins its claim; None if another run has it."""
        tenant_id, name, target = job.tenant_id, job.job, job.target
        if not runs.claim(self.catalog, tenant_id, name, slot, target, owner=self.owner):
            return None
        blocked = self._blocked_by(job, slot)
        if blocked is not None:
            return self._finish(job, slot, "skipped", error=blocked)
        key = (tenant_id, name, target)
        self._running[key] = slot
        try:
            async with self._repository_turn(job):
                before = self._newest_snapshot(tenant_id)
                report = await self._execute(job, slot, before)
        except asyncio.CancelledError:
            self._finish(job, slot, "failed", error="interrupted: the scheduler stopped during the run")
            raise
        except Exception as exc:
            log.warning(
                "scheduled run failed", tenant=tenant_id, job=name, slot=slot.isoformat(), exc_info=exc
            )
            return self._finish(job, slot, "failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._running.pop(key, None)
        if name in BACKUP_JOBS and report.snapshot_id and before and report.snapshot_id != before[0]:
            await self._alerts(job, slot, before[0], report.snapshot_id)
        return report

    async def _fire(self, job_id: str) -> None:
        """APScheduler's entry point: the slot is whatever the clock says is the newest one now."""
        job = self._planned.get(job_id)
        if job is None:
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._guarded(job, latest_slot(job.rule, self.clock()))
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _guarded(self, job: PlannedJob, slot: datetime) -> RunReport | None:
        """Whatever goes wrong in one run (the database gone, say) is logged; the scheduler goes on."""
        try:
            return await self.run_slot(job, slot)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("scheduled run could not be recorded", tenant=job.tenant_id, job=job.key, exc_info=exc)
            return None

    async def _execute(
        self, job: PlannedJob, slot: datetime, newest: tuple[str, datetime] | None
    ) -> RunReport:
        result: JobResult | None = None
        if job.job == INCREMENTAL:
            if newest is not None and newest[1] >= slot:  # e.g. the daily full just ran in this slot
                return self._finish(
                    job, slot, "skipped", error=f"snapshot {newest[0][:12]} already covers this slot"
                )
            result = await self.jobs.incremental(job.tenant_id)
        elif job.job == FULL:
            result = await self.jobs.full(job.tenant_id)
        elif job.job == PRUNE and self.jobs.prune is not None:
            result = await self.jobs.prune(job.tenant_id)
        elif job.job == SUMMARY and self.jobs.summary is not None:
            await self.jobs.summary(job.tenant_id, job.target)
        else:
            raise RuntimeError(f"no {job.job} job is configured")
        result = result or JobResult()
        status: runs.RunStatus = "failed" if result.error else "succeeded"
        return self._finish(job, slot, status, error=result.error, snapshot_id=result.snapshot_id)

    async def _alerts(self, backup: PlannedJob, slot: datetime, before: str, after: str) -> None:
        """Alerts get their own run (job "alerts", target = the backup job): a failure to alert is reported
        as such, and never turns the backup that succeeded into a failed one."""
        if self.jobs.after_backup is None:
            return
        alerts = PlannedJob(backup.tenant_id, ALERTS, backup.job, backup.rule)
        if not runs.claim(self.catalog, alerts.tenant_id, ALERTS, slot, alerts.target, owner=self.owner):
            return
        try:
            await self.jobs.after_backup(backup.tenant_id, before, after)
        except asyncio.CancelledError:
            self._finish(alerts, slot, "failed", error="interrupted: the scheduler stopped during the run")
            raise
        except Exception as exc:
            log.warning("alerts after backup failed", tenant=backup.tenant_id, exc_info=exc)
            self._finish(alerts, slot, "failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._finish(alerts, slot, "succeeded", snapshot_id=after)

    def _blocked_by(self, job: PlannedJob, slot: datetime) -> str | None:
        """Why this slot must not run now. The same job still running, here or in another scheduler. For an
        incremental, a full backup running (it covers the slot anyway). And a prune never runs beside a backup
        in another scheduler, nor an incremental beside a prune: prune deletes data a backup may be reusing.
        (Inside one process the repository jobs of a tenant simply take turns.)"""
        checks = [(job.job, job.target, True)]  # (job, target, counts when run by this scheduler too)
        if job.job == INCREMENTAL:
            checks += [(FULL, "", True), (PRUNE, "", False)]
        elif job.job == PRUNE:
            checks += [(FULL, "", False), (INCREMENTAL, "", False)]
        for name, target, here_too in checks:
            mine = self._running.get((job.tenant_id, name, target))
            if here_too and mine is not None:
                return f"the {name} run of slot {mine.isoformat()} is still running"
            for other in runs.active(
                self.catalog, job.tenant_id, name, target, stale_after=self.config.stale_after
            ):
                if (other.job, other.slot) != (job.job, slot) and (here_too or other.owner != self.owner):
                    return f"the {name} run of slot {other.slot.isoformat()} is still running ({other.owner})"
        return None

    @asynccontextmanager
    async def _repository_turn(self, job: PlannedJob) -> AsyncIterator[None]:
        if job.job not in REPOSITORY_JOBS:
            yield
            return
        async with self._locks.setdefault(job.tenant_id, asyncio.Lock()):
            yield

    def _newest_snapshot(self, tenant_id: str) -> tuple[str, datetime] | None:
        newest = self.catalog.snapshots(tenant_id, limit=1)
        return (newest[0].snapshot_id, newest[0].created_at) if newest else None

    def _finish(
        self,
        job: PlannedJob,
        slot: datetime,
        status: runs.RunStatus,
        *,
        error: str | None = None,
        snapshot_id: str | None = None,
    ) -> RunReport:
        runs.finish(
            self.catalog,
            job.tenant_id,
            job.job,
            slot,
            job.target,
            status=status,
            error=error,
            snapshot_id=snapshot_id,
        )
        line = runs.one_line(error) if error else None
        log.info(
            "scheduled run finished",
            tenant=job.tenant_id,
            job=job.key,
            slot=slot.isoformat(),
            status=status,
            error=line,
            snapshot=snapshot_id,
        )
        return RunReport(job.tenant_id, job.job, job.target, slot.astimezone(UTC), status, line, snapshot_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
