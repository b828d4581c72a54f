"""The plan being built: what was read live, the actions and warnings decided so far, and how each is added.

Every planning step (``plan_decide``, ``plan_follow``, ``plan_links``, ``plan_safety``) works on one draft, so
an object reached twice (selected, and pointing at something recreated) is read once and planned once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.catalog import Catalog
from core.registry import ObjectType, Relationship
from core.restore.live import LiveObject, LiveTenant, ObjectRef
from core.restore.model import Action, Operation, PlanWarning, PropertyChange
from core.restore.plan_bodies import SECRETS
from core.restore.plan_risk import link_risk, object_risk, patch_risk
from core.restore.selection import Selection, parents_of
from core.snapshots import SnapshotReader, StoredObject

FETCH_CHUNK = 500  # objects read live per round: bounded memory, still ~25 $batch requests per round
SECRET_REASON = "secrets cannot be restored; create a new one with addPassword"
SCOPED_ROLE_REASON = "scoped role memberships are not relinked: assign the AU-scoped role again by hand"

WarningKey = tuple[str, str | None, str | None]


def display(t: ObjectType, obj: dict[str, Any], fallback: str) -> str:
    for key in (t.display_field, t.principal_field, "displayName", "principalDisplayName"):
        value = obj.get(key) if key else None
        if isinstance(value, str) and value:
            return value
    return fallback


class PlanDraft:
    def __init__(
        self,
        tenant_id: str,
        catalog: Catalog,
        selection: Selection,
        live: LiveTenant,
        *,
        break_glass: set[str],
        report_only: bool,
    ) -> None:
        self.tenant_id = tenant_id
        self.catalog = catalog
        self.selection = selection
        self.reader: SnapshotReader = selection.reader
        self.live = live
        self.break_glass = break_glass  # object ids never removed from a CA policy's exclusions
        self.report_only = report_only  # recreated CA policies come back report-only
        self.seen: dict[str, LiveObject] = dict(selection.prefetched)
        self.actions: dict[str, Action] = {}
        self.warnings: dict[WarningKey, PlanWarning] = {
            (w.code, w.object_type, w.object_id): w for w in selection.notes
        }
        self.creators: dict[str, str] = {}  # snapshot id -> key of the action that brings it back
        self.recreated: dict[str, str] = {}  # snapshot id -> type, for objects that get a new id
        self.expanded: set[str] = set()  # recreated ids whose holders were followed
        self.decided: set[str] = set()
        self.unchanged = 0
        self.taken: dict[tuple[str, str], list[str]] = {}  # (unique prop, lower value) -> live ids holding it

    async def fetch(self, refs: Iterable[ObjectRef]) -> None:
        """Read live what has not been read yet, in bounded rounds."""
        wanted = list(dict.fromkeys(r for r in refs if r.key not in self.seen))
        remember = getattr(self.live, "remember_parents", None)
        if remember is not None:
            remember(parents_of(self.reader, wanted))
        for start in range(0, len(wanted), FETCH_CHUNK):
            for found in await self.live.fetch_many(wanted[start : start + FETCH_CHUNK]):
                self.seen[found.ref.key] = found

    def warn(
        self, code: str, message: str, type_name: str | None = None, object_id: str | None = None
    ) -> None:
        self.warnings.setdefault(
            (code, type_name, object_id), PlanWarning(code, message, type_name, object_id)
        )

    # --- actions --------------------------------------------------------------------------------------

    def add(self, action: Action) -> str:
        self.actions.setdefault(action.key, action)
        return action.key

    def create(
        self,
        op: Operation,
        t: ObjectType,
        stored: StoredObject,
        name: str,
        *,
        reason: str,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Plan bringing the object back (restore or recreate); what points at it then depends on this."""
        self.creators[stored.id] = self.add(
            Action(
                key=f"{op.value}:{t.name}:{stored.id}",
                operation=op,
                object_type=t.name,
                object_id=stored.id,
                display_name=name,
                risk=object_risk(t, stored.object),
                body=body,
                reason=reason,
            )
        )

    def skip(
        self, t: ObjectType, object_id: str, name: str, reason: str, *, detail: str | None = None
    ) -> None:
        suffix = f":{detail}" if detail else ""
        self.add(
            Action(
                key=f"skip:{t.name}:{object_id}{suffix}",
                operation=Operation.SKIP,
                object_type=t.name,
                object_id=object_id,
                display_name=name,
                reason=reason,
            )
        )

    def patch(
        self,
        t: ObjectType,
        stored: StoredObject,
        name: str,
        body: dict[str, Any],
        changes: list[PropertyChange],
    ) -> bool:
        if not body:
            return False
        key = f"patch:{t.name}:{stored.id}"
        existing = self.actions.get(key)
        if existing is not None:  # merge with a reference rewrite planned earlier
            body = {**(existing.body or {}), **body}
            changes = [*existing.changes, *changes]
        self.actions[key] = Action(
            key=key,
            operation=Operation.PATCH,
            object_type=t.name,
            object_id=stored.id,
            display_name=name,
            risk=patch_risk(t, stored.object, body),
            body=body,
            changes=tuple(changes),
        )
        return True

    def unwritable(self, t: ObjectType, stored: StoredObject, name: str, props: Sequence[str]) -> bool:
        secrets = [p for p in props if p in SECRETS]
        other = [p for p in props if p not in SECRETS]
        if secrets:
            self.skip(t, stored.id, name, SECRET_REASON, detail="secrets")
            self.warn("secrets", f"{name}: {SECRET_REASON}", t.name, stored.id)
        if other:
            self.skip(
                t,
                stored.id,
                name,
                f"read-only, cannot be written back: {', '.join(sorted(other))}",
                detail="read_only",
            )
        return bool(props)

    def link(
        self, op: Operation, t: ObjectType, object_id: str, name: str, rel: Relationship, target: str
    ) -> None:
        target_type = self.target_type(rel, target)
        verb = "add" if op is Operation.ADD_LINK else "remove"
        self.add(
            Action(
                key=f"{op.value}:{t.name}:{object_id}:{rel.name}:{target}",
                operation=op,
                object_type=t.name,
                object_id=object_id,
                display_name=name,
                risk=link_risk(t, self.reader.get(t.name, object_id), op),
                relationship=rel.name,
                target_type=target_type,
                target_id=target,
                reason=f"{verb} {self.name_of(target_type, target)} ({rel.name})",
            )
        )

    # --- names ----------------------------------------------------------------------------------------

    def target_type(self, rel: Relationship, target: str) -> str:
        """Which of the relationship's target types ``target`` is (a member may be a user or a group)."""
        for candidate in rel.targets:
            if self.reader.entry(candidate, target) is not None:
                return candidate
        for found in self.catalog.find_objects(self.tenant_id, target, limit=5):
            if found.object_id == target and found.object_type in rel.targets:
                return found.object_type
        return rel.targets[0]

    def name_of(self, type_name: str, object_id: str) -> str:
        entry = self.reader.entry(type_name, object_id)
        return (entry.name or entry.principal or object_id) if entry else object_id
