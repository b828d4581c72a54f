"""App registrations, their service principals, Microsoft's first-party ones, consents and app role grants."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field

from emulator.generator.common import (
    EXCHANGE_APP_ID,
    GRAPH_APP_ID,
    MICROSOFT_SERVICES_TENANT_ID,
    Obj,
    Tenant,
    b64url_ids,
    guid,
    iso,
    slug,
)
from emulator.generator.groups import Groups
from emulator.generator.names import APP_NAMES, APP_STAGES
from emulator.generator.people import People

DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"
YEAR = 365 * 86_400

# Microsoft Graph application permissions: value -> (id, display name).
GRAPH_APP_ROLES = {
    "User.Read.All": ("df021288-bdef-4463-88db-98f22de89214", "Read all users' full profiles"),
    "User.ReadWrite.All": ("741f803b-c850-494e-b5df-cde7c675a1ca", "Read and write all users' full profiles"),
    "Group.Read.All": ("5b567255-7703-4780-807c-7be8301ae99b", "Read all groups"),
    "Group.ReadWrite.All": ("62a82d76-70ea-41e2-9197-370581804d09", "Read and write all groups"),
    "Directory.Read.All": ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Read directory data"),
    "Directory.ReadWrite.All": ("19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Read and write directory data"),
    "Application.Read.All": ("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Read all applications"),
    "Application.ReadWrite.All": ("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Read and write all applications"),
    "AuditLog.Read.All": ("b0afded3-3588-46d8-8b3d-9842eff778da", "Read all audit log data"),
    "Policy.Read.All": ("246dd0d5-5bd0-4def-940b-0421030a5b68", "Read your organization's policies"),
    "RoleManagement.Read.Directory": (
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
        "Read all directory RBAC settings",
    ),
    "Mail.Send": ("b633e1c5-b582-4048-a93e-9f11b44c7e96", "Send mail as any user"),
}
# Microsoft Graph delegated permissions: value -> (id, display name).
GRAPH_SCOPES = {
    "User.Read": ("e1fe6dd8-ba31-4d61-89e7-88639da4683d", "Sign in and read user profile"),
    "openid": ("37f7f235-527c-4136-accd-4a02d197296e", "Sign users in"),
    "profile": ("14dad69e-099b-42c9-810b-d002981feec1", "View users' basic profile"),
    "email": ("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "View users' email address"),
    "offline_access": ("7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "Maintain access to data you have given it"),
    "User.ReadBasic.All": ("b340eb25-3456-403f-be2f-af7a0d370277", "Read all users' basic profiles"),
}
EXCHANGE_APP_ROLES = {
    "full_access_as_app": (
        "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
        "Use Exchange Web Services with full access",
    ),
    "Exchange.ManageAsApp": ("dc50a0fb-09a3-484d-be87-e023b12c6440", "Manage Exchange As Application"),
}
USER_ROLES = (
    ("Admin", "Administrators"),
    ("Reader", "Readers"),
    ("Approver", "Approvers"),
    ("Editor", "Editors"),
)


@dataclass
class Apps:
    applications: list[Obj] = field(default_factory=list)
    service_principals: list[Obj] = field(default_factory=list)
    app_role_assignments: list[Obj] = field(default_factory=list)
    grants: list[Obj] = field(default_factory=list)
    owners: dict[str, list[str]] = field(default_factory=dict)
    graph: Obj = field(default_factory=dict)
    exchange: Obj = field(default_factory=dict)
    tenant_sps: list[Obj] = field(default_factory=list)  # service principals of this tenant's own apps
    managed_identities: list[Obj] = field(default_factory=list)


def _role(value: str, rid: str, display: str, member_types: list[str]) -> Obj:
    return {
        "allowedMemberTypes": member_types,
        "description": display,
        "displayName": display,
        "id": rid,
        "isEnabled": True,
        "origin": "Application",
        "value": value,
    }


def _scope(value: str, sid: str, display: str, kind: str) -> Obj:
    return {
        "adminConsentDescription": display,
        "adminConsentDisplayName": display,
        "id": sid,
        "isEnabled": True,
        "type": kind,
        "userConsentDescription": display if kind == "User" else None,
        "userConsentDisplayName": display if kind == "User" else None,
        "value": value,
    }


def _service_principal(app_id: str, name: str, owner_tenant: str, kind: str = "Application") -> Obj:
    return {
        "id": "",
        "deletedDateTime": None,
        "accountEnabled": True,
        "addIns": [],
        "alternativeNames": [],
        "appDescription": None,
        "appDisplayName": name,
        "appId": app_id,
        "applicationTemplateId": None,
        "appOwnerOrganizationId": owner_tenant,
        "appRoleAssignmentRequired": False,
        "appRoles": [],
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": name,
        "homepage": None,
        "info": _info(),
        "keyCredentials": [],
        "loginUrl": None,
        "logoutUrl": None,
        "notes": None,
        "notificationEmailAddresses": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": [],
        "resourceSpecificApplicationPermissions": [],
        "samlSingleSignOnSettings": None,
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": kind,
        "signInAudience": "AzureADMultipleOrgs",
        "tags": [],
        "tokenEncryptionKeyId": None,
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    }


def _info() -> Obj:
    return dict.fromkeys(
        ("logoUrl", "marketingUrl", "privacyStatementUrl", "supportUrl", "termsOfServiceUrl")
    )


def _first_party(rng: random.Random, app_id: str, name: str, roles: dict[str, tuple[str, str]]) -> Obj:
    sp = _service_principal(app_id, name, MICROSOFT_SERVICES_TENANT_ID)
    sp["id"] = guid(rng)
    sp["appRoles"] = [_role(v, rid, d, ["Application"]) for v, (rid, d) in roles.items()]
    sp["publisherName"] = "Microsoft Services"
    sp["servicePrincipalNames"] = [app_id, f"https://{slug(name)}.microsoft.com"]
    return sp


def _credentials(t: Tenant, rng: random.Random, name: str) -> tuple[list[Obj], list[Obj]]:
    """Secret and certificate metadata only: Graph never returns secret values after creation."""
    passwords: list[Obj] = []
    for label in rng.sample(("Prod secret", "CI pipeline", "Rotated 2025", "Temp"), rng.randint(0, 2)):
        start = t.now - rng.randint(30, 700) * 86_400
        passwords.append(
            {
                "customKeyIdentifier": None,
                "displayName": label,
                "endDateTime": iso(start + rng.choice((0.5, 1, 2)) * YEAR),
                "hint": "".join(
                    rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", k=3)
                ),
                "keyId": guid(rng),
                "secretText": None,
                "startDateTime": iso(start),
            }
        )
    keys: list[Obj] = []
    if rng.random() < 0.25:
        start = t.now - rng.randint(30, 700) * 86_400
        keys.append(
            {
                "customKeyIdentifier": f"{rng.getrandbits(160):040X}",
                "displayName": f"CN={slug(name)}.{t.custom_domain}",
                "endDateTime": iso(start + 2 * YEAR),
                "key": None,
                "keyId": guid(rng),
                "startDateTime": iso(start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            }
        )
    return passwords, keys


def _application(t: Tenant, rng: random.Random, name: str, app_id: str, plain: bool) -> Obj:
    """One app registration; ``plain`` ones (the schema extension app) have no API, roles or redirects."""
    host = f"{slug(name)}.{t.custom_domain}"
    exposes_api = not plain and rng.random() < 0.3
    roles: list[Obj] = []
    scopes: list[Obj] = []
    if not plain:
        for value, display in rng.sample(USER_ROLES, rng.randint(0, 3)):
            roles.append(_role(value, guid(rng), display, ["User"]))
    if exposes_api:
        roles.append(_role("Data.Read.All", guid(rng), "Read all data", ["Application"]))
        scopes.append(_scope("access_as_user", guid(rng), f"Access {name}", "User"))
    delegated = ["User.Read", *rng.sample(list(GRAPH_SCOPES)[1:], rng.randint(0, 4))]
    app_perms = (
        rng.sample(list(GRAPH_APP_ROLES), rng.randint(1, 3)) if not plain and rng.random() < 0.4 else []
    )
    access = [{"id": GRAPH_SCOPES[s][0], "type": "Scope"} for s in delegated]
    access += [{"id": GRAPH_APP_ROLES[r][0], "type": "Role"} for r in app_perms]
    passwords, keys = _credentials(t, rng, name) if not plain else ([], [])
    redirects = [] if plain else [f"https://{host}/signin-oidc"]
    return {
        "id": guid(rng),
        "deletedDateTime": None,
        "addIns": [],
        "api": {
            "acceptMappedClaims": None,
            "knownClientApplications": [],
            "oauth2PermissionScopes": scopes,
            "preAuthorizedApplications": [],
            "requestedAccessTokenVersion": 2 if exposes_api else None,
        },
        "appId": app_id,
        "applicationTemplateId": None,
        "appRoles": roles,
        "certification": None,
        "createdDateTime": iso(t.since_creation(rng, 3)),
        "defaultRedirectUri": None,
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": name,
        "groupMembershipClaims": "SecurityGroup" if rng.random() < 0.2 else None,
        "identifierUris": [f"api://{app_id}"] if exposes_api else [],
        "info": _info(),
        "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None,
        "keyCredentials": keys,
        "notes": None if plain or rng.random() < 0.6 else f"Owned by the {name} team",
        "optionalClaims": None,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": passwords,
        "publicClient": {"redirectUris": []},
        "publisherDomain": t.custom_domain,
        "requestSignatureVerification": None,
        "requiredResourceAccess": []
        if plain
        else [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": access}],
        "samlMetadataUrl": None,
        "serviceManagementReference": None,
        "servicePrincipalLockConfiguration": None,
        "signInAudience": "AzureADMultipleOrgs" if not plain and rng.random() < 0.15 else "AzureADMyOrg",
        "spa": {"redirectUris": []},
        "tags": [],
        "tokenEncryptionKeyId": None,
        "uniqueName": None,
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "web": {
            "homePageUrl": None if plain else f"https://{host}/",
            "logoutUrl": None,
            "redirectUris": redirects,
            "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": not plain},
            "redirectUriSettings": [{"uri": u, "index": None} for u in redirects],
        },
    }


def _sp_for_app(t: Tenant, rng: random.Random, app: Obj) -> Obj:
    sp = _service_principal(app["appId"], app["displayName"], t.tenant_id)
    roles = app["appRoles"]
    sp.update(
        id=guid(rng),
        appRoles=[dict(r) for r in roles],
        oauth2PermissionScopes=[dict(s) for s in app["api"]["oauth2PermissionScopes"]],
        appRoleAssignmentRequired=bool(roles) and rng.random() < 0.5,
        homepage=app["web"]["homePageUrl"],
        replyUrls=list(app["web"]["redirectUris"]),
        servicePrincipalNames=[app["appId"], *app["identifierUris"]],
        signInAudience=app["signInAudience"],
        tags=["WindowsAzureActiveDirectoryIntegratedApp"],
        publisherName=t.company,
    )
    return sp


def _managed_identity(t: Tenant, rng: random.Random, name: str) -> Obj:
    app_id = guid(rng)
    sp = _service_principal(app_id, name, MICROSOFT_SERVICES_TENANT_ID, "ManagedIdentity")
    resource = f"/subscriptions/{guid(rng)}/resourcegroups/rg-{name}/providers/Microsoft.Web/sites/{name}"
    start = t.now - rng.randint(1, 80) * 86_400
    sp.update(
        id=guid(rng),
        alternativeNames=["isExplicit=False", resource],
        servicePrincipalNames=[
            app_id,
            f"https://identity.azure.net/{base64.b64encode(rng.randbytes(24)).decode()}",
        ],
        keyCredentials=[
            {
                "customKeyIdentifier": f"{rng.getrandbits(160):040X}",
                "displayName": f"CN={app_id}, DC={t.tenant_id}",
                "endDateTime": iso(start + 90 * 86_400),
                "key": None,
                "keyId": guid(rng),
                "startDateTime": iso(start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            }
        ],
    )
    return sp


def generate_apps(t: Tenant, people: People, groups: Groups, users: int) -> Apps:
    rng = t.rng("apps")
    out = Apps()
    staff_ids = [u["id"] for u in people.staff]
    out.graph = _first_party(rng, GRAPH_APP_ID, "Microsoft Graph", GRAPH_APP_ROLES)
    out.graph["oauth2PermissionScopes"] = [
        _scope(v, sid, d, "Admin" if v == "User.ReadBasic.All" else "User")
        for v, (sid, d) in GRAPH_SCOPES.items()
    ]
    out.exchange = _first_party(rng, EXCHANGE_APP_ID, "Office 365 Exchange Online", EXCHANGE_APP_ROLES)
    names = ["Tenant Schema Extension App"]
    for n in range(max(3, round(users / 100)) - 1):
        base = APP_NAMES[n % len(APP_NAMES)]
        round_ = n // len(APP_NAMES)
        stage = APP_STAGES[round_ % len(APP_STAGES)]
        names.append(
            f"{base}{stage}" + (f" {round_ // len(APP_STAGES) + 1}" if round_ >= len(APP_STAGES) else "")
        )
    for n, name in enumerate(names):
        app = _application(t, rng, name, t.extension_app_id if n == 0 else guid(rng), plain=n == 0)
        out.applications.append(app)
        out.owners[app["id"]] = rng.sample(staff_ids, rng.randint(1, 2))
        sp = _sp_for_app(t, rng, app)
        out.tenant_sps.append(sp)
        if rng.random() < 0.3:
            out.owners[sp["id"]] = out.owners[app["id"]][:1]
    for n in range(1 + (users >= 1_000)):
        out.managed_identities.append(_managed_identity(t, rng, f"func-{('hr-sync', 'reports')[n]}-{t.seed}"))
    out.service_principals = [out.graph, out.exchange, *out.tenant_sps, *out.managed_identities]
    _consents(t, rng, out, staff_ids)
    _assignments(t, rng, out, people, groups, max(5, round(users / 20)))
    return out


def _consents(t: Tenant, rng: random.Random, out: Apps, staff_ids: list[str]) -> None:
    """Delegated grants: tenant-wide admin consent for most apps, a few individual user consents."""
    scope_names = {sid: v for v, (sid, _) in GRAPH_SCOPES.items()}
    for app, sp in zip(out.applications, out.tenant_sps, strict=True):
        access = app["requiredResourceAccess"][0]["resourceAccess"] if app["requiredResourceAccess"] else []
        scopes = " ".join(scope_names[a["id"]] for a in access if a["type"] == "Scope")
        if not scopes:
            continue
        admin_consented = rng.random() < 0.75
        if admin_consented:
            out.grants.append(_grant(sp["id"], out.graph["id"], None, scopes))
        # Without admin consent, people consent for themselves; with it, a few did so beforehand.
        for principal in rng.sample(
            staff_ids, min(len(staff_ids), rng.randint(0, 1) if admin_consented else rng.randint(1, 3))
        ):
            out.grants.append(_grant(sp["id"], out.graph["id"], principal, "User.Read openid profile"))


def _grant(client: str, resource: str, principal: str | None, scope: str) -> Obj:
    ids = (client, resource) if principal is None else (client, resource, principal)
    return {
        "id": b64url_ids(*ids),
        "clientId": client,
        "consentType": "AllPrincipals" if principal is None else "Principal",
        "principalId": principal,
        "resourceId": resource,
        "scope": scope,
    }


def _assignments(
    t: Tenant, rng: random.Random, out: Apps, people: People, groups: Groups, target: int
) -> None:
    """Application permissions first (apps and managed identities on Graph), then users and groups on apps."""
    seen: set[tuple[str, str, str]] = set()
    graph_roles = {r["id"]: r for r in out.graph["appRoles"]}

    def add(principal: Obj, principal_type: str, resource: Obj, role_id: str) -> None:
        key = (principal["id"], resource["id"], role_id)
        if key in seen:
            return
        seen.add(key)
        out.app_role_assignments.append(
            {
                # Graph keys an assignment by its principal; the tail tells one principal's apart.
                "id": b64url_ids(principal["id"], guid(rng)),
                "deletedDateTime": None,
                "appRoleId": role_id,
                "createdDateTime": iso(t.since_creation(rng, 5)),
                "principalDisplayName": principal["displayName"],
                "principalId": principal["id"],
                "principalType": principal_type,
                "resourceDisplayName": resource["displayName"],
                "resourceId": resource["id"],
            }
        )

    for app, sp in zip(out.applications, out.tenant_sps, strict=True):
        for access in app["requiredResourceAccess"]:
            if rng.random() < 0.8:
                for a in access["resourceAccess"]:
                    if a["type"] == "Role":
                        add(sp, "ServicePrincipal", out.graph, a["id"])
    for mi in out.managed_identities:
        for rid in rng.sample(list(graph_roles), 2):
            add(mi, "ServicePrincipal", out.graph, rid)
    principals = groups.of_kind("security", "unified", "role_assignable")
    for _ in range(max(0, target - len(out.app_role_assignments)) * 2):
        if len(out.app_role_assignments) >= target:
            break
        sp = rng.choice(out.tenant_sps[1:])
        user_roles = [r["id"] for r in sp["appRoles"] if "User" in r["allowedMemberTypes"]]
        role_id = rng.choice(user_roles) if user_roles else DEFAULT_ACCESS_ROLE_ID
        if principals and rng.random() < 0.2:
            add(rng.choice(principals), "Group", sp, role_id)
        else:
            add(rng.choice(people.staff), "User", sp, role_id)
