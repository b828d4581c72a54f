"""The daily drift summary's data: the last 24 hours of changes, drift from the baseline, backup health."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.alerts.aggregate import ordered
from core.alerts.analysis import SnapshotSide, analyse
from core.alerts.baseline import Drift, drift
from core.alerts.finding import Finding
from core.alerts.rules import RuleSet
from core.alerts.severity import SEVERITIES
from core.catalog import Catalog, SnapshotRow
from core.repository import Repository

PERIOD = timedelta(hours=24)
TOP_CRITICAL = 5


@dataclass(frozen=True)
class BackupHealth:
    latest: SnapshotSide | None
    rpo_seconds: float | None  # age of the latest snapshot: the recovery point you actually have
    failures: dict[str, str] = field(default_factory=dict)  # what the latest backup could not read
    snapshots_in_period: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "latest": self.latest.to_json() if self.latest else None,
            "rpo_seconds": self.rpo_seconds,
            "failures": self.failures,
            "snapshots_in_period": self.snapshots_in_period,
        }


@dataclass(frozen=True)
class DailySummary:
    tenant_id: str
    generated_at: datetime
    before: SnapshotSide | None  # the window compared (None with fewer than two snapshots)
    after: SnapshotSide | None
    counts: dict[str, dict[str, int]]  # type -> severity -> changes
    top_critical: tuple[Finding, ...]  # with attribution
    critical: int  # critical findings in the window, listed or not
    drift: Drift | None
    health: BackupHealth
    actor_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        found: dict[str, int] = {name: 0 for name in reversed(SEVERITIES)}
        for by_severity in self.counts.values():
            for name, count in by_severity.items():
                found[name] += count
        return found

    @property
    def changes(self) -> int:
        return sum(self.totals.values())

    @property
    def reference(self) -> str | None:
        if self.before is None or self.after is None:
            return None
        return f"{self.tenant_id}:{self.before.id}:{self.after.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "generated_at": self.generated_at.isoformat(),
            "from": self.before.to_json() if self.before else None,
            "to": self.after.to_json() if self.after else None,
            "counts": self.counts,
            "totals": self.totals,
            "critical": self.critical,
            "top_critical": [f.to_json() for f in self.top_critical],
            "drift": self.drift.to_json() if self.drift else None,
            "health": self.health.to_json(),
        }


def window(
    catalog: Catalog, tenant_id: str, now: datetime, period: timedelta = PERIOD
) -> tuple[SnapshotRow | None, SnapshotRow | None]:
    """The snapshots to compare: the one in force ``period`` ago (else the oldest) and the latest."""
    latest = catalog.snapshots(tenant_id, limit=1)
    if not latest:
        return None, None
    start = catalog.snapshot_at(tenant_id, now - period) or catalog.snapshots(tenant_id)[-1]
    return start, latest[0]


def build_summary(
    catalog: Catalog,
    repo: Repository,
    tenant_id: str,
    rules: RuleSet,
    now: datetime,
    *,
    period: timedelta = PERIOD,
    top: int = TOP_CRITICAL,
) -> DailySummary:
    start, latest = window(catalog, tenant_id, now, period)
    counts: dict[str, dict[str, int]] = {}
    findings: list[Finding] = []
    names: Mapping[str, str] = {}
    if start is not None and latest is not None and start.snapshot_id != latest.snapshot_id:
        analysis = analyse(catalog, repo, tenant_id, start, latest, rules)
        findings, names = ordered(analysis.findings), analysis.actor_names
        for finding in findings:
            by_severity = counts.setdefault(finding.object_type, {})
            by_severity[finding.severity] = by_severity.get(finding.severity, 0) + len(finding.changes)
    critical = [f for f in findings if f.severity == "critical"]
    return DailySummary(
        tenant_id=tenant_id,
        generated_at=now,
        before=SnapshotSide.of(start) if start is not None and latest is not None else None,
        after=SnapshotSide.of(latest) if latest is not None else None,
        counts=dict(sorted(counts.items())),
        top_critical=tuple(critical[:top]),
        critical=len(critical),
        drift=drift(catalog, repo, tenant_id, latest) if latest is not None else None,
        health=health(catalog, repo, tenant_id, now, period, latest),
        actor_names=dict(names),
    )


def health(
    catalog: Catalog,
    repo: Repository,
    tenant_id: str,
    now: datetime,
    period: timedelta = PERIOD,
    latest: SnapshotRow | None = None,
) -> BackupHealth:
    latest = latest or next(iter(catalog.snapshots(tenant_id, limit=1)), None)
    if latest is None:
        return BackupHealth(None, None)
    record = repo.load_snapshot(latest.snapshot_id)
    failures = {str(k): str(v) for k, v in (record.get("failures") or {}).items()}
    recent = [r for r in catalog.snapshots(tenant_id, limit=500) if r.created_at >= now - period]
    return BackupHealth(
        latest=SnapshotSide.of(latest),
        rpo_seconds=max(0.0, (now - latest.created_at).total_seconds()),
        failures=failures,
        snapshots_in_period=len(recent),
    )
