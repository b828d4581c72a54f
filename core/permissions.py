"""Microsoft Graph application permissions Rewind needs, and which granted ones satisfy them.

Backup needs read access only; restore needs the write permissions, ideally on a separate credential so the
everyday backup credential stays read-only. Sources: graph-api.md section 6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    permission: str
    covers: str
    # Broader permissions that include this one (a ReadWrite implies its Read).
    satisfied_by: tuple[str, ...] = ()

    def is_met(self, granted: set[str]) -> bool:
        return self.permission in granted or any(p in granted for p in self.satisfied_by)


BACKUP: tuple[Requirement, ...] = (
    Requirement(
        "Directory.Read.All",
        "users, groups, members, apps, service principals, grants, AUs, domains, organization, deleted items",
        ("Directory.ReadWrite.All",),
    ),
    Requirement(
        "Policy.Read.All",
        "Conditional Access, named locations, authentication strengths and methods, authorization and "
        "cross-tenant policies",
    ),
    Requirement(
        "RoleManagement.Read.Directory",
        "role definitions and assignments",
        ("RoleManagement.ReadWrite.Directory", "RoleManagement.Read.All"),
    ),
    Requirement(
        "RoleEligibilitySchedule.Read.Directory",
        "PIM eligibility",
        (
            "RoleEligibilitySchedule.ReadWrite.Directory",
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
            "RoleManagement.Read.All",
        ),
    ),
    Requirement("AuditLog.Read.All", "directory audit and sign-in logs (attribution, log archive)"),
)

RESTORE: tuple[Requirement, ...] = (
    Requirement(
        "User.ReadWrite.All", "recreate and patch users; restore deleted users", ("Directory.ReadWrite.All",)
    ),
    Requirement("Group.ReadWrite.All", "recreate, patch and restore groups", ("Directory.ReadWrite.All",)),
    Requirement(
        "GroupMember.ReadWrite.All",
        "re-add members and owners",
        ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
    ),
    Requirement("Application.ReadWrite.All", "recreate and restore applications and service principals"),
    Requirement("AppRoleAssignment.ReadWrite.All", "re-create app role assignments"),
    Requirement("DelegatedPermissionGrant.ReadWrite.All", "re-create OAuth2 permission grants"),
    Requirement(
        "RoleManagement.ReadWrite.Directory", "role assignments, PIM eligibility, role-assignable groups"
    ),
    Requirement("Policy.ReadWrite.ConditionalAccess", "Conditional Access policies and named locations"),
    Requirement("Policy.ReadWrite.AuthenticationMethod", "authentication methods policy and strengths"),
    Requirement("Policy.ReadWrite.Authorization", "authorization policy"),
    Requirement("Policy.ReadWrite.CrossTenantAccess", "cross-tenant access policy"),
    Requirement(
        "AdministrativeUnit.ReadWrite.All",
        "administrative units and their members",
        ("Directory.ReadWrite.All",),
    ),
    Requirement("Domain.ReadWrite.All", "domains", ("Directory.ReadWrite.All",)),
    Requirement("Organization.ReadWrite.All", "organization settings"),
)


def missing(requirements: Iterable[Requirement], granted: Iterable[str]) -> list[Requirement]:
    have = set(granted)
    return [r for r in requirements if not r.is_met(have)]
