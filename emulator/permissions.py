"""Which Graph application permissions (token ``roles``) a request needs, from graph-api.md section 6.

A requirement is a tuple of alternatives; each alternative is a set of permissions that must all be granted
(sign-ins need ``AuditLog.Read.All`` *and* ``Directory.Read.All``). A ``ReadWrite`` permission satisfies its
``Read``. Paths the map does not know need nothing here: the directory answers them (usually with a 400/404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from emulator.costs import is_write

Requirement = tuple[frozenset[str], ...]
# Finds the ``@odata.type`` of a deleted object by id, so a restore or purge needs the right permission.
TypeLookup = Callable[[str], str | None]


def _any(*alternatives: str) -> Requirement:
    return tuple(frozenset(a.split("+")) for a in alternatives)


USER_R = _any("User.Read.All", "Directory.Read.All")
USER_W = _any("User.ReadWrite.All", "Directory.ReadWrite.All")
USER_RESTORE = _any("User.DeleteRestore.All", "User.ReadWrite.All")
GROUP_R = _any("Group.Read.All", "GroupMember.Read.All", "Directory.Read.All")
GROUP_W = _any("Group.ReadWrite.All", "Directory.ReadWrite.All")
MEMBER_W = _any("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
ROLE_GROUP_W = _any(
    "Group.ReadWrite.All+RoleManagement.ReadWrite.Directory",
    "Directory.ReadWrite.All+RoleManagement.ReadWrite.Directory",
)
APP_R = _any("Application.Read.All", "Directory.Read.All")
APP_W = _any("Application.ReadWrite.All")
APP_ROLE_ASSIGNMENT_W = _any("AppRoleAssignment.ReadWrite.All")
GRANT_R = _any("DelegatedPermissionGrant.Read.All", "Directory.Read.All")
GRANT_W = _any("DelegatedPermissionGrant.ReadWrite.All")
DIRECTORY_ROLE_R = _any("RoleManagement.Read.Directory", "Directory.Read.All")
ROLE_R = _any("RoleManagement.Read.Directory")
ROLE_W = _any("RoleManagement.ReadWrite.Directory")
ELIGIBILITY_R = _any("RoleEligibilitySchedule.Read.Directory", "RoleManagement.Read.Directory")
ELIGIBILITY_W = _any("RoleEligibilitySchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory")
ACTIVE_SCHEDULE_R = _any("RoleAssignmentSchedule.Read.Directory", "RoleManagement.Read.Directory")
ACTIVE_SCHEDULE_W = _any("RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory")
POLICY_R = _any("Policy.Read.All")
CA_R = _any("Policy.Read.All", "Policy.Read.ConditionalAccess")
CA_W = _any("Policy.Read.All+Policy.ReadWrite.ConditionalAccess")
AUTH_STRENGTH_W = _any("Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.AuthenticationMethod")
AUTH_METHODS_W = _any("Policy.ReadWrite.AuthenticationMethod")
AUTHORIZATION_W = _any("Policy.ReadWrite.Authorization")
CROSS_TENANT_W = _any("Policy.ReadWrite.CrossTenantAccess")
AU_R = _any("AdministrativeUnit.Read.All", "Directory.Read.All")
AU_W = _any("AdministrativeUnit.ReadWrite.All", "Directory.ReadWrite.All")
DOMAIN_R = _any("Domain.Read.All", "Directory.Read.All")
DOMAIN_W = _any("Domain.ReadWrite.All", "Directory.ReadWrite.All")
ORG_R = _any("Organization.Read.All", "Directory.Read.All")
ORG_W = _any("Organization.ReadWrite.All")
DEVICE_R = _any("Device.Read.All", "Directory.Read.All")
DEVICE_W = _any("Device.ReadWrite.All", "Directory.ReadWrite.All")
DIRECTORY_R = _any("Directory.Read.All")
DIRECTORY_W = _any("Directory.ReadWrite.All")
AUDIT_R = _any("AuditLog.Read.All")
SIGN_IN_R = _any("AuditLog.Read.All+Directory.Read.All")

# Every permission of graph-api.md section 6, read and write: what the emulator's default app is granted.
ALL_SECTION_6 = (
    "Directory.Read.All",
    "Policy.Read.All",
    "RoleManagement.Read.Directory",
    "RoleEligibilitySchedule.Read.Directory",
    "AuditLog.Read.All",
    "User.ReadWrite.All",
    "User.DeleteRestore.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.CrossTenantAccess",
    "RoleEligibilitySchedule.ReadWrite.Directory",
    "AdministrativeUnit.ReadWrite.All",
    "Domain.ReadWrite.All",
    "Organization.ReadWrite.All",
)

_IMPLIES: dict[str, tuple[str, ...]] = {
    "Directory.ReadWrite.All": ("Directory.Read.All",),
    "RoleManagement.Read.All": ("RoleManagement.Read.Directory",),
    "Group.ReadWrite.All": ("GroupMember.ReadWrite.All",),
    "Policy.Read.All": ("Policy.Read.ConditionalAccess",),
}

# Deleted-item type (the OData cast, lower case) -> (read, restore or purge).
_DELETED_TYPES: dict[str, tuple[Requirement, Requirement]] = {
    "microsoft.graph.user": (USER_R, USER_RESTORE),
    "microsoft.graph.group": (GROUP_R, GROUP_W),
    "microsoft.graph.application": (APP_R, APP_W),
    "microsoft.graph.serviceprincipal": (APP_R, APP_W),
    "microsoft.graph.administrativeunit": (AU_R, AU_W),
}


def effective(roles: Iterable[str]) -> frozenset[str]:
    """Granted permissions plus everything they imply."""
    have = set(roles)
    pending = list(have)
    while pending:
        role = pending.pop()
        implied = list(_IMPLIES.get(role, ()))
        if ".ReadWrite." in role:
            implied.append(role.replace(".ReadWrite.", ".Read."))
        for extra in implied:
            if extra not in have:
                have.add(extra)
                pending.append(extra)
    return frozenset(have)


def satisfied(roles: Iterable[str], requirement: Requirement | None) -> bool:
    if requirement is None:
        return True
    have = effective(roles)
    return any(alternative <= have for alternative in requirement)


def _union(*requirements: Requirement) -> Requirement:
    return tuple(alt for requirement in requirements for alt in requirement)


def _deleted_items(method: str, raw: list[str], low: list[str], lookup: TypeLookup | None) -> Requirement:
    every_read = _union(DIRECTORY_R, *(r for r, _ in _DELETED_TYPES.values()))
    every_write = _union(*(w for _, w in _DELETED_TYPES.values()))
    if len(low) >= 3 and low[2] in _DELETED_TYPES:  # /directory/deletedItems/microsoft.graph.user
        read, write = _DELETED_TYPES[low[2]]
        return read if method == "GET" else write
    if len(low) < 3 or not is_write(method, "/".join(low)):
        return every_read
    found = lookup(raw[2]) if lookup else None
    kind = (found or "").lstrip("#").lower()
    return _DELETED_TYPES[kind][1] if kind in _DELETED_TYPES else every_write


def requirement(
    method: str, path: str, body: Any = None, lookup_deleted_type: TypeLookup | None = None
) -> Requirement | None:
    """The permissions ``method path`` needs, or None when this map leaves the request to the directory."""
    method = method.upper()
    raw = [s for s in path.strip("/").split("/") if s]
    low = [s.lower() for s in raw]
    if not low:
        return None
    first, second = low[0], (low[1] if len(low) > 1 else "")
    third = low[2] if len(low) > 2 else ""
    write = is_write(method, path)

    def pick(read: Requirement, written: Requirement) -> Requirement:
        return written if write else read

    if first == "users":
        if third == "approleassignments" and write:
            return APP_ROLE_ASSIGNMENT_W
        return pick(USER_R, USER_W)
    if first == "groups":
        if third in ("members", "owners") and write:
            return MEMBER_W
        if third == "approleassignments" and write:
            return APP_ROLE_ASSIGNMENT_W
        if method == "POST" and len(low) == 1 and isinstance(body, dict) and body.get("isAssignableToRole"):
            return ROLE_GROUP_W
        return pick(GROUP_R, GROUP_W)
    if first in ("applications", "applicationtemplates"):
        return pick(APP_R, APP_W)
    if first == "serviceprincipals":
        if third in ("approleassignedto", "approleassignments") and write:
            return APP_ROLE_ASSIGNMENT_W
        return pick(APP_R, APP_W)
    if first == "oauth2permissiongrants":
        return pick(GRANT_R, GRANT_W)
    if first in ("directoryroles", "directoryroletemplates"):
        return pick(DIRECTORY_ROLE_R, ROLE_W)
    if first == "rolemanagement":
        if third.startswith("roleeligibilityschedule"):
            return pick(ELIGIBILITY_R, ELIGIBILITY_W)
        if third.startswith("roleassignmentschedule"):
            return pick(ACTIVE_SCHEDULE_R, ACTIVE_SCHEDULE_W)
        return pick(ROLE_R, ROLE_W)
    if first == "identity" and second == "conditionalaccess":
        return pick(CA_R, CA_W)
    if first == "policies":
        writes = {
            "authenticationstrengthpolicies": AUTH_STRENGTH_W,
            "authenticationmethodspolicy": AUTH_METHODS_W,
            "authorizationpolicy": AUTHORIZATION_W,
            "crosstenantaccesspolicy": CROSS_TENANT_W,
            "deleteditems": CROSS_TENANT_W,
        }
        if not write:
            return POLICY_R
        return writes.get(second)
    if first == "directory" and second == "administrativeunits":
        return pick(AU_R, AU_W)
    if first == "administrativeunits":
        return pick(AU_R, AU_W)
    if first == "directory" and second == "deleteditems":
        return _deleted_items(method, raw, low, lookup_deleted_type)
    if first in ("directory", "directoryobjects", "contracts"):
        return pick(DIRECTORY_R, DIRECTORY_W)
    if first == "domains":
        return pick(DOMAIN_R, DOMAIN_W)
    if first in ("organization", "subscribedskus"):
        return pick(ORG_R, ORG_W)
    if first == "devices":
        return pick(DEVICE_R, DEVICE_W)
    if first == "auditlogs":
        return SIGN_IN_R if second == "signins" else AUDIT_R
    return None
