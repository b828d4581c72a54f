"""App role assignments, scoped role members of administrative units, and licence assignment."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import TYPE_CHECKING

from emulator.protocol import GraphResponse

from .clock import iso
from .context import Ctx
from .errors import bad_request, not_found
from .links import source_object
from .reads import list_assignments, typed
from .types import Obj
from .validation import body_of, resolve_ref

if TYPE_CHECKING:
    from .tenant import Tenant

ZERO_APP_ROLE = "00000000-0000-0000-0000-000000000000"  # default access
_PRINCIPAL_TYPE = {"users": "User", "groups": "Group", "servicePrincipals": "ServicePrincipal"}


# ----- app role assignments


def create_assignment(t: Tenant, ctx: Ctx, collection: str, obj_id: str, as_resource: bool) -> GraphResponse:
    source_object(t, ctx, collection, obj_id)
    props, _ = body_of(ctx)
    for key in ("principalId", "resourceId", "appRoleId"):
        if not props.get(key):
            raise bad_request(
                f"Invalid value specified for property '{key}' of resource 'AppRoleAssignment'."
            )
    principal_id, resource_id, role_id = (
        str(props["principalId"]),
        str(props["resourceId"]),
        str(props["appRoleId"]),
    )
    if (resource_id if as_resource else principal_id) != obj_id:
        which = "resourceId" if as_resource else "principalId"
        raise bad_request(f"The {which} in the body must match the object in the request URL.")
    principal_coll, principal = resolve_ref(t, ctx, principal_id, ("users", "groups", "servicePrincipals"))
    _, resource = resolve_ref(t, ctx, resource_id, ("servicePrincipals",))
    roles = {str(r.get("id")) for r in resource.get("appRoles") or [] if isinstance(r, dict)}
    if role_id != ZERO_APP_ROLE and role_id not in roles:
        raise bad_request(
            f"Permission being assigned was not found on application '{resource.get('appId')}'."
        )
    for existing_id in t.store.assignments_of.targets(principal_id):
        existing = t.store.get("appRoleAssignments", existing_id) or {}
        if existing.get("resourceId") == resource_id and existing.get("appRoleId") == role_id:
            raise bad_request("Permission being assigned already exists on the object.")
    obj: Obj = {
        "id": _assignment_id(principal_id),
        "appRoleId": role_id,
        "createdDateTime": iso(ctx.now),
        "deletedDateTime": None,
        "principalDisplayName": principal.get("displayName"),
        "principalId": principal_id,
        "principalType": _PRINCIPAL_TYPE[principal_coll],
        "resourceDisplayName": resource.get("displayName"),
        "resourceId": resource_id,
    }
    t.store.insert("appRoleAssignments", obj)
    _assignment_audit(t, ctx, True, principal_coll, principal, resource, role_id)
    body = {"@odata.context": ctx.context_url("appRoleAssignments", entity=True), **obj}
    return GraphResponse(201, body, items=1)


def _assignment_audit(
    t: Tenant, ctx: Ctx, add: bool, principal_coll: str, principal: Obj, resource: Obj, role_id: str
) -> None:
    noun = {"users": "user", "groups": "group", "servicePrincipals": "service principal"}[principal_coll]
    activity = f"Add app role assignment to {noun}" if add else f"Remove app role assignment from {noun}"
    changes = {"AppRole.Id": (None, role_id) if add else (role_id, None)}
    targets = [
        t.audit_target("servicePrincipals", resource, changes),
        t.audit_target(principal_coll, principal),
    ]
    t.audit.record(
        ctx.caller,
        activity,
        "ApplicationManagement" if principal_coll != "users" else "UserManagement",
        "Add" if add else "Delete",
        targets,
    )


def _owned_assignment(t: Tenant, obj_id: str, assignment_id: str, as_resource: bool) -> Obj:
    obj = t.store.get("appRoleAssignments", assignment_id)
    if obj is None or obj.get("resourceId" if as_resource else "principalId") != obj_id:
        raise not_found(assignment_id)
    return obj


def get_assignment(t: Tenant, ctx: Ctx, obj_id: str, assignment_id: str, as_resource: bool) -> GraphResponse:
    obj = _owned_assignment(t, obj_id, assignment_id, as_resource)
    return GraphResponse(
        200, {"@odata.context": ctx.context_url("appRoleAssignments", entity=True), **obj}, items=1
    )


def delete_assignment(
    t: Tenant, ctx: Ctx, obj_id: str, assignment_id: str, as_resource: bool
) -> GraphResponse:
    obj = _owned_assignment(t, obj_id, assignment_id, as_resource)
    t.store.remove("appRoleAssignments", assignment_id)
    principal = t.store.find(str(obj.get("principalId")))
    resource = t.store.get("servicePrincipals", str(obj.get("resourceId"))) or {"id": obj.get("resourceId")}
    if principal is not None:
        _assignment_audit(t, ctx, False, principal[0], principal[1], resource, str(obj.get("appRoleId")))
    return GraphResponse(204)


def list_principal_assignments(t: Tenant, ctx: Ctx, obj_id: str, as_resource: bool) -> GraphResponse:
    index = t.store.assigned_to if as_resource else t.store.assignments_of
    return list_assignments(t, ctx, index.targets(obj_id))


# ----- licences and scoped role members


def assign_license(t: Tenant, ctx: Ctx, user_id: str) -> GraphResponse:
    user = t.store.get("users", user_id)
    if user is None:
        raise not_found(user_id)
    props, _ = body_of(ctx)
    add, remove = props.get("addLicenses"), props.get("removeLicenses")
    if not isinstance(add, list) or not isinstance(remove, list):
        raise bad_request("Both addLicenses and removeLicenses are required.")
    removed = {str(sku) for sku in remove}
    added = {str(a.get("skuId")): a for a in add if isinstance(a, dict) and a.get("skuId")}
    current = [
        a for a in user.get("assignedLicenses") or [] if str(a.get("skuId")) not in removed | set(added)
    ]
    licences = current + [
        {"disabledPlans": a.get("disabledPlans") or [], "skuId": sku} for sku, a in added.items()
    ]
    changes = t.store.update("users", user_id, {"assignedLicenses": licences})
    t.audit.record(
        ctx.caller,
        "Change user license",
        "UserManagement",
        "Update",
        [t.audit_target("users", user, changes)],
    )
    body = {"@odata.context": ctx.context_url("users", entity=True), **typed(user, "users", None)}
    body.pop("@odata.type", None)
    return GraphResponse(200, body, items=1)


def add_scoped_member(t: Tenant, ctx: Ctx, unit_id: str) -> GraphResponse:
    source_object(t, ctx, "administrativeUnits", unit_id)
    props, _ = body_of(ctx)
    info = props.get("roleMemberInfo")
    if not props.get("roleId") or not isinstance(info, dict) or not info.get("id"):
        raise bad_request("roleId and roleMemberInfo.id are required.")
    _, user = resolve_ref(t, ctx, str(info["id"]), ("users",))
    for existing in t.store.coll("scopedRoleMemberships").objs.values():
        if (
            existing.get("administrativeUnitId"),
            existing.get("roleId"),
            (existing.get("roleMemberInfo") or {}).get("id"),
        ) == (unit_id, props["roleId"], info["id"]):
            raise bad_request("The scoped role membership already exists.")
    obj: Obj = {
        "id": str(uuid.uuid4()),
        "administrativeUnitId": unit_id,
        "roleId": str(props["roleId"]),
        "roleMemberInfo": {
            "id": user.get("id"),
            "displayName": user.get("displayName"),
            "userPrincipalName": user.get("userPrincipalName"),
        },
    }
    t.store.insert("scopedRoleMemberships", obj)
    t.audit.record(
        ctx.caller, "Add scoped member to role", "RoleManagement", "Add", [t.audit_target("users", user)]
    )
    return GraphResponse(
        201, {"@odata.context": ctx.context_url("scopedRoleMemberships", entity=True), **obj}, items=1
    )


def scoped_member(t: Tenant, unit_id: str, membership_id: str) -> Obj:
    obj = t.store.get("scopedRoleMemberships", membership_id)
    if obj is None or obj.get("administrativeUnitId") != unit_id:
        raise not_found(membership_id)
    return obj


def remove_scoped_member(t: Tenant, ctx: Ctx, unit_id: str, membership_id: str) -> GraphResponse:
    obj = scoped_member(t, unit_id, membership_id)
    t.store.remove("scopedRoleMemberships", membership_id)
    user = (
        t.store.get("users", str((obj.get("roleMemberInfo") or {}).get("id")))
        or obj.get("roleMemberInfo")
        or {}
    )
    t.audit.record(
        ctx.caller,
        "Remove scoped member from role",
        "RoleManagement",
        "Delete",
        [t.audit_target("users", user)],
    )
    return GraphResponse(204)


def _assignment_id(principal_id: str) -> str:
    """Graph's app role assignment ids start with the principal's GUID bytes (then 16 random bytes)."""
    try:
        head = uuid.UUID(principal_id).bytes_le
    except ValueError:
        return secrets.token_urlsafe(32)
    return base64.urlsafe_b64encode(head + secrets.token_bytes(16)).rstrip(b"=").decode()
