"""Soft delete, hard delete, purge and restore, with Graph's per-type policy (reference §0 and §1)."""

from __future__ import annotations

from typing import Any

from .changelog import GONE
from .clock import iso
from .store import Deleted, Store
from .types import HARD, SOFT_CONDITIONAL_ACCESS, SOFT_DIRECTORY, Obj

RETENTION_S = 30 * 86400
_ALWAYS_SOFT = frozenset({"users", "applications", "servicePrincipals", "administrativeUnits"})


def delete_policy(collection: str, obj: Obj) -> str:
    if collection in _ALWAYS_SOFT:
        return SOFT_DIRECTORY
    if collection in ("conditionalAccessPolicies", "namedLocations"):
        return SOFT_CONDITIONAL_ACCESS
    if collection == "groups":
        if "Unified" in (obj.get("groupTypes") or []):
            return SOFT_DIRECTORY
        # Cloud-only security groups gained soft delete in 2026; synced, mail-enabled and distribution
        # groups are still deleted for good.
        if obj.get("onPremisesSyncEnabled") or obj.get("mailEnabled") or not obj.get("securityEnabled"):
            return HARD
        return SOFT_DIRECTORY
    return HARD


def deleted_view(entry: Deleted) -> Obj:
    return {**entry.obj, "deletedDateTime": entry.deleted_dt}


def soft_delete(store: Store, collection: str, obj_id: str, now: float) -> Obj:
    stash = store.detach(obj_id)
    obj = store.remove(collection, obj_id, log=False)
    assert obj is not None
    store.add_deleted(obj_id, Deleted(collection, obj, now, iso(now), stash))
    return obj


def hard_delete(store: Store, collection: str, obj_id: str) -> Obj | None:
    store.detach(obj_id)
    remove_references(store, obj_id)
    return store.remove(collection, obj_id)


def purge(store: Store, obj_id: str) -> Deleted:
    entry = store.pop_deleted(obj_id)
    remove_references(store, obj_id)
    store.changes.record(entry.collection, obj_id, GONE)
    return entry


def restore(store: Store, obj_id: str) -> Obj:
    entry = store.pop_deleted(obj_id)
    obj = dict(entry.obj)
    if entry.collection == "namedLocations" and "isTrusted" in obj:
        obj["isTrusted"] = False  # Graph brings named locations back untrusted
    store.insert(entry.collection, obj)
    manager = store.relations["manager"]
    for rel, source, target in entry.stash:
        other = target if source == obj_id else source
        if other in store.kind:
            if rel == "manager" and manager.targets(source):
                continue  # someone was given a new manager meanwhile; keep it
            store.link(rel, source, target)
        elif other in store.deleted:
            # Both ends are in the container: whichever comes back last re-creates the link.
            store.deleted[other].stash.append((rel, source, target))
    return obj


def _matches(obj: Obj, obj_id: str, props: tuple[str, ...]) -> bool:
    for prop in props:
        value: Any = obj
        for part in prop.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        if value == obj_id:
            return True
    return False


_REFERENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("oauth2PermissionGrants", ("clientId", "resourceId", "principalId")),
    ("roleAssignments", ("principalId",)),
    ("roleEligibilitySchedules", ("principalId",)),
    ("scopedRoleMemberships", ("administrativeUnitId", "roleMemberInfo/id")),
)


def remove_references(store: Store, obj_id: str) -> None:
    """What Graph cleans up when an object is gone for good (CA policy references are left dangling)."""
    assignments = list(store.assigned_to.targets(obj_id)) + list(store.assignments_of.targets(obj_id))
    for assignment_id in assignments:
        store.remove("appRoleAssignments", assignment_id)
    for collection, props in _REFERENCES:
        objs = store.coll(collection).objs
        for other_id in [i for i, o in objs.items() if _matches(o, obj_id, props)]:
            store.remove(collection, other_id)


def expire(store: Store, now: float) -> None:
    for obj_id in list(store.expired_deleted(now - RETENTION_S)):
        entry = store.deleted[obj_id]
        audience = entry.obj.get("signInAudience")
        if entry.collection == "applications" and audience not in (None, "AzureADMyOrg"):
            continue  # multi-tenant and MSA apps are not purged automatically
        purge(store, obj_id)
