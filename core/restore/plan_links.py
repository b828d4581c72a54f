"""Links (memberships, owners, manager, ...) that differ between the snapshot and the live tenant."""

from __future__ import annotations

from dataclasses import replace

from core.registry import ObjectType, Relationship
from core.restore.live import LiveObject, ObjectRef, Presence
from core.restore.model import Operation, Risk
from core.restore.plan_bodies import dynamic_members
from core.restore.plan_draft import PlanDraft
from core.snapshots import StoredObject

LinkChange = tuple[Relationship, list[str], list[str]]  # (relationship, targets to add, targets to remove)


def link_changes(t: ObjectType, stored: StoredObject, live: LiveObject) -> list[LinkChange]:
    """Per relationship read live, the targets to add and remove; a dynamic group's members are its rule's."""
    out: list[LinkChange] = []
    for rel in t.relationships:
        if rel.name not in live.links or (rel.name == "members" and dynamic_members(t, stored.object)):
            continue
        want, have = stored.links.get(rel.name), live.links.get(rel.name)
        if rel.single:
            if want == have:
                continue
            added = [want] if isinstance(want, str) else []
            removed = [have] if isinstance(have, str) and not added else []
            out.append((rel, added, removed))
            continue
        wanted = set(want or []) if isinstance(want, list) else set()
        present = set(have or []) if isinstance(have, list) else set()
        if wanted != present:
            out.append((rel, sorted(wanted - present), sorted(present - wanted)))
    return out


async def check_link_targets(draft: PlanDraft) -> None:
    """Read the targets of new links: a member that is gone and not in the plan cannot be linked."""
    links = [a for a in draft.actions.values() if a.operation is Operation.ADD_LINK and a.target_id]
    targets = [ObjectRef(a.target_type or "", a.target_id or "") for a in links if a.target_type]
    await draft.fetch([r for r in targets if r.object_id not in draft.creators])
    for action in links:
        target = action.target_id or ""
        if target in draft.creators:
            continue
        live = draft.seen.get(f"{action.target_type}/{target}")
        if live is None or live.presence is Presence.PRESENT:
            continue
        where = "is in the recycle bin" if live.presence is Presence.DELETED else "no longer exists"
        draft.actions[action.key] = replace(
            action,
            operation=Operation.SKIP,
            risk=Risk.LOW,
            reason=f"{action.target_type} {draft.name_of(action.target_type or '', target)} {where}: "
            "add it to the selection to bring it back with its links",
        )
