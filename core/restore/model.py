"""A restore plan: what will be written to the tenant, in what order, and why.

The plan is the contract between the planner (which reads a snapshot and the live tenant), the approval
workflow (which binds a person's approval to the plan's hash) and the executor (which runs exactly the
approved plan). It is plain data with one canonical JSON form; ``plan_hash`` is SHA-256 over that form.

Ids inside a plan are always the ids in the snapshot. When an action recreates an object, the executor learns
its new id and rewrites every later body and link that names the old one (``Plan.remap``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from core.snapshots.canonical import canonical_json, load_json

PLAN_FORMAT = 1


class Operation(StrEnum):
    RESTORE_DELETED = "restore_deleted"  # POST .../deletedItems/{id}/restore: same id, links kept by Entra
    RECREATE = "recreate"  # POST a new object from the snapshot; it gets a new id
    PATCH = "patch"  # PATCH the properties that differ back to the snapshot's values
    ADD_LINK = "add_link"  # members/owners $ref, manager PUT, app role / role assignment, AU scoped role
    REMOVE_LINK = "remove_link"  # a link added since the snapshot (a member slipped into a privileged group)
    SKIP = "skip"  # cannot or must not be written; ``reason`` says why


# The order the preview lists actions in; higher is riskier.
class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


RISK_ORDER = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2, Risk.CRITICAL: 3}


@dataclass(frozen=True)
class PropertyChange:
    """One property the action writes: its live value now and the snapshot value it goes back to."""

    path: str
    live: Any
    snapshot: Any


@dataclass(frozen=True)
class Action:
    """One write (or a stated non-write). ``key`` is unique in the plan and names the step in the journal."""

    key: str  # e.g. "recreate:group:<id>", "add_link:group:<id>:members:<target id>"
    operation: Operation
    object_type: str  # registry name
    object_id: str  # id in the snapshot
    display_name: str
    risk: Risk = Risk.LOW
    depends_on: tuple[str, ...] = ()  # keys of actions that must succeed first
    # RECREATE: the POST body (snapshot ids inside; remapped at run time). PATCH: {property: snapshot value}.
    body: dict[str, Any] | None = None
    changes: tuple[PropertyChange, ...] = ()  # for the preview: what the action changes, old and new
    relationship: str | None = None  # link actions: members, owners, manager, appRoleAssignedTo, ...
    target_type: str | None = None  # link actions: the linked object's type
    target_id: str | None = None  # link actions: the linked object's id (snapshot id)
    reason: str | None = None  # SKIP: why; other operations: a note for the preview

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "operation": self.operation.value,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "display_name": self.display_name,
            "risk": self.risk.value,
            "depends_on": list(self.depends_on),
        }
        if self.body is not None:
            out["body"] = self.body
        if self.changes:
            out["changes"] = [{"path": c.path, "live": c.live, "snapshot": c.snapshot} for c in self.changes]
        for name in ("relationship", "target_type", "target_id", "reason"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        return cls(
            key=str(data["key"]),
            operation=Operation(data["operation"]),
            object_type=str(data["object_type"]),
            object_id=str(data["object_id"]),
            display_name=str(data["display_name"]),
            risk=Risk(data.get("risk", "low")),
            depends_on=tuple(data.get("depends_on", ())),
            body=data.get("body"),
            changes=tuple(
                PropertyChange(c["path"], c.get("live"), c.get("snapshot")) for c in data.get("changes", ())
            ),
            relationship=data.get("relationship"),
            target_type=data.get("target_type"),
            target_id=data.get("target_id"),
            reason=data.get("reason"),
        )


@dataclass(frozen=True)
class PlanWarning:
    """Something a person must know before approving: a new appId, a password to hand out, a name taken."""

    code: str  # new_app_id, needs_password, name_taken, report_only, break_glass_kept, synced, ...
    message: str  # one line, for people
    object_type: str | None = None
    object_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.object_type is not None:
            out["object_type"] = self.object_type
        if self.object_id is not None:
            out["object_id"] = self.object_id
        return out


@dataclass(frozen=True)
class Plan:
    tenant_id: str
    snapshot_id: str
    snapshot_created_at: str  # ISO 8601 Z
    selector: str  # what the person asked for, as typed
    created_at: str  # ISO 8601 Z
    actions: tuple[Action, ...]
    warnings: tuple[PlanWarning, ...] = ()
    # "type/id" -> fingerprint of the live object when the plan was made (core.restore.live.fingerprint);
    # the executor refuses to run when any of these drifted.
    live_state: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"ca_report_only": true}

    # --- identity -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "tenant_id": self.tenant_id,
            "snapshot_id": self.snapshot_id,
            "snapshot_created_at": self.snapshot_created_at,
            "selector": self.selector,
            "created_at": self.created_at,
            "actions": [a.to_json() for a in self.actions],
            "warnings": [w.to_json() for w in self.warnings],
            "live_state": dict(self.live_state),
            "options": dict(self.options),
        }

    def canonical(self) -> bytes:
        return self._canonical

    @cached_property
    def _canonical(self) -> bytes:  # a plan is never changed once made: serialise a large one once
        return canonical_json(self.to_json())

    @cached_property
    def plan_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unknown plan format {data.get('format')!r}")
        return cls(
            tenant_id=str(data["tenant_id"]),
            snapshot_id=str(data["snapshot_id"]),
            snapshot_created_at=str(data["snapshot_created_at"]),
            selector=str(data["selector"]),
            created_at=str(data["created_at"]),
            actions=tuple(Action.from_json(a) for a in data["actions"]),
            warnings=tuple(
                PlanWarning(w["code"], w["message"], w.get("object_type"), w.get("object_id"))
                for w in data.get("warnings", ())
            ),
            live_state=dict(data.get("live_state", {})),
            options=dict(data.get("options", {})),
        )

    @classmethod
    def from_canonical(cls, data: bytes) -> Plan:
        return cls.from_json(load_json(data))

    # --- reading --------------------------------------------------------------------------------------

    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.operation is not Operation.SKIP)

    def object_keys(self) -> frozenset[str]:
        """Every "type/id" the plan writes or links, for locking overlapping restores."""
        keys = {f"{a.object_type}/{a.object_id}" for a in self.writes()}
        keys |= {f"{a.target_type}/{a.target_id}" for a in self.writes() if a.target_id and a.target_type}
        return frozenset(keys)

    def counts(self) -> dict[str, int]:
        """Actions by operation, in a fixed order, zeros left out."""
        counted = Counter(a.operation for a in self.actions)
        return {op.value: counted[op] for op in Operation if counted[op]}

    def riskiest(self, limit: int = 5) -> list[Action]:
        ranked = sorted(self.writes(), key=lambda a: (-RISK_ORDER[a.risk], a.object_type, a.display_name))
        return ranked[:limit]

    def summary_line(self) -> str:
        """One line for lists, chat notifications and audit records."""
        parts = [f"{n} {op.replace('_', ' ')}" for op, n in self.counts().items()]
        return f"{self.selector} from {self.snapshot_id[:8]}: " + (", ".join(parts) or "nothing to do")

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["step", "operation", "type", "id", "name", "risk", "relationship", "target", "changes", "reason"]
        )
        for number, action in enumerate(self.actions, 1):
            changes = "; ".join(f"{c.path}: {c.live!r} -> {c.snapshot!r}" for c in action.changes)
            writer.writerow(
                [
                    number,
                    action.operation.value,
                    action.object_type,
                    action.object_id,
                    action.display_name,
                    action.risk.value,
                    action.relationship or "",
                    action.target_id or "",
                    changes,
                    action.reason or "",
                ]
            )
        return out.getvalue()


def remap(value: Any, new_ids: Mapping[str, str]) -> Any:
    """``value`` with every string equal to an old id replaced by the new id (bodies, lists, nested)."""
    if isinstance(value, str):
        return new_ids.get(value, value)
    if isinstance(value, list):
        return [remap(v, new_ids) for v in value]
    if isinstance(value, dict):
        return {k: remap(v, new_ids) for k, v in value.items()}
    return value


def role_assignable(obj: Mapping[str, Any] | None) -> bool:
    """A group that can hold directory roles: changing who is in it changes who is an administrator."""
    return bool(obj and obj.get("isAssignableToRole"))
