"""Directory roles: built-in and custom definitions, active assignments and PIM eligibility."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from emulator.generator.apps import Apps
from emulator.generator.common import DAY, Obj, Tenant, b64url_ids, guid, iso
from emulator.generator.groups import Groups
from emulator.generator.people import People

# Role display name -> built-in template id (the same in every tenant).
BUILTIN_ROLES: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "Billing Administrator": "b0f54661-2d74-4c50-afa3-1ec803f12efe",
    "Intune Administrator": "3a2c62db-5318-420d-8d74-23affee5d9d5",
    "Hybrid Identity Administrator": "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "Teams Administrator": "69091246-20e8-4a56-aa4d-066075b2a7a8",
}
PRIVILEGED_ROLE_TEMPLATE_IDS: frozenset[str] = frozenset(
    BUILTIN_ROLES[name]
    for name in (
        "Global Administrator",
        "Privileged Role Administrator",
        "Privileged Authentication Administrator",
        "Security Administrator",
        "Conditional Access Administrator",
        "Application Administrator",
        "Cloud Application Administrator",
        "User Administrator",
        "Exchange Administrator",
        "SharePoint Administrator",
        "Intune Administrator",
        "Hybrid Identity Administrator",
        "Authentication Administrator",
        "Helpdesk Administrator",
    )
)
GLOBAL_ADMIN = BUILTIN_ROLES["Global Administrator"]
HELPDESK_ADMIN = BUILTIN_ROLES["Helpdesk Administrator"]

_D = "microsoft.directory"
# A representative slice of each role's resource actions (the real lists run to hundreds).
_ACTIONS: dict[str, tuple[str, ...]] = {
    "Global Administrator": (
        f"{_D}/users/allProperties/allTasks",
        f"{_D}/groups/allProperties/allTasks",
        f"{_D}/applications/allProperties/allTasks",
        f"{_D}/roleAssignments/allProperties/allTasks",
        "microsoft.azure.serviceHealth/allEntities/allTasks",
    ),
    "Privileged Role Administrator": (
        f"{_D}/roleAssignments/allProperties/allTasks",
        f"{_D}/roleDefinitions/allProperties/allTasks",
        f"{_D}/privilegedIdentityManagement/allProperties/allTasks",
    ),
    "User Administrator": (
        f"{_D}/users/create",
        f"{_D}/users/delete",
        f"{_D}/users/restore",
        f"{_D}/users/basic/update",
        f"{_D}/users/password/update",
        f"{_D}/groups/create",
    ),
    "Conditional Access Administrator": (
        f"{_D}/conditionalAccessPolicies/create",
        f"{_D}/conditionalAccessPolicies/basic/update",
        f"{_D}/conditionalAccessPolicies/delete",
        f"{_D}/namedLocations/create",
        f"{_D}/namedLocations/delete",
    ),
    "Security Administrator": (
        f"{_D}/conditionalAccessPolicies/basic/update",
        f"{_D}/namedLocations/basic/update",
        f"{_D}/identityProtection/allProperties/allTasks",
        "microsoft.office365.protectionCenter/allEntities/allTasks",
    ),
    "Application Administrator": (
        f"{_D}/applications/create",
        f"{_D}/applications/delete",
        f"{_D}/applications/credentials/update",
        f"{_D}/servicePrincipals/appRoleAssignedTo/update",
        f"{_D}/applicationProxy/allProperties/allTasks",
    ),
    "Cloud Application Administrator": (
        f"{_D}/applications/create",
        f"{_D}/applications/credentials/update",
        f"{_D}/servicePrincipals/appRoleAssignedTo/update",
    ),
    "Groups Administrator": (
        f"{_D}/groups/create",
        f"{_D}/groups/delete",
        f"{_D}/groups/members/update",
        f"{_D}/groups/owners/update",
        f"{_D}/groups/restore",
    ),
    "Helpdesk Administrator": (
        f"{_D}/users/password/update",
        f"{_D}/users/invalidateAllRefreshTokens",
        f"{_D}/users/basic/update",
        "microsoft.office365.supportTickets/allEntities/allTasks",
    ),
    "Privileged Authentication Administrator": (
        f"{_D}/users/authenticationMethods/create",
        f"{_D}/users/authenticationMethods/delete",
        f"{_D}/users/password/update",
    ),
    "Authentication Administrator": (
        f"{_D}/users/authenticationMethods/create",
        f"{_D}/users/authenticationMethods/basic/update",
        f"{_D}/users/invalidateAllRefreshTokens",
    ),
    "Exchange Administrator": (
        "microsoft.office365.exchange/allEntities/basic/allTasks",
        f"{_D}/groups.unified/create",
        f"{_D}/groups.unified/members/update",
    ),
    "SharePoint Administrator": (
        "microsoft.office365.sharePoint/allEntities/allTasks",
        f"{_D}/groups.unified/create",
        f"{_D}/groups.unified/basic/update",
    ),
    "Global Reader": (
        f"{_D}/users/standard/read",
        f"{_D}/groups/standard/read",
        f"{_D}/applications/standard/read",
        f"{_D}/conditionalAccessPolicies/standard/read",
        f"{_D}/auditLogs/allProperties/read",
    ),
    "Security Reader": (
        f"{_D}/conditionalAccessPolicies/standard/read",
        f"{_D}/auditLogs/allProperties/read",
        f"{_D}/signInReports/allProperties/read",
        f"{_D}/identityProtection/allProperties/read",
    ),
    "Directory Readers": (
        f"{_D}/users/standard/read",
        f"{_D}/groups/standard/read",
        f"{_D}/servicePrincipals/standard/read",
        f"{_D}/administrativeUnits/standard/read",
    ),
    "Billing Administrator": (
        "microsoft.commerce.billing/allEntities/allProperties/allTasks",
        f"{_D}/organization/basic/update",
    ),
    "Intune Administrator": (
        "microsoft.intune/allEntities/allTasks",
        f"{_D}/devices/basic/update",
        f"{_D}/groups.security/create",
    ),
    "Hybrid Identity Administrator": (
        f"{_D}/onPremisesSynchronization/standard/read",
        f"{_D}/domains/federation/update",
        f"{_D}/hybridAuthenticationPolicies/allProperties/allTasks",
    ),
    "Teams Administrator": (
        "microsoft.teams/allEntities/allProperties/allTasks",
        f"{_D}/groups.unified/create",
    ),
}
_CUSTOM = (
    (
        "Application Registration Manager",
        "Creates app registrations and manages their owners and secrets.",
        (
            f"{_D}/applications/create",
            f"{_D}/applications/credentials/update",
            f"{_D}/applications/owners/update",
        ),
    ),
    (
        "Group Lifecycle Operator",
        "Renews and restores Microsoft 365 groups.",
        (f"{_D}/groups/restore", f"{_D}/groups.unified/basic/update", f"{_D}/groupSettings/standard/read"),
    ),
)
# Roles handed to admin accounts after the first three, in order.
_ADMIN_ROLE_CYCLE = (
    "Exchange Administrator",
    "Conditional Access Administrator",
    "Application Administrator",
    "SharePoint Administrator",
    "Intune Administrator",
    "Authentication Administrator",
    "Cloud Application Administrator",
)
_OPERATOR_ROLES = (
    "Helpdesk Administrator",
    "Global Reader",
    "Security Reader",
    "Groups Administrator",
    "Authentication Administrator",
    "Directory Readers",
)


@dataclass
class Roles:
    definitions: list[Obj] = field(default_factory=list)
    assignments: list[Obj] = field(default_factory=list)
    eligibility: list[Obj] = field(default_factory=list)


def _definition(rid: str, name: str, description: str, actions: tuple[str, ...], builtin: bool) -> Obj:
    return {
        "id": rid,
        "description": description,
        "displayName": name,
        "isBuiltIn": builtin,
        "isEnabled": True,
        "resourceScopes": ["/"],
        "rolePermissions": [
            {"allowedResourceActions": list(actions), "condition": None, "excludedResourceActions": []}
        ],
        "templateId": rid,
        "version": "1" if builtin else None,
    }


def generate_roles(
    t: Tenant, people: People, groups: Groups, apps: Apps, scoped: list[Obj], users: int
) -> Roles:
    """``scoped`` are the administrative units' scoped role memberships; each gets its role assignment."""
    rng = t.rng("roles")
    out = Roles()
    for name, rid in BUILTIN_ROLES.items():
        out.definitions.append(_definition(rid, name, f"Built-in role: {name}.", _ACTIONS[name], True))
    for name, description, actions in _CUSTOM[: 1 + (users >= 1_000)]:
        out.definitions.append(_definition(guid(rng), name, description, actions, False))
    seen: set[tuple[str, str, str]] = set()
    per_pair: dict[tuple[str, str], int] = {}

    def assign(principal_id: str, role_id: str, scope: str = "/") -> None:
        if (principal_id, role_id, scope) in seen:
            return
        seen.add((principal_id, role_id, scope))
        # Graph's ids are the role's and principal's GUID bytes; scoped ones differ in the suffix.
        n = per_pair[principal_id, role_id] = per_pair.get((principal_id, role_id), 0) + 1
        out.assignments.append(
            {
                "id": f"{b64url_ids(role_id)}{b64url_ids(principal_id)}-{n}",
                "appScopeId": None,
                "condition": None,
                "directoryScopeId": scope,
                "principalId": principal_id,
                "roleDefinitionId": role_id,
            }
        )

    for account in people.break_glass:
        assign(account["id"], GLOBAL_ADMIN)
    fixed = ("Privileged Role Administrator", "User Administrator", "Security Administrator")
    for i, admin in enumerate(people.admins):
        name = fixed[i] if i < len(fixed) else _ADMIN_ROLE_CYCLE[(i - len(fixed)) % len(_ADMIN_ROLE_CYCLE)]
        assign(admin["id"], BUILTIN_ROLES[name])
    ra_groups = groups.of_kind("role_assignable")
    assign(ra_groups[0]["id"], HELPDESK_ADMIN)
    for g in ra_groups[1:]:
        assign(g["id"], BUILTIN_ROLES[rng.choice(_OPERATOR_ROLES)])
    assign(apps.tenant_sps[1]["id"], BUILTIN_ROLES["Directory Readers"])
    assign(apps.tenant_sps[-1]["id"], BUILTIN_ROLES["User Administrator"])
    custom = out.definitions[len(BUILTIN_ROLES)]
    assign(people.admins[-1]["id"], custom["id"])
    for member in scoped:
        assign(
            member["roleMemberInfo"]["id"],
            member["roleId"],
            f"/administrativeUnits/{member['administrativeUnitId']}",
        )
    it_staff = [u for u in people.by_department.get("IT", []) if u["employeeId"] is not None]
    operators = it_staff or people.staff
    target = max(5, round(users / 500))
    for _ in range(target * 3):
        if len(out.assignments) >= target:
            break
        assign(rng.choice(operators)["id"], BUILTIN_ROLES[rng.choice(_OPERATOR_ROLES)])
    _eligibility(t, rng, out, people, ra_groups, operators, users)
    return out


def _eligibility(
    t: Tenant,
    rng: random.Random,
    out: Roles,
    people: People,
    ra_groups: list[Obj],
    operators: list[Obj],
    users: int,
) -> None:
    """PIM: admins eligible for the big roles without expiry; operators for reader roles, time-bound."""
    plan: list[tuple[str, str, bool]] = [
        (people.admins[0]["id"], GLOBAL_ADMIN, False),
        (people.admins[1]["id"], BUILTIN_ROLES["Privileged Authentication Administrator"], False),
        (people.admins[2]["id"], BUILTIN_ROLES["Conditional Access Administrator"], False),
        (ra_groups[0]["id"], BUILTIN_ROLES["Authentication Administrator"], False),
    ]
    for _ in range(min(20, users // 4_000)):
        plan.append((rng.choice(operators)["id"], BUILTIN_ROLES[rng.choice(_OPERATOR_ROLES)], True))
    taken: set[tuple[str, str]] = set()
    for principal, role, expires in plan:
        if (principal, role) in taken:
            continue
        taken.add((principal, role))
        start = t.now - rng.randint(10, 400) * DAY
        sid = guid(rng)
        expiration: Obj = {"type": "noExpiration", "endDateTime": None, "duration": None}
        if expires:
            expiration = {"type": "afterDateTime", "endDateTime": iso(start + 365 * DAY), "duration": None}
        out.eligibility.append(
            {
                "id": sid,
                "principalId": principal,
                "roleDefinitionId": role,
                "directoryScopeId": "/",
                "appScopeId": None,
                "createdDateTime": iso(start),
                "modifiedDateTime": None,
                "createdUsing": sid,
                "status": "Provisioned",
                "memberType": "Direct",
                "scheduleInfo": {"startDateTime": iso(start), "recurrence": None, "expiration": expiration},
            }
        )
