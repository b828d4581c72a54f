"""``rewind status``: per tenant, the last good snapshot and its age (the RPO you actually have), the next
run of each job and the latest failures. Read from the catalog alone, with no scheduler running."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.catalog import Catalog, SnapshotRow
from core.scheduling import runs
from core.scheduling.plan import BACKUP_JOBS, ScheduleConfig, SummaryDestination, plan
from core.scheduling.slots import next_slot

_RECENT_SNAPSHOTS = 50


@dataclass(frozen=True)
class TenantStatus:
    tenant_id: str
    last_snapshot: SnapshotRow | None
    rpo_seconds: float | None  # age of the last good snapshot; None before the first one
    next_runs: dict[str, datetime]
    last_failures: list[runs.RunRow] = field(default_factory=list)

    def overdue(self, interval_minutes: int) -> bool:
        """No good snapshot, or one older than two backup intervals: the schedule is not being kept."""
        return self.rpo_seconds is None or self.rpo_seconds > 2 * interval_minutes * 60

    def to_json(self) -> dict[str, Any]:
        snapshot = self.last_snapshot
        return {
            "tenant_id": self.tenant_id,
            "last_snapshot": None
            if snapshot is None
            else {
                "id": snapshot.snapshot_id,
                "created_at": snapshot.created_at.isoformat(),
                "kind": snapshot.kind,
            },
            "rpo_seconds": None if self.rpo_seconds is None else round(self.rpo_seconds, 3),
            "next_runs": {name: when.isoformat() for name, when in self.next_runs.items()},
            "last_failures": [
                {"job": run.job, "slot": run.slot.isoformat(), "error": run.error}
                for run in self.last_failures
            ],
        }


def tenant_status(
    catalog: Catalog,
    tenant_id: str,
    config: ScheduleConfig,
    now: datetime,
    *,
    prune: bool = True,
    summaries: Sequence[SummaryDestination] = (),
    failures: int = 5,
) -> TenantStatus:
    last = last_good_snapshot(catalog, tenant_id, config)
    jobs = plan(tenant_id, config, prune=prune, summaries=summaries)
    return TenantStatus(
        tenant_id=tenant_id,
        last_snapshot=last,
        rpo_seconds=None if last is None else max(0.0, (now - last.created_at).total_seconds()),
        next_runs={job.key: next_slot(job.rule, now) for job in jobs},
        last_failures=runs.last_runs(
            catalog, tenant_id, status="failed", limit=failures, stale_after=config.stale_after
        ),
    )


def last_good_snapshot(catalog: Catalog, tenant_id: str, config: ScheduleConfig) -> SnapshotRow | None:
    """The newest snapshot not written by a failed backup run: one missing object types does not hold the
    whole tenant, so it does not count towards the RPO."""
    partial = {
        run.snapshot_id
        for job in BACKUP_JOBS
        for run in runs.last_runs(
            catalog,
            tenant_id,
            job=job,
            status="failed",
            limit=_RECENT_SNAPSHOTS,
            stale_after=config.stale_after,
        )
        if run.snapshot_id
    }
    for snapshot in catalog.snapshots(tenant_id, limit=_RECENT_SNAPSHOTS):
        if snapshot.snapshot_id not in partial:
            return snapshot
    return None
