"""What changed between two states of a tenant: the vocabulary diff, alerts, summaries and restore share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ChangeKind = Literal["added", "removed", "modified"]
# Why an object is gone: still in the recycle bin (restorable with its id), or gone for good.
RemovedReason = Literal["soft_deleted", "hard_deleted"]


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted JSON path: "state", "conditions.users.excludeUsers", "passwordCredentials"
    old: Any
    new: Any


@dataclass(frozen=True)
class LinkChange:
    """A relationship change (members, owners, manager), reported as its own entry."""

    relationship: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    # Display names of the linked objects where the snapshots know them, id -> name.
    names: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Attribution:
    """Who made a change, from the directory audit log."""

    actor: str  # a user's UPN or an app's display name
    actor_type: Literal["user", "app"]
    activity: str  # "Update conditional access policy"
    at: str  # ISO 8601
    actor_id: str | None = None


@dataclass(frozen=True)
class Change:
    type: str  # registry name: user, group, conditionalAccessPolicy, ...
    id: str
    display_name: str | None
    change: ChangeKind
    fields: tuple[FieldChange, ...] = ()
    link: LinkChange | None = None  # set on relationship entries (change is then "modified")
    removed_reason: RemovedReason | None = None
    before: dict[str, Any] | None = field(default=None, hash=False, compare=False)  # object as it was
    after: dict[str, Any] | None = field(default=None, hash=False, compare=False)  # object as it is now
    attribution: Attribution | None = field(default=None, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` shape: type, id, display_name, change, fields[path, old, new], ..."""
        out: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "display_name": self.display_name,
            "change": self.change,
            "fields": [asdict(f) for f in self.fields],
        }
        if self.link is not None:
            out["relationship"] = {
                "name": self.link.relationship,
                "added": list(self.link.added),
                "removed": list(self.link.removed),
                "names": dict(self.link.names),
            }
        if self.removed_reason is not None:
            out["removed_reason"] = self.removed_reason
        if self.attribution is not None:
            out["attribution"] = asdict(self.attribution)
        return out


@dataclass(frozen=True)
class SnapshotRef:
    """One side of a diff: a stored snapshot (or the live tenant, snapshotted just now)."""

    snapshot_id: str
    created_at: str
