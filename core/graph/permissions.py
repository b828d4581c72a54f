"""Which application permission a Graph path needs (reference §6), for PermissionDenied hints."""

from __future__ import annotations

import re

# (path pattern, permission for reads, permission for writes); first match wins.
_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"^auditLogs/signIns"), "AuditLog.Read.All and Directory.Read.All", "AuditLog.Read.All"),
    (re.compile(r"^auditLogs/"), "AuditLog.Read.All", "AuditLog.Read.All"),
    (re.compile(r"^identity/conditionalAccess/"), "Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    (
        re.compile(r"^policies/authenticationStrengthPolicies"),
        "Policy.Read.All",
        "Policy.ReadWrite.ConditionalAccess",
    ),
    (
        re.compile(r"^policies/authenticationMethodsPolicy"),
        "Policy.Read.All",
        "Policy.ReadWrite.AuthenticationMethod",
    ),
    (re.compile(r"^policies/authorizationPolicy"), "Policy.Read.All", "Policy.ReadWrite.Authorization"),
    (
        re.compile(r"^policies/crossTenantAccessPolicy"),
        "Policy.Read.All",
        "Policy.ReadWrite.CrossTenantAccess",
    ),
    (re.compile(r"^policies/"), "Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    (
        re.compile(r"^roleManagement/directory/roleEligibility"),
        "RoleEligibilitySchedule.Read.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
    ),
    (re.compile(r"^roleManagement/"), "RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory"),
    (re.compile(r"/appRoleAssign(ments|edTo)"), "Directory.Read.All", "AppRoleAssignment.ReadWrite.All"),
    (re.compile(r"^users"), "Directory.Read.All", "User.ReadWrite.All"),
    (re.compile(r"^groups"), "Directory.Read.All", "Group.ReadWrite.All"),
    (re.compile(r"^(applications|servicePrincipals)"), "Directory.Read.All", "Application.ReadWrite.All"),
    (re.compile(r"^oauth2PermissionGrants"), "Directory.Read.All", "DelegatedPermissionGrant.ReadWrite.All"),
    (
        re.compile(r"^(directory/)?administrativeUnits"),
        "Directory.Read.All",
        "AdministrativeUnit.ReadWrite.All",
    ),
    (re.compile(r"^domains"), "Directory.Read.All", "Domain.ReadWrite.All"),
    (re.compile(r"^organization"), "Directory.Read.All", "Organization.ReadWrite.All"),
    (
        re.compile(r"^(directory|directoryRoles|directoryObjects)"),
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
]


def required_permission(method: str, path: str) -> str | None:
    """The least-privileged application permission that covers ``method path`` (path without version)."""
    path = path.lstrip("/")
    is_read = method.upper() in {"GET", "HEAD"}
    for pattern, read, write in _RULES:
        if pattern.search(path):
            return read if is_read else write
    return None
