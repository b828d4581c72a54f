"""The approved state of a tenant (a pinned snapshot) and how far the latest snapshot has drifted from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.alerts.analysis import SnapshotSide, open_reader
from core.catalog import Catalog, NotFound, SnapshotRow
from core.catalog.notify import BaselineRow, baseline, set_baseline
from core.diff import diff, removed_between
from core.repository import Repository

KINDS = ("added", "removed", "modified")


@dataclass(frozen=True)
class Drift:
    baseline: BaselineRow
    latest: SnapshotSide | None
    counts: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # type -> added/removed/modified -> objects
    error: str | None = None  # why drift could not be measured (the baseline snapshot was pruned)

    @property
    def totals(self) -> dict[str, int]:
        return {kind: sum(c.get(kind, 0) for c in self.counts.values()) for kind in KINDS}

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_json(),
            "latest": self.latest.to_json() if self.latest else None,
            "counts": self.counts,
            "totals": self.totals,
            "error": self.error,
        }


def pin(catalog: Catalog, tenant_id: str, snapshot: SnapshotRow, set_by: str | None) -> BaselineRow:
    """Make ``snapshot`` the tenant's baseline."""
    return set_baseline(catalog, tenant_id, snapshot.snapshot_id, set_by)


def current(catalog: Catalog, tenant_id: str) -> BaselineRow | None:
    return baseline(catalog, tenant_id)


def drift(
    catalog: Catalog, repo: Repository, tenant_id: str, latest: SnapshotRow | None = None
) -> Drift | None:
    """Objects added, removed and modified, by type, from the baseline to ``latest`` (None: no baseline)."""
    pinned = baseline(catalog, tenant_id)
    if pinned is None:
        return None
    try:
        start = catalog.snapshot(tenant_id, pinned.snapshot_id)
        end = latest or catalog.snapshot(tenant_id, "latest")
    except NotFound:
        return Drift(
            pinned,
            None,
            error=f"baseline snapshot {pinned.snapshot_id[:12]} no longer exists: set a new baseline",
        )
    seen: dict[str, dict[str, set[str]]] = {}
    if start.snapshot_id != end.snapshot_id:
        old, new = open_reader(repo, start.snapshot_id), open_reader(repo, end.snapshot_id)
        for change in diff(old, new, removed_reasons=removed_between(repo, catalog, tenant_id, start, end)):
            seen.setdefault(change.type, {}).setdefault(change.change, set()).add(change.id)
    counts = {
        name: {kind: len(by_kind.get(kind, ())) for kind in KINDS} for name, by_kind in sorted(seen.items())
    }
    return Drift(pinned, SnapshotSide.of(end), counts)
