"""What is scheduled for a tenant: each job, its target and its slot rule, from the settings and the
destinations in the catalog. Pure apart from ``summary_destinations``; the scheduler and ``rewind status``
both plan from here, so the next run shown is the one that will happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import structlog

from core.catalog import Catalog
from core.catalog.models import DESTINATIONS
from core.scheduling.runs import DEFAULT_STALE_AFTER
from core.scheduling.slots import Daily, Every, SlotRule
from core.settings import RewindSettings

log = structlog.get_logger("rewind.scheduler")

INCREMENTAL = "incremental"
FULL = "full"
PRUNE = "prune"
SUMMARY = "summary"
ALERTS = "alerts"  # not scheduled: runs after each backup, in the backup's slot, target = the backup job
BACKUP_JOBS = (FULL, INCREMENTAL)
REPOSITORY_JOBS = (FULL, INCREMENTAL, PRUNE)  # never run two of these at once for one tenant


@dataclass(frozen=True)
class ScheduleConfig:
    interval_minutes: int = 15
    full_time: str = "02:00"  # local time of the daily full backup, and of the prune after it
    timezone: str = "UTC"
    stale_after: timedelta = DEFAULT_STALE_AFTER  # a run "running" longer than this was abandoned

    @classmethod
    def from_settings(cls, settings: RewindSettings) -> ScheduleConfig:
        return cls(
            interval_minutes=settings.backup_interval_minutes,
            full_time=settings.full_backup_time,
            timezone=settings.timezone,
        )

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)


@dataclass(frozen=True)
class SummaryDestination:
    destination_id: str
    summary_time: str
    timezone: str


@dataclass(frozen=True)
class PlannedJob:
    tenant_id: str
    job: str
    target: str
    rule: SlotRule

    @property
    def key(self) -> str:
        """A readable id, also the APScheduler job id and the ``next_runs`` key in status."""
        return f"{self.job}:{self.target}" if self.target else self.job


def plan(
    tenant_id: str,
    config: ScheduleConfig,
    *,
    prune: bool = True,
    summaries: Sequence[SummaryDestination] = (),
) -> list[PlannedJob]:
    """The tenant's jobs in the order a catch-up runs them: full before incremental (a first incremental
    would be a full anyway), prune after both, summaries last so they see the fresh snapshot."""
    daily = Daily(config.full_time, config.timezone)
    jobs = [
        PlannedJob(tenant_id, FULL, "", daily),
        PlannedJob(tenant_id, INCREMENTAL, "", Every(config.interval_minutes)),
    ]
    if prune:
        jobs.append(PlannedJob(tenant_id, PRUNE, "", daily))
    for destination in summaries:
        try:
            rule = Daily(destination.summary_time, destination.timezone)
        except ValueError as exc:  # written by chat users: one bad row must not stop the tenant's backups
            log.warning("summary not scheduled", destination=destination.destination_id, error=str(exc))
            continue
        jobs.append(PlannedJob(tenant_id, SUMMARY, destination.destination_id, rule))
    return jobs


def summary_destinations(catalog: Catalog, tenant_id: str) -> list[SummaryDestination]:
    """The unpaused destinations that take the tenant's daily summary (its own and the "*" ones)."""
    query = (
        sa.select(DESTINATIONS.c.destination_id, DESTINATIONS.c.summary_time, DESTINATIONS.c.timezone)
        .where(
            DESTINATIONS.c.tenant_id.in_((tenant_id, "*")),
            DESTINATIONS.c.summary.is_(True),
            DESTINATIONS.c.paused.is_(False),
        )
        .order_by(DESTINATIONS.c.destination_id)
    )
    with catalog.reading() as conn:
        return [SummaryDestination(**row._mapping) for row in conn.execute(query)]
