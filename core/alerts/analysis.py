"""From two snapshots to attributed, labelled findings: diff, rules, audit log, names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from core.alerts.attribution import MARGIN, Attributor, audit_records
from core.alerts.finding import Finding
from core.alerts.labels import Namer, label
from core.alerts.rules import RuleSet
from core.catalog import Catalog, SnapshotRow
from core.diff import diff, removed_between
from core.repository import Repository
from core.snapshots import SnapshotReader


@dataclass(frozen=True)
class SnapshotSide:
    """One end of the diff window."""

    id: str
    created_at: datetime

    @classmethod
    def of(cls, row: SnapshotRow) -> SnapshotSide:
        return cls(row.snapshot_id, row.created_at)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Analysis:
    tenant_id: str
    before: SnapshotSide
    after: SnapshotSide
    findings: tuple[Finding, ...]  # in the diff's order
    changes: int  # every change the diff found, reported or not
    actor_names: Mapping[str, str] = field(default_factory=dict)  # UPN or app name -> display name

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "from": self.before.to_json(),
            "to": self.after.to_json(),
            "changes": self.changes,
            "findings": [f.to_json() for f in self.findings],
        }


def open_reader(repo: Repository, snapshot_id: str) -> SnapshotReader:
    return SnapshotReader(repo, {**repo.load_snapshot(snapshot_id), "id": snapshot_id})


def analyse(
    catalog: Catalog,
    repo: Repository,
    tenant_id: str,
    before: SnapshotRow,
    after: SnapshotRow,
    rules: RuleSet,
    *,
    margin: timedelta = MARGIN,
) -> Analysis:
    """Diff ``before`` -> ``after``, evaluate ``rules``, attribute each finding's changes, name them."""
    old = open_reader(repo, before.snapshot_id)
    new = open_reader(repo, after.snapshot_id)
    reasons = removed_between(repo, catalog, tenant_id, before, after)
    changes = list(diff(old, new, removed_reasons=reasons))
    raw = rules.evaluate(changes)
    records = audit_records(repo, new.record, before.created_at, after.created_at, margin) if raw else []
    attributor = Attributor(records, before.created_at, after.created_at, margin)
    namer = Namer((new, old))
    findings = tuple(label(replace(f, changes=attributor.attribute(f.changes)), namer) for f in raw)
    return Analysis(
        tenant_id=tenant_id,
        before=SnapshotSide.of(before),
        after=SnapshotSide.of(after),
        findings=findings,
        changes=len(changes),
        actor_names=dict(attributor.names),
    )
