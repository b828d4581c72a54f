"""Path dispatch: which handler serves a (method, path). Segments match case-insensitively, as in Graph."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from emulator.protocol import GraphResponse

from . import assignments, credentials, links, policies, reads, recycle, writes
from .context import Ctx
from .errors import bad_request, method_not_allowed, not_found, segment_not_found
from .types import CAST_TO_COLLECTION

if TYPE_CHECKING:
    from .tenant import Tenant

MOUNTS: dict[tuple[str, ...], str] = {
    ("users",): "users",
    ("groups",): "groups",
    ("applications",): "applications",
    ("serviceprincipals",): "servicePrincipals",
    ("oauth2permissiongrants",): "oauth2PermissionGrants",
    ("directory", "administrativeunits"): "administrativeUnits",
    ("domains",): "domains",
    ("organization",): "organization",
    ("rolemanagement", "directory", "roledefinitions"): "roleDefinitions",
    ("rolemanagement", "directory", "roleassignments"): "roleAssignments",
    ("rolemanagement", "directory", "roleeligibilityschedules"): "roleEligibilitySchedules",
    ("identity", "conditionalaccess", "policies"): "conditionalAccessPolicies",
    ("identity", "conditionalaccess", "namedlocations"): "namedLocations",
    ("policies", "authenticationstrengthpolicies"): "authenticationStrengthPolicies",
    ("policies", "crosstenantaccesspolicy", "partners"): "crossTenantAccessPartners",
    ("auditlogs", "directoryaudits"): "directoryAudits",
    ("auditlogs", "signins"): "signIns",
}
DELTA_COLLECTIONS = frozenset(
    {"users", "groups", "applications", "servicePrincipals", "administrativeUnits", "oauth2PermissionGrants"}
)
DELETABLE_DIRECTORY = ("users", "groups", "applications", "servicePrincipals", "administrativeUnits")
_CASTS = {k.lower(): v for k, v in CAST_TO_COLLECTION.items()}
_DELETED_CASTS = {k: v for k, v in _CASTS.items() if v in DELETABLE_DIRECTORY}
_CA_DELETED = {"policies": "conditionalAccessPolicies", "namedlocations": "namedLocations"}
_LINK_RELS = {
    ("groups", "members"): "members",
    ("administrativeUnits", "members"): "members",
    ("groups", "owners"): "owners",
    ("applications", "owners"): "owners",
    ("servicePrincipals", "owners"): "owners",
}
_PRINCIPALS = frozenset({"users", "groups", "servicePrincipals"})
_ALTERNATE_KEY = re.compile(r"^(\w+)\(appId='([^']+)'\)$")
_SINGLETON_PATHS = {
    ("policies", "authorizationpolicy"): "authorizationPolicy",
    ("policies", "authorizationpolicy", "authorizationpolicy"): "authorizationPolicy",
    ("policies", "crosstenantaccesspolicy"): "crossTenantAccessPolicy",
    ("policies", "crosstenantaccesspolicy", "default"): "crossTenantAccessDefault",
}


def route(t: Tenant, ctx: Ctx) -> GraphResponse:
    segs = [s for s in ctx.request.path.split("/") if s]
    if not segs:
        raise segment_not_found("")
    alternate = _ALTERNATE_KEY.match(segs[0])
    if alternate is not None:  # /servicePrincipals(appId='...') and /applications(appId='...')
        collection = MOUNTS.get((alternate.group(1).lower(),))
        if collection not in ("applications", "servicePrincipals"):
            raise segment_not_found(segs[0])
        index = t.store.app_by_appid if collection == "applications" else t.store.sp_by_appid
        obj_id = index.get(alternate.group(2))
        if obj_id is None:
            raise not_found(alternate.group(2))
        return _collection(t, ctx, collection, [obj_id, *segs[1:]])
    low = tuple(s.lower() for s in segs)
    if low[:2] == ("directory", "deleteditems"):
        return _deleted_items(t, ctx, segs[2:])
    if low[:3] == ("identity", "conditionalaccess", "deleteditems"):
        if ctx.request.version != "beta":
            raise segment_not_found("deletedItems")
        return _ca_deleted_items(t, ctx, segs[3:])
    if low[0] == "directoryobjects":
        return _directory_objects(t, ctx, segs[1:])
    if low[:2] == ("policies", "authenticationmethodspolicy"):
        return _auth_methods(t, ctx, segs[2:])
    if low in _SINGLETON_PATHS:
        return _singleton(t, ctx, _SINGLETON_PATHS[low])
    if low == ("rolemanagement", "directory", "roleeligibilityschedulerequests"):
        if ctx.method != "POST":
            raise method_not_allowed()
        return policies.eligibility_request(t, ctx)
    for size in (3, 2, 1):
        collection = MOUNTS.get(low[:size])
        if collection is not None:
            return _collection(t, ctx, collection, segs[size:])
    raise segment_not_found(segs[0])


def _singleton(t: Tenant, ctx: Ctx, name: str) -> GraphResponse:
    if ctx.method == "GET":
        return policies.get_singleton(t, ctx, name)
    if ctx.method == "PATCH":
        return policies.patch_singleton(t, ctx, name)
    raise method_not_allowed()


def _auth_methods(t: Tenant, ctx: Ctx, rest: list[str]) -> GraphResponse:
    if not rest:
        return _singleton(t, ctx, "authenticationMethodsPolicy")
    if rest[0].lower() != "authenticationmethodconfigurations" or len(rest) > 2:
        raise segment_not_found(rest[0])
    if len(rest) == 1:
        if ctx.method != "GET":
            raise method_not_allowed()
        configs = (
            t.store.singletons["authenticationMethodsPolicy"].get("authenticationMethodConfigurations") or []
        )
        context = ctx.context_url("policies/authenticationMethodsPolicy/authenticationMethodConfigurations")
        return GraphResponse(200, {"@odata.context": context, "value": list(configs)}, items=len(configs))
    if ctx.method == "GET":
        return policies.get_method_config(t, ctx, rest[1])
    if ctx.method == "PATCH":
        return policies.patch_method_config(t, ctx, rest[1])
    raise method_not_allowed()


def _resolve_id(t: Tenant, collection: str, raw: str) -> str:
    if collection == "users" and raw not in t.store.coll("users").objs and "@" in raw:
        return t.store.user_by_upn(raw) or raw
    if collection in ("domains", "crossTenantAccessPartners"):
        return raw.lower()
    return raw


def _collection(t: Tenant, ctx: Ctx, collection: str, rest: list[str]) -> GraphResponse:
    method = ctx.method
    if not rest:
        if method == "GET":
            return reads.list_collection(t, ctx, collection)
        if method == "POST":
            return writes.create(t, ctx, collection)
        raise method_not_allowed()
    head = rest[0].lower()
    if len(rest) == 1 and head == "$count":
        _only(ctx, "GET")
        return reads.count_collection(
            t, ctx, reads.collection_rows(t, collection), reads.resource_for(t, collection)
        )
    if len(rest) == 1 and head == "delta" and collection in DELTA_COLLECTIONS:
        _only(ctx, "GET")
        return t.delta.handle(ctx.request, collection, t.store.schema[collection])
    if len(rest) == 1 and head.startswith("microsoft.graph."):
        _only(ctx, "GET")
        return reads.list_collection(t, ctx, collection, type_cast="#" + rest[0])
    obj_id = _resolve_id(t, collection, rest[0])
    if len(rest) == 1:
        if method == "GET":
            obj = t.store.get(collection, obj_id)
            if obj is None or t.lagging(obj_id, ctx.now):
                raise not_found(rest[0])
            return reads.get_object(t, ctx, collection, obj)
        if method == "PATCH":
            return writes.update(t, ctx, collection, obj_id)
        if method == "DELETE":
            return writes.delete(t, ctx, collection, obj_id)
        raise method_not_allowed()
    return _object_sub(t, ctx, collection, obj_id, rest[1:])


def _only(ctx: Ctx, *methods: str) -> None:
    if ctx.method not in methods:
        raise method_not_allowed()


def _require(t: Tenant, collection: str, obj_id: str) -> None:
    if t.store.get(collection, obj_id) is None:
        raise not_found(obj_id)


def _id_list(
    t: Tenant, ctx: Ctx, ids: Sequence[str], rest: list[str], entity_set: str = "directoryObjects"
) -> GraphResponse:
    """GET a relationship list, optionally cast (/microsoft.graph.user) and/or counted (/$count)."""
    _only(ctx, "GET")
    allowed = None
    tail = [s.lower() for s in rest]
    if tail and tail[0].startswith("microsoft.graph."):
        cast = _CASTS.get(tail[0])
        if cast is None:
            raise segment_not_found(rest[0])
        allowed = cast.__eq__
        tail = tail[1:]
    if tail == ["$count"]:
        return reads.list_links(t, ctx, ids, entity_set, allowed, count_only=True)
    if tail:
        raise segment_not_found(tail[0])
    return reads.list_links(t, ctx, ids, entity_set, allowed)


def _object_sub(t: Tenant, ctx: Ctx, collection: str, obj_id: str, sub: list[str]) -> GraphResponse:
    low = [s.lower() for s in sub]
    method = ctx.method
    name = low[0]
    rel = _LINK_RELS.get((collection, sub[0]))
    store = t.store
    if rel is not None:
        _require(t, collection, obj_id)
        if len(low) == 2 and low[1] == "$ref":
            _only(ctx, "POST")
            return links.add_ref(t, ctx, collection, obj_id, rel)
        if len(low) == 3 and low[2] == "$ref":
            _only(ctx, "DELETE")
            return links.remove_ref(t, ctx, collection, obj_id, rel, sub[1])
        return _id_list(t, ctx, store.relations[rel].targets(obj_id), sub[1:])
    if name == "transitivemembers" and collection == "groups":
        _require(t, collection, obj_id)
        return _id_list(t, ctx, links.transitive_members(t, obj_id), sub[1:])
    if name in ("memberof", "transitivememberof") and collection in _PRINCIPALS:
        _require(t, collection, obj_id)
        if name == "memberof":
            ids = sorted(store.relations["members"].sources(obj_id))
        else:
            ids = sorted(links.transitive_groups(t, obj_id))
        return _id_list(t, ctx, ids, sub[1:])
    if collection == "users" and name == "manager":
        if len(low) == 1:
            _only(ctx, "GET")
            return links.get_manager(t, ctx, obj_id)
        if low[1:] == ["$ref"]:
            if method == "PUT":
                return links.set_manager(t, ctx, obj_id)
            if method == "DELETE":
                return links.remove_manager(t, ctx, obj_id)
            raise method_not_allowed()
    if collection == "users" and name == "directreports":
        _require(t, collection, obj_id)
        return _id_list(t, ctx, sorted(store.relations["manager"].sources(obj_id)), sub[1:])
    if name in ("approleassignments", "approleassignedto") and collection in _PRINCIPALS:
        as_resource = name == "approleassignedto"
        if as_resource and collection != "servicePrincipals":
            raise segment_not_found(sub[0])
        _require(t, collection, obj_id)
        if len(low) == 1:
            if method == "GET":
                return assignments.list_principal_assignments(t, ctx, obj_id, as_resource)
            if method == "POST":
                return assignments.create_assignment(t, ctx, collection, obj_id, as_resource)
            raise method_not_allowed()
        if len(low) == 2:
            if method == "GET":
                return assignments.get_assignment(t, ctx, obj_id, sub[1], as_resource)
            if method == "DELETE":
                return assignments.delete_assignment(t, ctx, obj_id, sub[1], as_resource)
            raise method_not_allowed()
    if len(low) == 1 and method == "POST":
        action = _actions(t, ctx, collection, obj_id, name)
        if action is not None:
            return action
    if collection == "administrativeUnits" and name == "scopedrolemembers":
        _require(t, collection, obj_id)
        if len(low) == 1:
            if method == "GET":
                return reads.list_filtered(
                    t,
                    ctx,
                    "scopedRoleMemberships",
                    lambda o: o.get("administrativeUnitId") == obj_id,
                    "scopedRoleMembers",
                )
            if method == "POST":
                return assignments.add_scoped_member(t, ctx, obj_id)
            raise method_not_allowed()
        if len(low) == 2:
            if method == "GET":
                member = assignments.scoped_member(t, obj_id, sub[1])
                return GraphResponse(
                    200,
                    {"@odata.context": ctx.context_url("scopedRoleMembers", entity=True), **member},
                    items=1,
                )
            if method == "DELETE":
                return assignments.remove_scoped_member(t, ctx, obj_id, sub[1])
            raise method_not_allowed()
    raise segment_not_found(sub[0])


def _actions(t: Tenant, ctx: Ctx, collection: str, obj_id: str, name: str) -> GraphResponse | None:
    if name == "checkmembergroups" and collection in _PRINCIPALS:
        return links.check_member_groups(t, ctx, obj_id)
    if name == "getmembergroups" and collection in _PRINCIPALS:
        return links.get_member_groups(t, ctx, obj_id)
    if name == "assignlicense" and collection == "users":
        return assignments.assign_license(t, ctx, obj_id)
    if name == "addpassword" and collection in ("applications", "servicePrincipals"):
        return credentials.add_password(t, ctx, collection, obj_id)
    if name == "removepassword" and collection in ("applications", "servicePrincipals"):
        return credentials.remove_password(t, ctx, collection, obj_id)
    if name == "updateallowedcombinations" and collection == "authenticationStrengthPolicies":
        return policies.update_allowed_combinations(t, ctx, obj_id)
    return None


def _directory_objects(t: Tenant, ctx: Ctx, rest: list[str]) -> GraphResponse:
    if not rest:
        raise method_not_allowed()
    if rest[0].lower() == "getbyids" and len(rest) == 1:
        _only(ctx, "POST")
        return links.get_by_ids(t, ctx)
    found = t.store.find(rest[0])
    if found is None or t.lagging(rest[0], ctx.now):
        raise not_found(rest[0])
    if len(rest) == 1:
        _only(ctx, "GET")
        body = {"@odata.context": ctx.context_url("directoryObjects", entity=True)}
        body.update(reads.typed(found[1], found[0], None))
        return GraphResponse(200, body, items=1)
    if len(rest) == 2 and ctx.method == "POST":
        action = _actions(t, ctx, found[0], rest[0], rest[1].lower())
        if action is not None:
            return action
    raise segment_not_found(rest[1])


def _restore_segment(segment: str) -> bool:
    return segment.lower() in ("restore", "microsoft.graph.restore")


def _deleted_items(t: Tenant, ctx: Ctx, rest: list[str]) -> GraphResponse:
    if not rest:
        raise bad_request(
            "The OData type cast is required: use /directory/deletedItems/microsoft.graph.user (or group, "
            "application, servicePrincipal, administrativeUnit)."
        )
    cast = _DELETED_CASTS.get(rest[0].lower())
    if cast is not None:
        _only(ctx, "GET")
        entity_set = "directory/deletedItems/" + rest[0]
        if len(rest) == 2 and rest[1].lower() == "$count":
            return reads.list_deleted_count(t, ctx, cast)
        if len(rest) != 1:
            raise segment_not_found(rest[1])
        return reads.list_deleted(t, ctx, (cast,), entity_set)
    if rest[0].lower().startswith("microsoft.graph."):
        raise segment_not_found(rest[0])
    obj_id = rest[0]
    if len(rest) == 1:
        if ctx.method == "GET":
            return reads.get_deleted(t, ctx, obj_id, DELETABLE_DIRECTORY)
        if ctx.method == "DELETE":
            return recycle.purge_item(t, ctx, obj_id, DELETABLE_DIRECTORY)
        raise method_not_allowed()
    if len(rest) == 2 and _restore_segment(rest[1]):
        _only(ctx, "POST")
        return recycle.restore_item(t, ctx, obj_id, DELETABLE_DIRECTORY)
    raise segment_not_found(rest[1])


def _ca_deleted_items(t: Tenant, ctx: Ctx, rest: list[str]) -> GraphResponse:
    if not rest or rest[0].lower() not in _CA_DELETED:
        raise segment_not_found(rest[0] if rest else "deletedItems")
    collection = _CA_DELETED[rest[0].lower()]
    kinds = (collection,)
    if len(rest) == 1:
        _only(ctx, "GET")
        return reads.list_deleted(t, ctx, kinds, f"identity/conditionalAccess/deletedItems/{rest[0]}")
    obj_id = rest[1]
    if len(rest) == 2:
        if ctx.method == "GET":
            return reads.get_deleted(t, ctx, obj_id, kinds)
        if ctx.method == "DELETE":
            return recycle.purge_item(t, ctx, obj_id, kinds)
        raise method_not_allowed()
    if len(rest) == 3 and _restore_segment(rest[2]):
        _only(ctx, "POST")
        return recycle.restore_item(t, ctx, obj_id, kinds)
    raise segment_not_found(rest[2])
