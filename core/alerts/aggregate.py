"""One alert per diff and destination, and no second announcement of what was already announced.

An alert holds the findings at or above the destination's minimum severity, most severe first (then in the
order of the rules), lists the first few and counts the rest by rule. Flapping is held back through the
catalog's ``announcements`` table: a finding whose fingerprint (rule + object + relationship) was announced
within the suppression window with the same resulting state is not announced again, only counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.alerts.analysis import SnapshotSide
from core.alerts.finding import Finding
from core.alerts.severity import RANK, SEVERITIES, Severity, at_least, severity
from core.catalog import Catalog
from core.catalog.notify import announcements, record_announcements

SUPPRESSION_WINDOW = timedelta(hours=6)
TOP_ITEMS = 5


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    title: str
    severity: Severity
    count: int


@dataclass(frozen=True)
class Alert:
    tenant_id: str
    before: SnapshotSide
    after: SnapshotSide
    findings: tuple[Finding, ...]  # every finding of the alert, most severe first
    listed: int  # how many of them are listed one by one
    min_severity: Severity = "warning"
    destination_id: str | None = None
    suppressed: int = 0  # findings at or above min_severity held back as already announced
    actor_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return self.findings[0].severity

    @property
    def title(self) -> str:
        return self.findings[0].title

    @property
    def reference(self) -> str:
        """Names the alert's diff window; restore, diff and mute actions carry it."""
        return f"{self.tenant_id}:{self.before.id}:{self.after.id}"

    @property
    def shown(self) -> tuple[Finding, ...]:
        return self.findings[: self.listed]

    @property
    def more(self) -> int:
        return len(self.findings) - len(self.shown)

    @property
    def rest(self) -> list[RuleCount]:
        """The findings not listed, counted by rule, in alert order."""
        counts: dict[str, RuleCount] = {}
        for finding in self.findings[self.listed :]:
            seen = counts.get(finding.rule_id)
            counts[finding.rule_id] = RuleCount(
                finding.rule_id,
                seen.title if seen else finding.title,
                finding.severity,
                (seen.count if seen else 0) + 1,
            )
        return list(counts.values())

    @property
    def counts(self) -> dict[str, int]:
        """Findings by severity."""
        found = {name: 0 for name in reversed(SEVERITIES)}
        for finding in self.findings:
            found[finding.severity] += 1
        return {name: n for name, n in found.items() if n}

    @property
    def restore_hint(self) -> dict[str, Any]:
        """What undoing the alert needs: the tenant, the snapshot from before, and the objects."""
        objects: dict[tuple[str, str], dict[str, Any]] = {}
        for finding in self.findings:
            for obj in finding.objects():
                objects.setdefault((obj["type"], obj["id"]), obj)
        return {
            "tenant_id": self.tenant_id,
            "snapshot_before": self.before.id,
            "reference": self.reference,
            "objects": list(objects.values()),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "destination_id": self.destination_id,
            "severity": self.severity,
            "title": self.title,
            "reference": self.reference,
            "from": self.before.to_json(),
            "to": self.after.to_json(),
            "min_severity": self.min_severity,
            "counts": self.counts,
            "findings": [f.to_json() for f in self.findings],
            "listed": self.listed,
            "rest": [
                {"rule": r.rule_id, "title": r.title, "severity": r.severity, "count": r.count}
                for r in self.rest
            ],
            "suppressed": self.suppressed,
            "restore_hint": self.restore_hint,
        }


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; within a severity, in the order of the rules (stable otherwise)."""
    return sorted(findings, key=lambda f: (-RANK[f.severity], f.order))


def aggregate(
    findings: Iterable[Finding],
    *,
    tenant_id: str,
    before: SnapshotSide,
    after: SnapshotSide,
    min_severity: str = "warning",
    destination_id: str | None = None,
    top: int = TOP_ITEMS,
    suppressed: Iterable[Finding] = (),
    actor_names: Mapping[str, str] | None = None,
) -> Alert | None:
    """The one alert for a destination, or None when nothing reaches its minimum severity."""
    floor = severity(min_severity)
    kept = ordered(f for f in findings if at_least(f.severity, floor))
    if not kept:
        return None
    return Alert(
        tenant_id=tenant_id,
        before=before,
        after=after,
        findings=tuple(kept),
        listed=max(1, min(top, len(kept))),
        min_severity=floor,
        destination_id=destination_id,
        suppressed=sum(1 for f in suppressed if at_least(f.severity, floor)),
        actor_names=dict(actor_names or {}),
    )


@dataclass(frozen=True)
class Screened:
    fresh: tuple[Finding, ...]  # to announce
    repeated: tuple[Finding, ...]  # announced within the window with the same state: held back


def screen(
    catalog: Catalog,
    tenant_id: str,
    findings: Iterable[Finding],
    now: datetime,
    window: timedelta = SUPPRESSION_WINDOW,
) -> Screened:
    items = list(findings)
    known = announcements(catalog, tenant_id, (f.fingerprint for f in items))
    fresh: list[Finding] = []
    repeated: list[Finding] = []
    for finding in items:
        row = known.get(finding.fingerprint)
        recent = row is not None and row.state == finding.state and row.first_at >= now - window
        (repeated if recent else fresh).append(finding)
    return Screened(tuple(fresh), tuple(repeated))


def remember(
    catalog: Catalog,
    tenant_id: str,
    *,
    announced: Iterable[Finding],
    repeated: Iterable[Finding] = (),
    now: datetime,
) -> None:
    """Record what was announced (a new announcement each) and what was held back (counted)."""
    record_announcements(
        catalog,
        tenant_id,
        announced={f.fingerprint: f.state for f in announced},
        repeated=[f.fingerprint for f in repeated],
        now=now,
    )
