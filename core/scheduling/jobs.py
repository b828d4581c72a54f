"""What each scheduled job does, as callables the composition root injects (``rewind/cli_schedule.py``,
and ``rewind serve``), so the scheduler never knows about Graph clients, repositories or chat platforms.

A job returns a ``JobResult`` (or None when it has nothing to report) and raises on failure; the scheduler
records either on the run. ``after_backup`` (the alerts: ``bot.notify.alert_after_backup`` bound to its
notifier and rules) and ``summary`` are optional: without them no alerts or summaries are scheduled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core import maintenance
from core.backup.engine import BackupEngine, BackupResult
from core.catalog import Catalog
from core.repository import Repository
from core.retention import RetentionPolicy, parse_duration
from core.settings import RewindSettings


@dataclass(frozen=True)
class JobResult:
    snapshot_id: str | None = None
    error: str | None = None  # set: the run failed, possibly after writing a (partial) snapshot


TenantJob = Callable[[str], Awaitable[JobResult | None]]  # (tenant_id)
AfterBackup = Callable[[str, str, str], Awaitable[object]]  # (tenant_id, before_snapshot, after_snapshot)
SummaryJob = Callable[[str, str], Awaitable[object]]  # (tenant_id, destination_id)


@dataclass(frozen=True)
class Jobs:
    incremental: TenantJob
    full: TenantJob
    prune: TenantJob | None = None
    after_backup: AfterBackup | None = None
    summary: SummaryJob | None = None


def backup_outcome(result: BackupResult) -> JobResult:
    """A snapshot missing some object types is kept, but the run counts as failed: the RPO of those types
    is not what the schedule promises."""
    if not result.failures:
        return JobResult(snapshot_id=result.snapshot_id)
    first = min(result.failures)
    others = f" (and {len(result.failures) - 1} more types)" if len(result.failures) > 1 else ""
    error = f"{first} not backed up: {result.failures[first]}{others}"
    return JobResult(snapshot_id=result.snapshot_id, error=error)


async def run_backup(engine: BackupEngine, *, full: bool) -> JobResult:
    return backup_outcome(await engine.run(full=full))


def retention_policy(settings: RewindSettings) -> RetentionPolicy | None:
    """The scheduled prune's policy; None when the settings keep everything (no prune is scheduled)."""
    within = settings.prune_keep_within
    policy = RetentionPolicy(
        keep_within=parse_duration(within) if within else None,
        keep_daily=settings.prune_keep_daily,
        keep_monthly=settings.prune_keep_monthly,
    )
    return None if policy.empty else policy


def prune_snapshots(
    open_repository: Callable[[], Repository], catalog: Catalog, tenant_id: str, policy: RetentionPolicy
) -> JobResult | None:
    if not catalog.snapshots(tenant_id, limit=1):
        return None  # nothing backed up yet, maybe no repository either
    # Snapshots still under Object Lock stay, which is what retention asks for: not a failure.
    maintenance.prune(open_repository(), catalog, tenant_id, policy, dry_run=False)
    return None
