"""Acting on a tenant from the admin API: Graph requests as a person or the admin app, and staged incidents.

These reach the directory directly: no token, no throttling, no latency, no faults, not counted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from emulator.protocol import Caller, GraphRequest, GraphResponse
from emulator.state import ADMIN_CALLER, HostedTenantEntry

# Incident ``type`` (singular type, seed collection name, or OData type) -> collection path.
_COLLECTIONS = {
    "user": "/users",
    "group": "/groups",
    "application": "/applications",
    "serviceprincipal": "/servicePrincipals",
    "administrativeunit": "/directory/administrativeUnits",
    "conditionalaccesspolicy": "/identity/conditionalAccess/policies",
    "namedlocation": "/identity/conditionalAccess/namedLocations",
    "oauth2permissiongrant": "/oauth2PermissionGrants",
    "roleassignment": "/roleManagement/directory/roleAssignments",
    "authenticationstrengthpolicy": "/policies/authenticationStrengthPolicies",
    "domain": "/domains",
}
_PLURALS = {
    "users": "user",
    "groups": "group",
    "applications": "application",
    "serviceprincipals": "serviceprincipal",
    "administrativeunits": "administrativeunit",
    "conditionalaccesspolicies": "conditionalaccesspolicy",
    "policies": "conditionalaccesspolicy",
    "namedlocations": "namedlocation",
    "oauth2permissiongrants": "oauth2permissiongrant",
    "roleassignments": "roleassignment",
    "authenticationstrengthpolicies": "authenticationstrengthpolicy",
    "domains": "domain",
}
# Where a soft-deleted object waits (version, path prefix), for hard-delete's purge.
_DELETED = {
    "conditionalaccesspolicy": ("beta", "/identity/conditionalAccess/deletedItems/policies"),
    "namedlocation": ("beta", "/identity/conditionalAccess/deletedItems/namedLocations"),
}
for _kind in ("user", "group", "application", "serviceprincipal", "administrativeunit"):
    _DELETED[_kind] = ("v1.0", "/directory/deletedItems")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def graph_call(
    entry: HostedTenantEntry, method: str, target: str, body: Any, version: str, caller: Caller, base: str
) -> GraphResponse:
    parts = urlsplit(target)
    request = GraphRequest(
        method=method.upper(),
        version=version,
        path="/" + unquote(parts.path).lstrip("/"),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={"content-type": "application/json"} if body is not None else {},
        body=body,
        base_url=base,
    )
    return entry.tenant.handle(request, caller)


def caller_for(entry: HostedTenantEntry, actor: Any, base: str) -> Caller:
    """The person an admin action is attributed to, looked up in the tenant; the admin app when None."""
    if actor is None:
        return ADMIN_CALLER
    key = actor if isinstance(actor, str) else (actor.get("id") or actor.get("userPrincipalName"))
    if not isinstance(key, str) or not key:
        raise AdminError(400, 'actor must be a UPN, an id, or {"id": ...} / {"userPrincipalName": ...}')
    found = graph_call(
        entry,
        "GET",
        f"/users/{key}?$select=id,userPrincipalName,displayName",
        None,
        "v1.0",
        ADMIN_CALLER,
        base,
    )
    if found.status != 200 or not isinstance(found.body, dict):
        raise AdminError(400, f"actor {key} is not a user of tenant {entry.tenant_id}")
    user = found.body
    return Caller(
        user_id=user.get("id"),
        user_principal_name=user.get("userPrincipalName"),
        user_display_name=user.get("displayName"),
    )


def _step(method: str, path: str, version: str, response: GraphResponse) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "version": version,
        "status": response.status,
        "body": response.body,
    }


def _collection(kind: str) -> tuple[str, str]:
    key = kind.lower().removeprefix("#").removeprefix("microsoft.graph.")
    key = _PLURALS.get(key, key)
    if key not in _COLLECTIONS:
        raise AdminError(400, f"unknown type {kind}; one of {', '.join(sorted(_COLLECTIONS))}")
    return key, _COLLECTIONS[key]


def run_incident(entry: HostedTenantEntry, payload: dict[str, Any], base: str) -> list[dict[str, Any]]:
    kind, object_id = payload.get("kind"), payload.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise AdminError(400, "incident needs the object id")
    key, collection = _collection(str(payload.get("type", "")))
    caller = caller_for(entry, payload.get("actor"), base)
    target = f"{collection}/{object_id}"
    steps: list[dict[str, Any]] = []

    def step(method: str, path: str, body: Any = None, version: str = "v1.0") -> GraphResponse:
        response = graph_call(entry, method, path, body, version, caller, base)
        steps.append(_step(method, path, version, response))
        return response

    if kind in ("delete", "hard-delete"):
        deleted = step("DELETE", target)
        if kind == "hard-delete" and deleted.status < 400 and key in _DELETED:
            version, prefix = _DELETED[key]
            parked = f"{prefix}/{object_id}"
            if graph_call(entry, "GET", parked, None, version, ADMIN_CALLER, base).status == 200:
                step("DELETE", parked, version=version)
    elif kind == "modify":
        patch = payload.get("patch")
        if not isinstance(patch, dict) or not patch:
            raise AdminError(400, "modify needs a non-empty patch object")
        step("PATCH", target, patch)
    elif kind == "remove-members":
        members = payload.get("member_ids")
        if not isinstance(members, list) or not members:
            raise AdminError(400, "remove-members needs member_ids")
        for member in members:
            step("DELETE", f"{target}/members/{member}/$ref")
    else:
        raise AdminError(400, "kind must be delete, hard-delete, modify or remove-members")
    return steps
