"""One object of the snapshot against the live tenant: restore it from the recycle bin, recreate it, patch it
back, relink it, or say why it is skipped."""

from __future__ import annotations

from core.registry import ObjectType, RestoreMode, object_type
from core.restore.live import LiveObject, ObjectRef, Presence
from core.restore.model import Operation, PropertyChange
from core.restore.plan_bodies import SECRETS, create_body, differences, dynamic_members
from core.restore.plan_draft import SCOPED_ROLE_REASON, PlanDraft, display
from core.restore.plan_links import link_changes
from core.restore.plan_safety import keep_break_glass, recreate_warnings, taken_by_other
from core.snapshots import StoredObject

# Keyed by the partner's tenant id: recreated under the same key, so nothing pointing at it needs rewriting.
_NOT_FOLLOWED = ("crossTenantAccessPolicyConfigurationPartner",)


def decide(draft: PlanDraft, ref: ObjectRef) -> None:
    """Plan what brings ``ref`` back to the snapshot (once per object, however often it is reached)."""
    if ref.key in draft.decided:
        return
    draft.decided.add(ref.key)
    stored = draft.reader.get(ref.object_type, ref.object_id)
    if stored is None:
        return
    t = object_type(ref.object_type)
    live = draft.seen.get(ref.key) or LiveObject(ref, Presence.ABSENT)
    name = display(t, stored.object, ref.object_id)
    refusal = _refusal(draft, t, stored, live)
    if refusal is not None:
        if live.presence is Presence.PRESENT and not _differs(t, stored, live):
            draft.unchanged += 1
        else:
            draft.skip(t, ref.object_id, name, refusal)
        return
    if live.presence is Presence.DELETED and t.restore in (
        RestoreMode.RECYCLE_BIN,
        RestoreMode.CA_DELETED_ITEMS,
    ):
        _restore_deleted(draft, t, stored, live, name)
    elif live.presence is Presence.PRESENT:
        _bring_back_present(draft, t, stored, live, name)
    elif t.singleton or t.restore is RestoreMode.PATCH:
        draft.skip(t, ref.object_id, name, "not readable live: check the restore app's read permissions")
    else:
        _recreate(draft, t, stored, name)


def _refusal(draft: PlanDraft, t: ObjectType, stored: StoredObject, live: LiveObject) -> str | None:
    obj = stored.object
    if t.restore is RestoreMode.READ_ONLY:
        return f"{t.title} are not restored: a domain comes back only through DNS re-verification"
    flag = t.synced_flag
    if flag and (obj.get(flag) or (live.object or {}).get(flag)):
        draft.warn("synced", f"{display(t, obj, stored.id)} is synced from on-premises AD", t.name, stored.id)
        return "synced from on-premises AD: restore it there, the next sync brings it back"
    if (t.name == "unifiedRoleDefinition" and obj.get("isBuiltIn")) or (
        t.name == "authenticationStrengthPolicy" and obj.get("policyType") == "builtIn"
    ):
        return "built-in: Microsoft manages it and it cannot be changed"
    return None


def _differs(t: ObjectType, stored: StoredObject, live: LiveObject) -> bool:
    body, _, unwritable = differences(t, stored.object, live.object or {})
    return bool(body or unwritable or link_changes(t, stored, live))


def _restore_deleted(
    draft: PlanDraft, t: ObjectType, stored: StoredObject, live: LiveObject, name: str
) -> None:
    taken = taken_by_other(draft, t, stored, live.presence)
    if taken:
        draft.skip(t, stored.id, name, taken)
        return
    draft.create(
        Operation.RESTORE_DELETED,
        t,
        stored,
        name,
        reason="from the recycle bin: same id, its memberships come back with it",
    )
    body, changes, unwritable = differences(t, stored.object, live.object or {})
    if t.name == "namedLocation" and stored.object.get("isTrusted"):
        body["isTrusted"] = True  # Graph brings named locations back untrusted
        body.setdefault("@odata.type", "#microsoft.graph.ipNamedLocation")
        changes.append(PropertyChange("isTrusted", False, True))
    if t.name == "conditionalAccessPolicy" and stored.object.get("state") == "enabled":
        draft.warn(
            "restored_enabled",
            f"Conditional Access policy {name!r} comes back from the recycle bin enforced, as deleted",
            t.name,
            stored.id,
        )
    draft.patch(t, stored, name, body, changes)
    draft.unwritable(t, stored, name, unwritable)


def _bring_back_present(
    draft: PlanDraft, t: ObjectType, stored: StoredObject, live: LiveObject, name: str
) -> None:
    body, changes, unwritable = differences(t, stored.object, live.object or {})
    if t.name == "conditionalAccessPolicy" and body:
        body, changes = keep_break_glass(draft, stored, live, body, changes, name)
    wrote = draft.patch(t, stored, name, body, changes)
    wrote |= draft.unwritable(t, stored, name, unwritable)
    for rel, added, removed in link_changes(t, stored, live):
        wrote = True
        if rel.name == "scopedRoleMembers":
            draft.skip(t, stored.id, name, SCOPED_ROLE_REASON, detail=rel.name)
            continue
        for target in added:
            draft.link(Operation.ADD_LINK, t, stored.id, name, rel, target)
        for target in removed:
            draft.link(Operation.REMOVE_LINK, t, stored.id, name, rel, target)
    if not wrote:
        draft.unchanged += 1


def _recreate(draft: PlanDraft, t: ObjectType, stored: StoredObject, name: str) -> None:
    taken = taken_by_other(draft, t, stored, Presence.ABSENT)
    if taken:
        draft.skip(t, stored.id, name, taken)
        return
    body = create_body(t, stored.object, report_only=draft.report_only)
    draft.create(
        Operation.RECREATE,
        t,
        stored,
        name,
        body=body,
        reason="gone for good: created again with a new id; references to the old id are rewritten",
    )
    if t.name not in _NOT_FOLLOWED:
        draft.recreated[stored.id] = t.name
    recreate_warnings(draft, t, stored, name, body)
    draft.unwritable(t, stored, name, [s for s in SECRETS if stored.object.get(s)])
    for rel in t.relationships:
        value = stored.links.get(rel.name)
        targets = [value] if isinstance(value, str) else sorted(value or [])
        if rel.name == "scopedRoleMembers":
            if targets:
                draft.skip(t, stored.id, name, SCOPED_ROLE_REASON, detail=rel.name)
            continue
        if rel.name == "members" and dynamic_members(t, stored.object):
            continue  # the membership rule fills the group again
        for target in targets:
            draft.link(Operation.ADD_LINK, t, stored.id, name, rel, target)
