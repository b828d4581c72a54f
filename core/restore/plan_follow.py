"""What pointed at objects that come back with a new id: relink it, rewrite the reference, or recreate it."""

from __future__ import annotations

from core.registry import object_type
from core.restore.live import ObjectRef, Presence
from core.restore.model import Operation, PropertyChange
from core.restore.plan_bodies import CREATE_ONLY_FIELDS, dynamic_members, values_at, with_value_at
from core.restore.plan_decide import decide
from core.restore.plan_draft import SCOPED_ROLE_REASON, PlanDraft, display
from core.restore.plan_refs import Holder, holders_of, service_principals_of
from core.restore.plan_safety import check_names


async def follow_recreated(draft: PlanDraft) -> None:
    """Until no recreated object is left unfollowed (following may recreate more)."""
    while set(draft.recreated) - draft.expanded:
        fresh = {i: t for i, t in draft.recreated.items() if i not in draft.expanded}
        draft.expanded |= set(fresh)
        await _follow(draft, fresh)


async def _follow(draft: PlanDraft, fresh: dict[str, str]) -> None:
    reader = draft.reader
    holders = list(holders_of(reader, fresh))
    apps = {
        str(reader.get("application", i).object.get("appId"))  # type: ignore[union-attr]
        for i, t in fresh.items()
        if t == "application" and reader.get("application", i) is not None
    }
    principals = service_principals_of(reader, apps) if apps else []
    refs = [ObjectRef(h.object_type, h.object_id) for h in holders]
    refs += [ObjectRef("servicePrincipal", i) for i in principals]
    await draft.fetch(refs)
    # Assignments and grants are never changed in place, and a recreated holder is written whole:
    # those are planned as creates, the rest as a relink or a reference rewrite.
    created: list[ObjectRef] = [ObjectRef("servicePrincipal", i) for i in principals]
    for holder in holders:
        ref = ObjectRef(holder.object_type, holder.object_id)
        if holder.object_type in CREATE_ONLY_FIELDS or holder.object_id in draft.recreated:
            created.append(ref)
            continue
        _rewrite(draft, holder)
    if created:
        await check_names(draft, created)
    for ref in created:
        live = draft.seen.get(ref.key)
        if live is not None and live.presence is not Presence.PRESENT:
            decide(draft, ref)


def _rewrite(draft: PlanDraft, holder: Holder) -> None:
    t = object_type(holder.object_type)
    stored = draft.reader.get(t.name, holder.object_id)
    live = draft.seen.get(f"{t.name}/{holder.object_id}")
    if stored is None or live is None:
        return
    name = display(t, stored.object, holder.object_id)
    own = draft.creators.get(holder.object_id)
    restoring = own is not None and own.startswith(Operation.RESTORE_DELETED.value)
    if live.presence is not Presence.PRESENT and not restoring:
        return  # the holder is gone too and not part of the plan: nothing to point from
    if t.synced_flag and stored.object.get(t.synced_flag):
        reason = "synced from on-premises AD: relink it there, the next sync brings it back"
        draft.skip(t, holder.object_id, name, reason, detail=f"{holder.name}:{holder.target_id}")
        return
    if holder.kind == "link":
        rel = next(r for r in t.relationships if r.name == holder.name)
        if rel.name == "members" and dynamic_members(t, stored.object):
            return
        if rel.name == "scopedRoleMembers":
            draft.skip(t, holder.object_id, name, SCOPED_ROLE_REASON, detail=rel.name)
        else:
            draft.link(Operation.ADD_LINK, t, holder.object_id, name, rel, holder.target_id)
        return
    top = holder.name.split(".")[0]
    source = stored.object if restoring else (live.object or {})
    key = f"patch:{t.name}:{holder.object_id}"
    base = dict((draft.actions[key].body or {}) if key in draft.actions else {})
    current = {top: base.get(top, source.get(top))}
    body = {**base, **with_value_at(current, holder.name, holder.target_id)}
    # The live value often still names the purged object's old id, so show the people approving which
    # object the rewritten reference will name; the body keeps the old id, which the run maps to the new one.
    target = _label(draft, holder.target_id)
    shown = [f"<new id of {target}>" if v == holder.target_id else v for v in values_at(body, holder.name)]
    change = PropertyChange(holder.name, values_at(current, holder.name), shown)
    draft.patch(t, stored, name, {top: body[top]}, [change])


def _label(draft: PlanDraft, object_id: str) -> str:
    type_name = draft.recreated.get(object_id)
    stored = draft.reader.get(type_name, object_id) if type_name else None
    if type_name is None or stored is None:
        return object_id
    return f"{type_name} '{display(object_type(type_name), stored.object, object_id)}'"
