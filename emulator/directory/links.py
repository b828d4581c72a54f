"""Relationship writes ($ref, manager), app role assignments, passwords and membership checks."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from emulator.protocol import GraphResponse

from .context import Ctx
from .errors import already_referenced, bad_request, missing_reference, not_found
from .reads import typed
from .types import TYPES, Obj
from .validation import SYNCED_MESSAGE, body_of, ref_body_id, resolve_ref

if TYPE_CHECKING:
    from .tenant import Tenant

MAX_CHECK_GROUPS = 20
MAX_GET_BY_IDS = 1000
_ALLOWED_TARGETS = {
    ("groups", "members"): ("users", "groups", "servicePrincipals"),
    ("administrativeUnits", "members"): ("users", "groups"),
    ("groups", "owners"): ("users", "servicePrincipals"),
    ("applications", "owners"): ("users", "servicePrincipals"),
    ("servicePrincipals", "owners"): ("users", "servicePrincipals"),
}
_TYPE_NAMES = {
    "user": "users",
    "group": "groups",
    "serviceprincipal": "servicePrincipals",
    "application": "applications",
    "administrativeunit": "administrativeUnits",
}


def source_object(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> Obj:
    obj = t.store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    if t.lagging(obj_id, ctx.now):
        raise missing_reference(obj_id)
    return obj


def _check_group_membership_writable(collection: str, rel: str, obj: Obj) -> None:
    if collection != "groups" or rel != "members":
        return
    if obj.get("onPremisesSyncEnabled"):
        raise bad_request(SYNCED_MESSAGE)
    if "DynamicMembership" in (obj.get("groupTypes") or []):
        raise bad_request("Members of a group with dynamic membership can't be added or removed manually.")


def _link_audit(t: Tenant, ctx: Ctx, add: bool, collection: str, obj: Obj, rel: str, target_id: str) -> None:
    spec = TYPES[collection]
    role = "member" if rel == "members" else "owner"
    activity = f"{'Add' if add else 'Remove'} {role} {'to' if add else 'from'} {spec.noun}"
    found = t.store.find(target_id)
    targets = []
    if found is not None:
        targets.append(t.audit_target(found[0], found[1]))
    else:
        targets.append(
            {
                "id": target_id,
                "displayName": None,
                "type": "Other",
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": [],
            }
        )
    label = spec.audit_type
    changes = {
        f"{label}.ObjectID": (None, obj.get("id")),
        f"{label}.DisplayName": (None, obj.get("displayName")),
    }
    targets.append(t.audit_target(collection, obj, changes))
    t.audit.record(ctx.caller, activity, spec.audit_category, "Add" if add else "Delete", targets)


def add_ref(t: Tenant, ctx: Ctx, collection: str, obj_id: str, rel: str) -> GraphResponse:
    obj = source_object(t, ctx, collection, obj_id)
    target = ref_body_id(ctx)
    resolve_ref(t, ctx, target, _ALLOWED_TARGETS[(collection, rel)])
    _check_group_membership_writable(collection, rel, obj)
    if target == obj_id:
        raise bad_request("An object can't be added to its own relationship.")
    if not t.store.link(rel, obj_id, target):
        raise already_referenced(rel)
    _link_audit(t, ctx, True, collection, obj, rel, target)
    return GraphResponse(204)


def remove_ref(t: Tenant, ctx: Ctx, collection: str, obj_id: str, rel: str, target: str) -> GraphResponse:
    obj = t.store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    if not t.store.relations[rel].has(obj_id, target):
        raise not_found(target)
    _check_group_membership_writable(collection, rel, obj)
    t.store.unlink(rel, obj_id, target)
    _link_audit(t, ctx, False, collection, obj, rel, target)
    return GraphResponse(204)


# ----- manager


def get_manager(t: Tenant, ctx: Ctx, user_id: str) -> GraphResponse:
    if t.store.get("users", user_id) is None:
        raise not_found(user_id)
    managers = t.store.relations["manager"].targets(user_id)
    found = t.store.find(managers[0]) if managers else None
    if found is None:
        raise not_found("manager")
    body = {
        "@odata.context": ctx.context_url("directoryObjects", entity=True),
        **typed(found[1], found[0], None),
    }
    return GraphResponse(200, body, items=1)


def set_manager(t: Tenant, ctx: Ctx, user_id: str) -> GraphResponse:
    user = source_object(t, ctx, "users", user_id)
    manager_id = ref_body_id(ctx)
    resolve_ref(t, ctx, manager_id, ("users",))
    if manager_id == user_id:
        raise bad_request("A user can't be their own manager.")
    if user.get("onPremisesSyncEnabled"):
        raise bad_request(SYNCED_MESSAGE)
    relation = t.store.relations["manager"]
    previous = list(relation.targets(user_id))
    for old in previous:
        if old != manager_id:
            t.store.unlink("manager", user_id, old)
    t.store.link("manager", user_id, manager_id)
    changes = {"Manager": (previous[0] if previous else None, manager_id)}
    t.audit.record(
        ctx.caller, "Set user manager", "UserManagement", "Update", [t.audit_target("users", user, changes)]
    )
    return GraphResponse(204)


def remove_manager(t: Tenant, ctx: Ctx, user_id: str) -> GraphResponse:
    user = t.store.get("users", user_id)
    if user is None:
        raise not_found(user_id)
    managers = list(t.store.relations["manager"].targets(user_id))
    if not managers:
        raise not_found("manager")
    if user.get("onPremisesSyncEnabled"):
        raise bad_request(SYNCED_MESSAGE)
    t.store.unlink("manager", user_id, managers[0])
    changes = {"Manager": (managers[0], None)}
    t.audit.record(
        ctx.caller,
        "Remove user manager",
        "UserManagement",
        "Update",
        [t.audit_target("users", user, changes)],
    )
    return GraphResponse(204)


# ----- transitive membership


def transitive_groups(t: Tenant, obj_id: str) -> set[str]:
    """Every group or administrative unit obj_id belongs to, directly or through nested groups."""
    members = t.store.relations["members"]
    seen: set[str] = set()
    queue = deque([obj_id])
    while queue:
        for parent in members.sources(queue.popleft()):
            if parent not in seen:
                seen.add(parent)
                if t.store.kind.get(parent) == "groups":
                    queue.append(parent)
    return seen


def transitive_members(t: Tenant, group_id: str) -> list[str]:
    """Sorted ids of everything inside a group, nested groups expanded; cached until the next change."""
    key = ("members", group_id)
    cached = t.transitive_cache.get(key)
    if cached is not None and cached[0] == t.store.changes.seq:
        return cached[1]
    members = t.store.relations["members"]
    seen: set[str] = set()
    queue = deque([group_id])
    while queue:
        for child in members.targets(queue.popleft()):
            if child not in seen and child != group_id:
                seen.add(child)
                if t.store.kind.get(child) == "groups":
                    queue.append(child)
    result = sorted(seen)
    t.transitive_cache[key] = (t.store.changes.seq, result)
    return result


def check_member_groups(t: Tenant, ctx: Ctx, obj_id: str) -> GraphResponse:
    if t.store.find(obj_id) is None:
        raise not_found(obj_id)
    props, _ = body_of(ctx)
    wanted = props.get("groupIds")
    if not isinstance(wanted, list) or not wanted:
        raise bad_request("Invalid value specified for property 'groupIds'.")
    if len(wanted) > MAX_CHECK_GROUPS:
        raise bad_request(f"At most {MAX_CHECK_GROUPS} group ids can be checked in one request.")
    groups = transitive_groups(t, obj_id)
    value = [g for g in wanted if g in groups]
    body = {"@odata.context": f"{ctx.base}/$metadata#Collection(Edm.String)", "value": value}
    return GraphResponse(200, body, items=len(value))


def get_member_groups(t: Tenant, ctx: Ctx, obj_id: str) -> GraphResponse:
    if t.store.find(obj_id) is None:
        raise not_found(obj_id)
    props, _ = body_of(ctx)
    security_only = bool(props.get("securityEnabledOnly"))
    value = []
    for group_id in sorted(transitive_groups(t, obj_id)):
        group = t.store.get("groups", group_id)
        if group is not None and (not security_only or group.get("securityEnabled")):
            value.append(group_id)
    body = {"@odata.context": f"{ctx.base}/$metadata#Collection(Edm.String)", "value": value}
    return GraphResponse(200, body, items=len(value))


def get_by_ids(t: Tenant, ctx: Ctx) -> GraphResponse:
    props, _ = body_of(ctx)
    ids = props.get("ids")
    if not isinstance(ids, list) or not ids:
        raise bad_request("Invalid value specified for property 'ids'.")
    if len(ids) > MAX_GET_BY_IDS:
        raise bad_request(f"At most {MAX_GET_BY_IDS} ids can be requested at once.")
    types = props.get("types")
    wanted: set[str] | None = None
    if types:
        if not isinstance(types, list):
            raise bad_request("Invalid value specified for property 'types'.")
        wanted = {_TYPE_NAMES.get(str(name).lower().removeprefix("microsoft.graph."), "") for name in types}
    value = []
    for obj_id in ids:
        found = t.store.find(str(obj_id))
        if found is not None and (wanted is None or found[0] in wanted):
            value.append(typed(found[1], found[0], None))
    body = {"@odata.context": f"{ctx.base}/$metadata#directoryObjects", "value": value}
    return GraphResponse(200, body, items=len(value))
