"""A finding: one rule's verdict on one change (or, for a mass deletion, on many removals of one type)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from core.alerts.paths import canonical, leaves
from core.alerts.severity import Severity
from core.diff.model import Attribution, Change

MASS_DELETION_ID = "mass-deletion"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    title: str  # rendered, phone-sized
    action: str  # verb phrase for "<who> <action> <subject>"
    object_type: str
    changes: tuple[Change, ...]
    order: int = 0  # the rule's place in the file: earlier rules list first within a severity
    subject: str | None = None  # how people name the object(s), set once the snapshots are at hand
    evidence: tuple[str, Any, Any] | None = None  # (path, old, new) of the field that made the rule match

    @property
    def change(self) -> Change:
        return self.changes[0]

    @property
    def mass(self) -> bool:
        return self.rule_id == MASS_DELETION_ID

    @property
    def label(self) -> str:
        if self.subject:
            return self.subject
        if self.mass:
            return f"{len(self.changes)} {self.object_type} objects"
        change = self.change
        return f"'{change.display_name}'" if change.display_name else change.id

    @property
    def fingerprint(self) -> str:
        """What makes two findings "the same alert": rule + object (+ relationship)."""
        if self.mass:
            return f"{self.rule_id}:{self.object_type}"
        change = self.change
        relationship = f":{change.link.relationship}" if change.link else ""
        return f"{self.rule_id}:{change.type}:{change.id}{relationship}"

    @property
    def state(self) -> str:
        """What the change left behind, so a flapping setting that returns to an announced state is known."""
        change = self.change
        payload: Any
        if self.mass:
            payload = sorted(c.id for c in self.changes)
        elif change.link is not None:
            payload = [sorted(change.link.added), sorted(change.link.removed)]
        else:
            payload = [[leaf.path, leaf.new] for leaf in leaves(change)]
        digest = hashlib.sha256(canonical(payload).encode()).hexdigest()[:16]
        return f"{change.change}:{digest}"

    @property
    def attribution(self) -> Attribution | None:
        """The latest attributed change of the finding."""
        known = [c.attribution for c in self.changes if c.attribution is not None]
        return max(known, key=lambda a: a.at) if known else None

    @property
    def actors(self) -> list[Attribution]:
        """One attribution per distinct actor, latest first."""
        known = sorted(
            (c.attribution for c in self.changes if c.attribution is not None),
            key=lambda a: a.at,
            reverse=True,
        )
        seen: dict[str, Attribution] = {}
        for attribution in known:
            seen.setdefault(attribution.actor, attribution)
        return list(seen.values())

    def objects(self) -> list[dict[str, Any]]:
        """The objects a restore would put back: type, id and display name of each change."""
        return [{"type": c.type, "id": c.id, "display_name": c.display_name} for c in self.changes]

    def to_json(self) -> dict[str, Any]:
        attribution = self.attribution
        return {
            "rule": self.rule_id,
            "severity": self.severity,
            "title": self.title,
            "action": self.action,
            "type": self.object_type,
            "subject": self.label,
            "fingerprint": self.fingerprint,
            "count": len(self.changes),
            "evidence": None
            if self.evidence is None
            else {"path": self.evidence[0], "old": self.evidence[1], "new": self.evidence[2]},
            "changes": [c.to_json() for c in self.changes],
            "attribution": None
            if attribution is None
            else {
                "actor": attribution.actor,
                "actor_type": attribution.actor_type,
                "activity": attribution.activity,
                "at": attribution.at,
                "actor_id": attribution.actor_id,
            },
        }
