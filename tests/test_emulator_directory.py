"""The emulator's directory model, driven through Tenant.handle exactly as the HTTP server drives it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from emulator.directory import DirectoryOptions, Tenant
from emulator.protocol import Caller, GraphRequest, TenantSeed

DOMAIN = "contoso.onmicrosoft.com"
CUSTOM = "contoso.com"
APP = Caller(
    app_id="11111111-0000-0000-0000-000000000001", app_display_name="Rewind", service_principal_id="sp-rw"
)
PERSON = Caller(user_id="u-admin", user_principal_name=f"admin@{CUSTOM}", user_display_name="Ada Admin")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ROLE_ID = "df021288-bdef-4463-88db-98f22de89214"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _user(n: int, **extra: Any) -> dict[str, Any]:
    upn = f"user{n}@{CUSTOM}"
    return {
        "id": uid(n),
        "displayName": f"User {n:03d}",
        "givenName": "User",
        "surname": f"{n:03d}",
        "userPrincipalName": upn,
        "mail": upn,
        "mailNickname": f"user{n}",
        "jobTitle": "Engineer",
        "mobilePhone": None,
        "businessPhones": [],
        "officeLocation": "HQ",
        "preferredLanguage": "en-US",
        "accountEnabled": True,
        "userType": "Member",
        "onPremisesSyncEnabled": None,
        "proxyAddresses": [f"SMTP:{upn}"],
        "createdDateTime": "2025-01-01T00:00:00Z",
        "department": "R&D",
        **extra,
    }


def _group(
    gid: str,
    name: str,
    *,
    types: list[str] | None = None,
    mail: bool = False,
    security: bool = True,
    synced: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": gid,
        "displayName": name,
        "description": f"{name} group",
        "groupTypes": types or [],
        "mailEnabled": mail,
        "securityEnabled": security,
        "mailNickname": name.lower(),
        "mail": f"{name.lower()}@{CUSTOM}" if mail else None,
        "proxyAddresses": [f"SMTP:{name.lower()}@{CUSTOM}"] if mail else [],
        "onPremisesSyncEnabled": True if synced else None,
        "visibility": "Private" if types else None,
        "isAssignableToRole": extra.pop("isAssignableToRole", None),
        "createdDateTime": "2025-01-01T00:00:00Z",
        **extra,
    }


def make_seed(users: int = 30) -> TenantSeed:
    people = [_user(n) for n in range(1, users + 1)]
    people.append(
        _user(
            900,
            displayName="Guest Person",
            userType="Guest",
            userPrincipalName=f"guest_fabrikam.com#EXT#@{DOMAIN}",
            mail="guest@fabrikam.com",
            proxyAddresses=[],
        )
    )
    people.append(
        _user(
            901,
            displayName="Synced Person",
            onPremisesSyncEnabled=True,
            accountEnabled=False,
            onPremisesImmutableId="abc==",
        )
    )
    people.append(
        {
            **_user(902),
            "id": "u-admin",
            "userPrincipalName": f"admin@{CUSTOM}",
            "mail": None,
            "proxyAddresses": [],
            "displayName": "Ada Admin",
        }
    )
    groups = [
        _group("g-sec", "Security"),
        _group("g-m365", "Team", types=["Unified"], mail=True, security=False),
        _group("g-dist", "Distribution", mail=True, security=False),
        _group("g-mailsec", "MailSecurity", mail=True, security=True),
        _group("g-synced", "Synced", synced=True),
        _group("g-dyn", "Dynamic", types=["DynamicMembership"], membershipRule='user.department -eq "R&D"'),
        _group("g-role", "RoleGroup", isAssignableToRole=True),
        _group("g-nested", "Nested"),
    ]
    apps = [
        {
            "id": "app-1",
            "appId": "a0000000-0000-0000-0000-000000000001",
            "displayName": "Payroll",
            "signInAudience": "AzureADMyOrg",
            "publisherDomain": CUSTOM,
            "createdDateTime": "2025-01-01T00:00:00Z",
            "identifierUris": [],
            "appRoles": [
                {
                    "id": "r-1",
                    "value": "Payroll.Read",
                    "allowedMemberTypes": ["User"],
                    "displayName": "Read",
                    "description": "Read",
                    "isEnabled": True,
                }
            ],
            "passwordCredentials": [
                {
                    "keyId": "k-old",
                    "displayName": "old",
                    "hint": "abc",
                    "secretText": None,
                    "startDateTime": "2025-01-01T00:00:00Z",
                    "endDateTime": "2027-01-01T00:00:00Z",
                    "customKeyIdentifier": None,
                }
            ],
            "keyCredentials": [],
            "tags": [],
            "requiredResourceAccess": [],
        }
    ]
    sps = [
        {
            "id": "sp-1",
            "appId": "a0000000-0000-0000-0000-000000000001",
            "displayName": "Payroll",
            "servicePrincipalType": "Application",
            "appRoles": apps[0]["appRoles"],
            "accountEnabled": True,
            "passwordCredentials": [],
            "keyCredentials": [],
            "tags": [],
        },
        {
            "id": "sp-graph",
            "appId": GRAPH_APP_ID,
            "displayName": "Microsoft Graph",
            "servicePrincipalType": "Application",
            "accountEnabled": True,
            "passwordCredentials": [],
            "keyCredentials": [],
            "tags": [],
            "appRoles": [{"id": ROLE_ID, "value": "User.Read.All", "allowedMemberTypes": ["Application"]}],
        },
    ]
    return TenantSeed(
        tenant_id="t-0001",
        default_domain=DOMAIN,
        collections={
            "users": people,
            "groups": groups,
            "applications": apps,
            "servicePrincipals": sps,
            "appRoleAssignments": [
                {
                    "id": "ara-1",
                    "appRoleId": "r-1",
                    "principalId": uid(1),
                    "principalType": "User",
                    "principalDisplayName": "User 001",
                    "resourceId": "sp-1",
                    "resourceDisplayName": "Payroll",
                    "createdDateTime": "2025-01-01T00:00:00Z",
                    "deletedDateTime": None,
                },
            ],
            "oauth2PermissionGrants": [
                {
                    "id": "grant-1",
                    "clientId": "sp-1",
                    "consentType": "Principal",
                    "principalId": uid(2),
                    "resourceId": "sp-graph",
                    "scope": "User.Read",
                },
                {
                    "id": "grant-2",
                    "clientId": "sp-1",
                    "consentType": "AllPrincipals",
                    "principalId": None,
                    "resourceId": "sp-graph",
                    "scope": "openid",
                },
            ],
            "roleDefinitions": [
                {
                    "id": GLOBAL_ADMIN,
                    "templateId": GLOBAL_ADMIN,
                    "displayName": "Global Administrator",
                    "isBuiltIn": True,
                    "isEnabled": True,
                    "rolePermissions": [],
                }
            ],
            "roleAssignments": [
                {
                    "id": "ra-1",
                    "principalId": "u-admin",
                    "roleDefinitionId": GLOBAL_ADMIN,
                    "directoryScopeId": "/",
                }
            ],
            "roleEligibilitySchedules": [],
            "conditionalAccessPolicies": [
                {
                    "id": "ca-1",
                    "displayName": "Require MFA",
                    "state": "enabled",
                    "templateId": None,
                    "createdDateTime": "2025-01-01T00:00:00Z",
                    "modifiedDateTime": "2025-01-01T00:00:00Z",
                    "conditions": {
                        "users": {
                            "includeUsers": ["All"],
                            "excludeUsers": [uid(3)],
                            "includeGroups": [],
                            "excludeGroups": ["g-dist", "g-sec"],
                        },
                        "locations": {"includeLocations": ["All"], "excludeLocations": ["loc-ip"]},
                        "applications": {"includeApplications": ["All"]},
                    },
                    "grantControls": {
                        "operator": "OR",
                        "builtInControls": ["mfa"],
                        "authenticationStrength": None,
                    },
                    "sessionControls": None,
                }
            ],
            "namedLocations": [
                {
                    "@odata.type": "#microsoft.graph.ipNamedLocation",
                    "id": "loc-ip",
                    "displayName": "Office",
                    "isTrusted": True,
                    "ipRanges": [
                        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}
                    ],
                },
                {
                    "@odata.type": "#microsoft.graph.ipNamedLocation",
                    "id": "loc-ip2",
                    "displayName": "Lab",
                    "isTrusted": False,
                    "ipRanges": [
                        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.168.0.0/16"}
                    ],
                },
                {
                    "@odata.type": "#microsoft.graph.countryNamedLocation",
                    "id": "loc-cc",
                    "displayName": "Blocked",
                    "countriesAndRegions": ["KP"],
                    "includeUnknownCountriesAndRegions": False,
                    "countryLookupMethod": "clientIpAddress",
                },
            ],
            "authenticationStrengthPolicies": [
                {
                    "id": "00000000-0000-0000-0000-000000000002",
                    "displayName": "Multifactor authentication",
                    "policyType": "builtIn",
                    "allowedCombinations": ["password,sms"],
                },
                {
                    "id": "as-custom",
                    "displayName": "Custom",
                    "policyType": "custom",
                    "allowedCombinations": ["fido2"],
                },
            ],
            "administrativeUnits": [
                {"id": "au-1", "displayName": "Europe", "description": None, "visibility": None}
            ],
            "scopedRoleMemberships": [],
            "domains": [
                {
                    "id": DOMAIN,
                    "isDefault": False,
                    "isInitial": True,
                    "isVerified": True,
                    "authenticationType": "Managed",
                },
                {
                    "id": CUSTOM,
                    "isDefault": True,
                    "isInitial": False,
                    "isVerified": True,
                    "authenticationType": "Managed",
                },
            ],
            "organization": [{"id": "t-0001", "displayName": "Contoso", "technicalNotificationMails": []}],
            "crossTenantAccessPartners": [
                {"tenantId": "99999999-0000-0000-0000-000000000001", "inboundTrust": None}
            ],
            "directoryAudits": [
                {
                    "id": f"seed-audit-{n}",
                    "category": "UserManagement",
                    "activityDisplayName": "Update user",
                    "activityDateTime": f"2025-06-0{n}T10:00:00Z",
                    "operationType": "Update",
                    "result": "success",
                    "loggedByService": "Core Directory",
                    "initiatedBy": {"user": None, "app": None},
                    "targetResources": [],
                }
                for n in (1, 2, 3)
            ],
            "signIns": [
                {
                    "id": f"signin-{n}",
                    "createdDateTime": f"2025-06-0{n}T08:00:00Z",
                    "userId": uid(1),
                    "userPrincipalName": f"user1@{CUSTOM}",
                    "appDisplayName": "Portal",
                    "status": {"errorCode": 0},
                }
                for n in (1, 2, 3, 4)
            ],
        },
        singletons={
            "authorizationPolicy": {
                "id": "authorizationPolicy",
                "blockMsolPowerShell": False,
                "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
            },
            "authenticationMethodsPolicy": {
                "id": "authenticationMethodsPolicy",
                "displayName": "Authentication Methods Policy",
                "policyVersion": "1.5",
                "authenticationMethodConfigurations": [
                    {
                        "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
                        "id": "Fido2",
                        "state": "disabled",
                        "includeTargets": [],
                    },
                ],
            },
            "crossTenantAccessPolicy": {
                "id": "crossTenantAccessPolicy",
                "displayName": "CrossTenantAccessPolicy",
                "allowedCloudEndpoints": [],
            },
            "crossTenantAccessDefault": {"isServiceDefault": True, "inboundTrust": None},
        },
        members={
            "g-sec": [uid(n) for n in range(1, 11)] + ["g-nested"],
            "g-nested": [uid(20), uid(21)],
            "g-m365": [uid(1), uid(2)],
            "g-dist": [uid(3)],
            "g-mailsec": [uid(4)],
            "g-synced": [uid(901)],
            "au-1": [uid(1), "g-sec"],
        },
        owners={"g-sec": [uid(5)], "g-m365": [uid(5)], "app-1": [uid(6)], "sp-1": [uid(6)]},
        manager={uid(n): uid(1) for n in range(2, 8)},
    )


@dataclass
class Reply:
    """A GraphResponse with its body typed for indexing in assertions."""

    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """A thin request helper around one Tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        version: str = "v1.0",
        caller: Caller = APP,
    ) -> Reply:
        request = GraphRequest(method, version, path, query or {}, headers or {}, body, "https://graph.test")
        response = self.tenant.handle(request, caller)
        json.dumps(response.body)  # every answer must be serialisable
        return Reply(response.status, response.body, response.headers)

    def get(self, path: str, query: dict[str, str] | None = None, **kw: Any) -> Reply:
        return self.call("GET", path, query=query, **kw)

    def ok(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        response = self.call(method, path, body, query=query, **kw)
        assert response.status < 300, (response.status, response.body)
        return response.body

    def all_pages(
        self, path: str, query: dict[str, str] | None = None, between: Any = None, **kw: Any
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        response = self.get(path, query, **kw)
        while True:
            assert response.status == 200, response.body
            items.extend(response.body["value"])
            link = response.body.get("@odata.nextLink")
            if not link:
                return items
            if between is not None:
                between()
            response = self.get(path, follow(link), **kw)


def follow(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def error_code(response: Reply) -> str:
    return str(response.body["error"]["code"])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tenant(clock: Clock) -> Tenant:
    return Tenant.from_seed(make_seed(), DirectoryOptions(clock=clock))


@pytest.fixture
def api(tenant: Tenant) -> Api:
    return Api(tenant)


def new_user_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "accountEnabled": True,
        "displayName": name.title(),
        "mailNickname": name,
        "userPrincipalName": f"{name}@{CUSTOM}",
        "passwordProfile": {"password": "Sup3r-secret!", "forceChangePasswordNextSignIn": True},
        **extra,
    }


def ref(obj_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{obj_id}"}


# ----- paging


def test_paging_returns_every_user_exactly_once(api: Api, tenant: Tenant) -> None:
    items = api.all_pages("/users", {"$top": "7", "$select": "id"})
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) == tenant.user_count()
    first = api.get("/users", {"$top": "7"}).body
    assert first["@odata.context"] == "https://graph.test/v1.0/$metadata#users"
    assert first["@odata.nextLink"].startswith("https://graph.test/v1.0/users?$skiptoken=")


def test_paging_survives_deletes_and_creates_between_pages(api: Api, tenant: Tenant) -> None:
    before = {u["id"] for u in api.all_pages("/users", {"$select": "id"})}
    doomed = [uid(25), uid(8)]  # one ahead of the cursor, one behind it after a few pages
    seen: list[str] = []
    pages = {"n": 0}

    def churn() -> None:
        pages["n"] += 1
        if pages["n"] == 2:
            for victim in doomed:
                api.ok("DELETE", f"/users/{victim}")
            api.ok("POST", "/users", new_user_body("latecomer"))

    seen = [u["id"] for u in api.all_pages("/users", {"$top": "4", "$select": "id"}, between=churn)]
    assert len(seen) == len(set(seen))
    untouched = before - set(doomed)
    assert untouched <= set(seen)
    assert uid(25) not in seen  # deleted before the cursor reached it


def test_forged_or_foreign_skiptoken_is_rejected(api: Api) -> None:
    link = api.get("/users", {"$top": "5"}).body["@odata.nextLink"]
    token = follow(link)["$skiptoken"]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = api.get("/users", {"$skiptoken": forged})
    assert response.status == 400 and error_code(response) == "Request_BadRequest"
    assert api.get("/groups", {"$skiptoken": token}).status == 400  # issued for another path
    assert api.get("/users", {"$skiptoken": "not-a-token"}).status == 400


def test_relationship_paging(api: Api) -> None:
    members = api.all_pages("/groups/g-sec/members", {"$top": "3"})
    assert {m["id"] for m in members} == {uid(n) for n in range(1, 11)} | {"g-nested"}
    assert {m["@odata.type"] for m in members} == {"#microsoft.graph.user", "#microsoft.graph.group"}
    users_only = api.all_pages("/groups/g-sec/members/microsoft.graph.user")
    assert len(users_only) == 10
    transitive = api.all_pages("/groups/g-sec/transitiveMembers", {"$top": "5"})
    assert {uid(20), uid(21)} <= {m["id"] for m in transitive}


# ----- query options


def test_top_limits_per_resource(api: Api) -> None:
    bad = api.get("/users", {"$top": "1000"})
    assert bad.status == 400 and "Invalid page size specified" in bad.body["error"]["message"]
    assert api.get("/users", {"$top": "999"}).status == 200
    assert api.get("/users", {"$top": "0"}).status == 400
    assert api.get("/auditLogs/signIns", {"$top": "1000"}).status == 200
    assert api.get("/auditLogs/signIns", {"$top": "1001"}).status == 400
    assert api.get("/auditLogs/directoryAudits", {"$top": "1000"}).status == 400
    assert len(api.get("/users").body["value"]) == 33  # default page 100 holds them all


def test_default_projections_and_select(api: Api) -> None:
    user = api.get("/users", {"$top": "1"}).body["value"][0]
    assert set(user) == {
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "jobTitle",
        "mobilePhone",
        "businessPhones",
        "officeLocation",
        "preferredLanguage",
    }
    group = api.get("/groups/g-sec").body
    assert {"securityEnabled", "mailEnabled", "groupTypes", "isAssignableToRole", "proxyAddresses"} <= set(
        group
    )
    picked = api.get(f"/users/{uid(1)}", {"$select": "accountEnabled,department"}).body
    assert {k for k in picked if not k.startswith("@")} == {"accountEnabled", "department"}
    unknown = api.get("/users", {"$select": "id,shoeSize"})
    assert unknown.status == 400 and "shoeSize" in unknown.body["error"]["message"]
    by_upn = api.get(f"/users/user3@{CUSTOM}").body
    assert by_upn["id"] == uid(3)


def test_count_requires_eventual_consistency(api: Api, tenant: Tenant) -> None:
    assert api.get("/users/$count").status == 400
    counted = api.get("/users/$count", headers={"consistencylevel": "eventual"})
    assert counted.status == 200 and counted.body == tenant.user_count()
    ignored = api.get("/users", {"$count": "true", "$top": "5"}).body
    assert "@odata.count" not in ignored
    first = api.get("/users", {"$count": "true", "$top": "5"}, headers={"consistencylevel": "eventual"}).body
    assert first["@odata.count"] == tenant.user_count()
    second = api.get(
        "/users", follow(first["@odata.nextLink"]), headers={"consistencylevel": "eventual"}
    ).body
    assert "@odata.count" not in second


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"userPrincipalName eq 'USER3@{CUSTOM}'", {uid(3)}),
        ("startswith(displayName,'User 01')", {uid(n) for n in range(10, 20)}),
        (f"id in ('{uid(1)}', '{uid(2)}')", {uid(1), uid(2)}),
        ("accountEnabled eq false", {uid(901)}),
        ("userType eq 'Guest'", {uid(900)}),
        ("onPremisesSyncEnabled eq true", {uid(901)}),
        (f"displayName eq 'User 001' or id eq '{uid(2)}'", {uid(1), uid(2)}),
        ("accountEnabled eq true and startswith(surname,'02')", {uid(n) for n in range(20, 30)}),
    ],
)
def test_filters(api: Api, query: str, expected: set[str]) -> None:
    found = {u["id"] for u in api.all_pages("/users", {"$filter": query, "$top": "4"})}
    assert found == expected


def test_filter_rules(api: Api) -> None:
    assert api.get("/users", {"$filter": "userType ne 'Guest'"}).status == 400
    advanced = api.get(
        "/users",
        {"$filter": "userType ne 'Guest'", "$count": "true"},
        headers={"consistencylevel": "eventual"},
    )
    assert advanced.status == 200 and advanced.body["@odata.count"] == 32
    unsupported = api.get("/users", {"$filter": "contains(displayName,'x')"})
    assert unsupported.status == 400 and error_code(unsupported) == "Request_UnsupportedQuery"
    assert api.get("/users", {"$filter": "shoeSize eq 3"}).status == 400
    assert api.get("/users", {"$filter": "displayName eq"}).status == 400
    unified = api.all_pages("/groups", {"$filter": "groupTypes/any(c:c eq 'Unified')"})
    assert [g["id"] for g in unified] == ["g-m365"]
    ip_only = api.get(
        "/identity/conditionalAccess/namedLocations", {"$filter": "isof('microsoft.graph.ipNamedLocation')"}
    ).body["value"]
    assert {loc["id"] for loc in ip_only} == {"loc-ip", "loc-ip2"}


def test_audit_and_signin_order_and_datetime_filters(api: Api) -> None:
    audits = api.get("/auditLogs/directoryAudits").body["value"]
    assert [a["id"] for a in audits] == ["seed-audit-3", "seed-audit-2", "seed-audit-1"]
    ascending = api.get("/auditLogs/directoryAudits", {"$orderby": "activityDateTime asc"}).body["value"]
    assert [a["id"] for a in ascending] == ["seed-audit-1", "seed-audit-2", "seed-audit-3"]
    recent = api.get("/auditLogs/directoryAudits", {"$filter": "activityDateTime ge 2025-06-02T00:00:00Z"})
    assert [a["id"] for a in recent.body["value"]] == ["seed-audit-3", "seed-audit-2"]
    signins = api.all_pages(
        "/auditLogs/signIns", {"$top": "3", "$filter": "createdDateTime lt 2025-06-04T00:00:00Z"}
    )
    assert [s["id"] for s in signins] == ["signin-3", "signin-2", "signin-1"]
    assert api.call("POST", "/auditLogs/signIns", body={}).status == 405
    one_by_one = api.all_pages("/auditLogs/signIns", {"$top": "1"})
    assert [s["id"] for s in one_by_one] == ["signin-4", "signin-3", "signin-2", "signin-1"]
    oldest_first = api.all_pages(
        "/auditLogs/directoryAudits", {"$top": "2", "$orderby": "activityDateTime asc"}
    )
    assert [a["id"] for a in oldest_first] == ["seed-audit-1", "seed-audit-2", "seed-audit-3"]


# ----- soft and hard delete


@pytest.mark.parametrize(
    ("group_id", "soft"),
    [
        ("g-sec", True),
        ("g-m365", True),
        ("g-role", True),
        ("g-dist", False),
        ("g-mailsec", False),
        ("g-synced", False),
    ],
)
def test_group_delete_policy(api: Api, group_id: str, soft: bool) -> None:
    assert api.call("DELETE", f"/groups/{group_id}").status == 204
    assert api.get(f"/groups/{group_id}").status == 404
    assert group_id not in {g["id"] for g in api.all_pages("/groups")}
    deleted = {g["id"] for g in api.all_pages("/directory/deletedItems/microsoft.graph.group")}
    assert (group_id in deleted) is soft
    assert (api.get(f"/directory/deletedItems/{group_id}").status == 200) is soft


def test_deleted_items_need_cast_and_restore_memberships(api: Api, tenant: Tenant) -> None:
    original = tenant.dump()
    assert api.get("/directory/deletedItems").status == 400
    api.ok("DELETE", f"/users/{uid(2)}")
    assert api.get(f"/users/{uid(2)}").status == 404
    assert uid(2) not in {m["id"] for m in api.all_pages("/groups/g-sec/members")}
    assert api.get(f"/users/{uid(2)}/manager").status == 404
    listed = api.get("/directory/deletedItems/microsoft.graph.user").body["value"]
    assert [u["id"] for u in listed] == [uid(2)] and listed[0]["deletedDateTime"]
    assert api.get(f"/directory/deletedItems/{uid(2)}").body["userPrincipalName"] == f"user2@{CUSTOM}"
    restored = api.ok("POST", f"/directory/deletedItems/{uid(2)}/restore")
    assert restored["id"] == uid(2)
    after = tenant.dump()
    for key in ("objects", "members", "owners", "manager", "deleted"):
        assert after[key] == original[key], key


def test_restore_refused_when_upn_taken(api: Api) -> None:
    api.ok("DELETE", f"/users/{uid(4)}")
    api.ok("POST", "/users", new_user_body("user4"))
    conflict = api.call("POST", f"/directory/deletedItems/{uid(4)}/restore")
    assert conflict.status in (400, 409) and "user4@" in conflict.body["error"]["message"]
    assert api.get(f"/directory/deletedItems/{uid(4)}").status == 200  # still restorable later


def test_purge_is_final_and_cleans_references(api: Api, tenant: Tenant) -> None:
    api.ok("DELETE", f"/users/{uid(1)}")
    api.ok("DELETE", f"/directory/deletedItems/{uid(1)}")
    assert api.get(f"/directory/deletedItems/{uid(1)}").status == 404
    assert api.call("POST", f"/directory/deletedItems/{uid(1)}/restore").status == 404
    assert api.get("/servicePrincipals/sp-1/appRoleAssignedTo").body["value"] == []
    assert api.get(f"/users/{uid(2)}/manager").status == 404  # uid(1) managed uid(2)
    api.ok("DELETE", f"/users/{uid(2)}")
    api.ok("DELETE", f"/directory/deletedItems/{uid(2)}")
    assert "grant-1" not in {g["id"] for g in api.get("/oauth2PermissionGrants").body["value"]}
    assert uid(1) not in tenant.dump()["deleted"]


def test_administrative_units_cannot_be_purged(api: Api) -> None:
    api.ok("DELETE", "/directory/administrativeUnits/au-1")
    assert api.call("DELETE", "/directory/deletedItems/au-1").status == 400
    api.ok("POST", "/directory/deletedItems/au-1/restore")
    assert {m["id"] for m in api.get("/directory/administrativeUnits/au-1/members").body["value"]} == {
        uid(1),
        "g-sec",
    }


def test_restoring_an_application_leaves_its_service_principal_deleted(api: Api) -> None:
    api.ok("DELETE", "/applications/app-1")
    deleted_sps = {
        s["id"] for s in api.get("/directory/deletedItems/microsoft.graph.servicePrincipal").body["value"]
    }
    assert "sp-1" in deleted_sps
    api.ok("POST", "/directory/deletedItems/app-1/restore")
    assert api.get("/applications/app-1").status == 200
    assert api.get("/servicePrincipals/sp-1").status == 404
    api.ok("POST", "/directory/deletedItems/sp-1/restore")
    assert api.get("/servicePrincipals/sp-1/owners").body["value"][0]["id"] == uid(6)


def test_conditional_access_soft_delete_is_beta_only(api: Api) -> None:
    api.ok("PATCH", "/identity/conditionalAccess/policies/ca-1", {"state": "disabled"})
    api.ok("DELETE", "/identity/conditionalAccess/policies/ca-1")
    assert api.get("/identity/conditionalAccess/policies/ca-1").status == 404
    assert api.get("/identity/conditionalAccess/deletedItems/policies").status == 400  # v1.0
    listed = api.get("/identity/conditionalAccess/deletedItems/policies", version="beta").body["value"]
    assert [p["id"] for p in listed] == ["ca-1"]
    restored = api.ok(
        "POST", "/identity/conditionalAccess/deletedItems/policies/ca-1/restore", version="beta"
    )
    assert restored["state"] == "disabled"
    assert api.get("/identity/conditionalAccess/policies/ca-1").body["state"] == "disabled"


def test_named_locations_trusted_and_restore_untrusted(api: Api) -> None:
    assert api.call("DELETE", "/identity/conditionalAccess/namedLocations/loc-ip").status == 400
    api.ok("DELETE", "/identity/conditionalAccess/namedLocations/loc-ip2")
    beta = "/identity/conditionalAccess/deletedItems/namedLocations"
    assert api.get(f"{beta}/loc-ip2", version="beta").status == 200
    api.ok("PATCH", "/identity/conditionalAccess/namedLocations/loc-ip", {"isTrusted": False})
    api.ok("DELETE", "/identity/conditionalAccess/namedLocations/loc-ip")
    api.ok("POST", f"{beta}/loc-ip/restore", version="beta")
    assert api.get("/identity/conditionalAccess/namedLocations/loc-ip").body["isTrusted"] is False
    api.ok("DELETE", f"{beta}/loc-ip2", version="beta")
    assert api.get(f"{beta}/loc-ip2", version="beta").status == 404


@pytest.mark.parametrize(
    ("path", "in_deleted"),
    [
        ("/oauth2PermissionGrants/grant-2", False),
        ("/roleManagement/directory/roleAssignments/ra-1", False),
        ("/policies/authenticationStrengthPolicies/as-custom", False),
        ("/policies/crossTenantAccessPolicy/partners/99999999-0000-0000-0000-000000000001", False),
        ("/domains/contoso.com", None),
    ],
)
def test_hard_deleted_types(api: Api, path: str, in_deleted: bool | None) -> None:
    response = api.call("DELETE", path)
    if in_deleted is None:  # the default domain is protected
        assert response.status == 400
        return
    assert response.status == 204
    assert api.get(path).status == 404
    assert api.get(f"/directory/deletedItems/{path.rsplit('/', 1)[1]}").status == 404


# ----- relationships


def test_ref_add_remove_and_duplicate(api: Api) -> None:
    assert api.call("POST", "/groups/g-sec/members/$ref", ref(uid(15))).status == 204
    duplicate = api.call("POST", "/groups/g-sec/members/$ref", ref(uid(15)))
    assert duplicate.status == 400 and "already exist" in duplicate.body["error"]["message"]
    missing = api.call("POST", "/groups/g-sec/members/$ref", ref("nope"))
    assert missing.status == 400 and "does not exist" in missing.body["error"]["message"]
    assert uid(15) in {m["id"] for m in api.all_pages("/groups/g-sec/members")}
    assert "g-sec" in {g["id"] for g in api.get(f"/users/{uid(15)}/memberOf").body["value"]}
    assert api.call("DELETE", f"/groups/g-sec/members/{uid(15)}/$ref").status == 204
    assert api.call("DELETE", f"/groups/g-sec/members/{uid(15)}/$ref").status == 404
    api.ok(
        "POST", "/groups/g-sec/owners/$ref", {"@odata.id": f"https://graph.microsoft.us/beta/users/{uid(7)}"}
    )
    assert {o["id"] for o in api.get("/groups/g-sec/owners").body["value"]} == {uid(5), uid(7)}
    api.ok("POST", "/applications/app-1/owners/$ref", ref(uid(8)))
    api.ok("POST", "/directory/administrativeUnits/au-1/members/$ref", ref(uid(9)))
    assert api.call("POST", "/groups/g-synced/members/$ref", ref(uid(9))).status == 400
    assert api.call("POST", "/groups/g-dyn/members/$ref", ref(uid(9))).status == 400


def test_group_create_binds_members_and_owners(api: Api) -> None:
    body = {
        "displayName": "Project",
        "mailEnabled": False,
        "mailNickname": "project",
        "securityEnabled": True,
        "members@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{uid(n)}" for n in (1, 2)],
        "owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{uid(3)}"],
    }
    group = api.ok("POST", "/groups", body)
    assert {m["id"] for m in api.get(f"/groups/{group['id']}/members").body["value"]} == {uid(1), uid(2)}
    assert [o["id"] for o in api.get(f"/groups/{group['id']}/owners").body["value"]] == [uid(3)]
    too_many = dict(
        body,
        mailNickname="big",
        **{"members@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{uid(n)}" for n in range(1, 22)]},
    )
    assert api.call("POST", "/groups", too_many).status == 400


def test_manager_endpoints(api: Api) -> None:
    assert api.get(f"/users/{uid(2)}/manager").body["id"] == uid(1)
    api.ok("PUT", f"/users/{uid(2)}/manager/$ref", ref(uid(9)))
    assert api.get(f"/users/{uid(2)}/manager").body["id"] == uid(9)
    assert {r["id"] for r in api.get(f"/users/{uid(9)}/directReports").body["value"]} == {uid(2)}
    api.ok("DELETE", f"/users/{uid(2)}/manager/$ref")
    assert api.get(f"/users/{uid(2)}/manager").status == 404
    assert api.call("DELETE", f"/users/{uid(2)}/manager/$ref").status == 404
    assert api.call("PUT", f"/users/{uid(2)}/manager/$ref", ref(uid(2))).status == 400


def test_membership_checks(api: Api) -> None:
    checked = api.ok(
        "POST", f"/users/{uid(20)}/checkMemberGroups", {"groupIds": ["g-sec", "g-m365", "g-nested"]}
    )
    assert checked["value"] == ["g-sec", "g-nested"]
    assert api.call("POST", f"/users/{uid(20)}/checkMemberGroups", {"groupIds": ["x"] * 21}).status == 400
    found = api.ok(
        "POST", "/directoryObjects/getByIds", {"ids": [uid(1), "g-sec", "nope"], "types": ["user"]}
    )
    assert [o["id"] for o in found["value"]] == [uid(1)]
    transitive = {g["id"] for g in api.get(f"/users/{uid(20)}/transitiveMemberOf").body["value"]}
    assert {"g-nested", "g-sec", "au-1"} <= transitive


def test_app_role_assignments(api: Api) -> None:
    body = {"principalId": uid(3), "resourceId": "sp-1", "appRoleId": "r-1"}
    created = api.ok("POST", "/servicePrincipals/sp-1/appRoleAssignedTo", body)
    assert created["principalType"] == "User" and created["resourceDisplayName"] == "Payroll"
    assert api.call("POST", "/servicePrincipals/sp-1/appRoleAssignedTo", body).status == 400
    bad_role = dict(body, principalId=uid(4), appRoleId="not-a-role")
    assert api.call("POST", "/servicePrincipals/sp-1/appRoleAssignedTo", bad_role).status == 400
    assert created["id"] in {a["id"] for a in api.get(f"/users/{uid(3)}/appRoleAssignments").body["value"]}
    app_permission = {"principalId": "sp-1", "resourceId": "sp-graph", "appRoleId": ROLE_ID}
    api.ok("POST", "/servicePrincipals/sp-1/appRoleAssignments", app_permission)
    api.ok("DELETE", f"/servicePrincipals/sp-1/appRoleAssignedTo/{created['id']}")
    assert api.get(f"/users/{uid(3)}/appRoleAssignments").body["value"] == []


def test_role_assignments_and_pim(api: Api) -> None:
    body = {"principalId": uid(3), "roleDefinitionId": GLOBAL_ADMIN, "directoryScopeId": "/"}
    created = api.ok("POST", "/roleManagement/directory/roleAssignments", body)
    assert api.call("POST", "/roleManagement/directory/roleAssignments", body).status == 409
    group_body = dict(body, principalId="g-sec")
    assert api.call("POST", "/roleManagement/directory/roleAssignments", group_body).status == 400
    api.ok("POST", "/roleManagement/directory/roleAssignments", dict(body, principalId="g-role"))
    api.ok("DELETE", f"/roleManagement/directory/roleAssignments/{created['id']}")
    request = {
        "action": "adminAssign",
        "principalId": uid(4),
        "roleDefinitionId": GLOBAL_ADMIN,
        "directoryScopeId": "/",
        "justification": "on call",
        "scheduleInfo": {"startDateTime": "2026-01-01T00:00:00Z", "expiration": {"type": "noExpiration"}},
    }
    assigned = api.ok("POST", "/roleManagement/directory/roleEligibilityScheduleRequests", request)
    schedules = api.get("/roleManagement/directory/roleEligibilitySchedules").body["value"]
    assert [s["id"] for s in schedules] == [assigned["targetScheduleId"]]
    api.ok(
        "POST",
        "/roleManagement/directory/roleEligibilityScheduleRequests",
        dict(request, action="adminRemove"),
    )
    assert api.get("/roleManagement/directory/roleEligibilitySchedules").body["value"] == []


# ----- writes and validation


@pytest.mark.parametrize(
    "missing", ["accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"]
)
def test_user_post_requires_properties(api: Api, missing: str) -> None:
    body = new_user_body("newbie")
    del body[missing]
    response = api.call("POST", "/users", body)
    assert response.status == 400 and missing in response.body["error"]["message"]


def test_user_post_upn_rules(api: Api) -> None:
    assert api.call("POST", "/users", new_user_body("x", userPrincipalName="x@elsewhere.org")).status == 400
    assert api.call("POST", "/users", new_user_body("x", userPrincipalName=f"USER1@{CUSTOM}")).status == 400
    created = api.ok("POST", "/users", new_user_body("fresh", userPrincipalName=f"fresh@{DOMAIN}"))
    stored = api.get(f"/users/{created['id']}", {"$select": "passwordProfile,userType"}).body
    assert stored["passwordProfile"] is None and stored["userType"] == "Member"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", new_user_body("ro", id="fixed-id")),
        ("POST", "/users", new_user_body("ro", createdDateTime="2020-01-01T00:00:00Z")),
        ("PATCH", f"/users/{uid(1)}", {"onPremisesSyncEnabled": True}),
        ("PATCH", f"/users/{uid(1)}", {"securityIdentifier": "S-1"}),
        ("PATCH", "/groups/g-sec", {"mail": "x@contoso.com"}),
        ("PATCH", "/groups/g-sec", {"renewedDateTime": "2020-01-01T00:00:00Z"}),
        ("PATCH", "/groups/g-sec", {"isAssignableToRole": True}),
        ("PATCH", "/applications/app-1", {"appId": "new"}),
        ("PATCH", "/applications/app-1", {"publisherDomain": "x.com"}),
        ("PATCH", "/applications/app-1", {"passwordCredentials": [{"displayName": "x"}]}),
        ("PATCH", "/applications/app-1", {"deletedDateTime": None}),
        ("PATCH", f"/users/{uid(901)}", {"displayName": "Renamed"}),
        ("PATCH", "/groups/g-synced", {"description": "cloud edit"}),
        ("PATCH", f"/users/{uid(1)}", {"shoeSize": 44}),
    ],
)
def test_read_only_and_synced_properties_refused(
    api: Api, method: str, path: str, body: dict[str, Any]
) -> None:
    response = api.call(method, path, body)
    assert response.status == 400, response.body


def test_synced_user_cloud_properties_writable(api: Api) -> None:
    api.ok("PATCH", f"/users/{uid(901)}", {"usageLocation": "NL"})
    assert api.get(f"/users/{uid(901)}", {"$select": "usageLocation"}).body["usageLocation"] == "NL"


def test_group_creation_rules(api: Api) -> None:
    base = {"displayName": "G", "mailEnabled": False, "mailNickname": "g1", "securityEnabled": True}
    for prop in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        response = api.call("POST", "/groups", {k: v for k, v in base.items() if k != prop})
        assert response.status == 400 and prop in response.body["error"]["message"]
    assert (
        api.call("POST", "/groups", dict(base, isAssignableToRole=True, securityEnabled=False)).status == 400
    )
    dynamic = dict(base, isAssignableToRole=True, groupTypes=["DynamicMembership"], membershipRule="x")
    assert api.call("POST", "/groups", dynamic).status == 400
    assert api.call("POST", "/groups", dict(base, mailEnabled=True)).status == 400  # mail-enabled security
    role_group = api.ok("POST", "/groups", dict(base, isAssignableToRole=True))
    assert role_group["isAssignableToRole"] is True
    team = api.ok(
        "POST", "/groups", dict(base, mailNickname="team2", groupTypes=["Unified"], mailEnabled=True)
    )
    assert team["mail"] == f"team2@{CUSTOM}"
    clash = dict(base, mailNickname="team", groupTypes=["Unified"], mailEnabled=True)
    assert api.call("POST", "/groups", clash).status == 400  # g-m365 owns team@


def test_conditional_access_references_are_checked(api: Api) -> None:
    policy: dict[str, Any] = {
        "displayName": "Block",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeGroups": ["missing-group"]},
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    response = api.call("POST", "/identity/conditionalAccess/policies", policy)
    assert response.status == 400 and "missing-group" in response.body["error"]["message"]
    policy["conditions"]["users"]["excludeGroups"] = ["g-sec"]
    policy["conditions"]["locations"] = {"includeLocations": ["AllTrusted"], "excludeLocations": ["loc-cc"]}
    created = api.ok("POST", "/identity/conditionalAccess/policies", policy)
    assert created["createdDateTime"] and created["state"] == "enabledForReportingButNotEnforced"
    bad_location = {"conditions": {**policy["conditions"], "locations": {"includeLocations": ["nowhere"]}}}
    assert (
        api.call("PATCH", f"/identity/conditionalAccess/policies/{created['id']}", bad_location).status == 400
    )
    assert api.call("POST", "/identity/conditionalAccess/policies", dict(policy, state="on")).status == 400


def test_hard_deleted_group_stays_referenced_by_ca_policy(api: Api) -> None:
    api.ok("DELETE", "/groups/g-dist")  # distribution groups are deleted for good
    policy = api.get("/identity/conditionalAccess/policies/ca-1").body
    assert "g-dist" in policy["conditions"]["users"]["excludeGroups"]
    api.ok("PATCH", "/identity/conditionalAccess/policies/ca-1", {"displayName": "Require MFA v2"})
    api.ok("DELETE", "/groups/g-sec")
    api.ok("DELETE", "/directory/deletedItems/g-sec")
    policy = api.get("/identity/conditionalAccess/policies/ca-1").body
    assert policy["conditions"]["users"]["excludeGroups"] == ["g-dist", "g-sec"]


def test_authentication_strength_rules(api: Api) -> None:
    base = "/policies/authenticationStrengthPolicies"
    builtin = f"{base}/00000000-0000-0000-0000-000000000002"
    assert api.call("PATCH", builtin, {"displayName": "x"}).status == 400
    assert api.call("DELETE", builtin).status == 400
    assert api.call("PATCH", f"{base}/as-custom", {"allowedCombinations": ["sms"]}).status == 400
    result = api.ok("POST", f"{base}/as-custom/updateAllowedCombinations", {"allowedCombinations": ["sms"]})
    assert result["previousCombinations"] == ["fido2"] and result["currentCombinations"] == ["sms"]
    assert api.get(f"{base}/as-custom").body["allowedCombinations"] == ["sms"]
    created = api.ok("POST", base, {"displayName": "Keys", "allowedCombinations": ["fido2"]})
    assert created["policyType"] == "custom"


def test_add_password_returns_secret_once(api: Api, tenant: Tenant) -> None:
    credential = api.ok(
        "POST", "/applications/app-1/addPassword", {"passwordCredential": {"displayName": "ci"}}
    )
    secret = credential["secretText"]
    assert secret and len(secret) >= 16 and credential["hint"] == secret[:3]
    app = api.get("/applications/app-1").body
    stored = {c["keyId"]: c for c in app["passwordCredentials"]}
    assert stored[credential["keyId"]]["secretText"] is None
    assert stored[credential["keyId"]]["hint"] == secret[:3]
    assert secret not in json.dumps(tenant.dump())
    assert secret not in json.dumps(api.get("/auditLogs/directoryAudits").body)
    api.ok("POST", "/applications/app-1/removePassword", {"keyId": credential["keyId"]})
    assert credential["keyId"] not in {
        c["keyId"] for c in api.get("/applications/app-1").body["passwordCredentials"]
    }
    assert api.call("POST", "/applications/app-1/removePassword", {"keyId": "nope"}).status == 400


def test_singletons(api: Api) -> None:
    assert api.get("/policies/authorizationPolicy").body["blockMsolPowerShell"] is False
    api.ok("PATCH", "/policies/authorizationPolicy", {"blockMsolPowerShell": True})
    assert api.get("/policies/authorizationPolicy").body["blockMsolPowerShell"] is True
    assert api.call("PATCH", "/policies/authorizationPolicy", {"id": "x"}).status == 400
    config = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2"
    api.ok(
        "PATCH",
        config,
        {"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "state": "enabled"},
    )
    assert api.get(config).body["state"] == "enabled"
    policy = api.get("/policies/authenticationMethodsPolicy").body
    assert policy["authenticationMethodConfigurations"][0]["state"] == "enabled"
    api.ok("PATCH", "/policies/crossTenantAccessPolicy/default", {"inboundTrust": {"isMfaAccepted": True}})
    assert api.get("/policies/crossTenantAccessPolicy/default").body["inboundTrust"] == {
        "isMfaAccepted": True
    }
    partner = api.ok(
        "POST",
        "/policies/crossTenantAccessPolicy/partners",
        {"tenantId": "99999999-0000-0000-0000-000000000002"},
    )
    assert partner["tenantId"] == "99999999-0000-0000-0000-000000000002"
    assert (
        api.call(
            "POST",
            "/policies/crossTenantAccessPolicy/partners",
            {"tenantId": "99999999-0000-0000-0000-000000000002"},
        ).status
        == 409
    )


# ----- replication lag


def test_replication_lag_hides_new_objects(api: Api, tenant: Tenant, clock: Clock) -> None:
    tenant.options.replication_lag_s = 5
    user = api.ok("POST", "/users", new_user_body("slowpoke"))
    assert api.get(f"/users/{user['id']}").status == 404
    added = api.call("POST", "/groups/g-sec/members/$ref", ref(user["id"]))
    assert added.status == 400 and "does not exist" in added.body["error"]["message"]
    assert user["id"] in {u["id"] for u in api.all_pages("/users")}  # lists aren't lagged
    clock.now += 5
    assert api.get(f"/users/{user['id']}").status == 200
    assert api.call("POST", "/groups/g-sec/members/$ref", ref(user["id"])).status == 204


# ----- audit


def test_audit_records_for_app_and_user_callers(api: Api, clock: Clock) -> None:
    api.ok("PATCH", f"/users/{uid(1)}", {"jobTitle": "Director"})
    clock.now += 1
    api.ok("POST", "/groups/g-sec/members/$ref", ref(uid(12)), caller=PERSON)
    clock.now += 1
    api.ok("DELETE", f"/users/{uid(12)}")
    clock.now += 1
    api.ok("POST", f"/directory/deletedItems/{uid(12)}/restore")
    clock.now += 1
    api.ok("PATCH", "/identity/conditionalAccess/policies/ca-1", {"state": "disabled"}, caller=PERSON)
    records = api.get("/auditLogs/directoryAudits", {"$top": "5"}).body["value"]
    names = [r["activityDisplayName"] for r in records]
    assert names == [
        "Update conditional access policy",
        "Restore user",
        "Delete user",
        "Add member to group",
        "Update user",
    ]
    update = records[4]
    assert update["initiatedBy"] == {
        "user": None,
        "app": {
            "appId": APP.app_id,
            "displayName": "Rewind",
            "servicePrincipalId": "sp-rw",
            "servicePrincipalName": "Rewind",
        },
    }
    assert update["category"] == "UserManagement" and update["operationType"] == "Update"
    assert update["activityDateTime"].endswith("Z") and update["loggedByService"] == "Core Directory"
    target = update["targetResources"][0]
    assert target["id"] == uid(1) and target["userPrincipalName"] == f"user1@{CUSTOM}"
    assert target["modifiedProperties"] == [
        {"displayName": "jobTitle", "oldValue": '["Engineer"]', "newValue": '["Director"]'}
    ]
    member = records[3]
    assert member["initiatedBy"]["app"] is None
    assert member["initiatedBy"]["user"]["userPrincipalName"] == f"admin@{CUSTOM}"
    assert {t["id"] for t in member["targetResources"]} == {uid(12), "g-sec"}
    assert records[0]["loggedByService"] == "Conditional Access" and records[0]["category"] == "Policy"
    assert records[0]["initiatedBy"]["user"]["id"] == "u-admin"


# ----- dump and tenant API


def test_dump_is_complete_and_detached(api: Api, tenant: Tenant) -> None:
    api.ok("DELETE", "/groups/g-m365")
    dump = tenant.dump()
    json.dumps(dump)
    assert set(dump["objects"]) >= {
        "users",
        "groups",
        "applications",
        "servicePrincipals",
        "oauth2PermissionGrants",
        "appRoleAssignments",
        "roleDefinitions",
        "roleAssignments",
        "namedLocations",
        "conditionalAccessPolicies",
        "authenticationStrengthPolicies",
        "domains",
        "organization",
        "crossTenantAccessPartners",
        "administrativeUnits",
    }
    user = dump["objects"]["users"][uid(1)]
    assert user["department"] == "R&D" and user["accountEnabled"] is True  # no projection
    assert dump["members"]["g-sec"][:2] == [uid(1), uid(2)] or uid(1) in dump["members"]["g-sec"]
    assert dump["owners"]["app-1"] == [uid(6)]
    assert dump["manager"][uid(2)] == uid(1)
    assert dump["deleted"]["g-m365"]["type"] == "groups"
    assert dump["deleted"]["g-m365"]["object"]["deletedDateTime"]
    assert "authorizationPolicy" in dump["singletons"]
    dump["objects"]["users"][uid(1)]["displayName"] = "mutated"
    assert tenant.dump()["objects"]["users"][uid(1)]["displayName"] == "User 001"
    assert tenant.dump() == tenant.dump()


def test_tenant_helpers(tenant: Tenant, api: Api) -> None:
    assert tenant.user_count() == 33
    api.ok("DELETE", f"/users/{uid(1)}")
    assert tenant.user_count() == 32
    assert tenant.resolves_domain("CONTOSO.com") and tenant.resolves_domain(DOMAIN)
    assert not tenant.resolves_domain("fabrikam.com")
    sp_id = tenant.ensure_service_principal("b0000000-0000-0000-0000-000000000009", "Backup tool")
    assert tenant.ensure_service_principal("b0000000-0000-0000-0000-000000000009", "Backup tool") == sp_id
    assert api.get(f"/servicePrincipals/{sp_id}").body["appId"] == "b0000000-0000-0000-0000-000000000009"
    assert tenant.ensure_service_principal(GRAPH_APP_ID, "Microsoft Graph") == "sp-graph"


def test_seed_is_not_shared_between_tenants() -> None:
    seed = make_seed(3)
    first, second = Tenant.from_seed(seed), Tenant.from_seed(seed)
    Api(first).ok("PATCH", f"/users/{uid(1)}", {"displayName": "Only here"})
    assert Api(second).get(f"/users/{uid(1)}").body["displayName"] == "User 001"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/", None, 400),
        ("GET", "/nothing/here", None, 400),
        ("GET", "/users/not-a-user", None, 404),
        ("PUT", "/users", None, 405),
        ("POST", "/users", "not json", 400),
        ("POST", "/users", ["list"], 400),
        ("PATCH", f"/users/{uid(1)}", None, 400),
        ("GET", f"/users/{uid(1)}/nonsense", None, 400),
        ("POST", "/groups/g-sec/members/$ref", {"@odata.id": 7}, 400),
        ("GET", "/users", {"$filter": "((("}, 400),
        ("GET", "/users", {"$bogus": "1"}, 400),
        ("DELETE", "/organization/t-0001", None, 405),
        ("POST", "/directoryObjects/getByIds", {"ids": "x"}, 400),
    ],
)
def test_bad_input_never_raises(api: Api, method: str, path: str, body: Any, status: int) -> None:
    query = body if method == "GET" and isinstance(body, dict) else None
    response = api.call(method, path, None if query else body, query=query)
    assert response.status == status, response.body
    assert set(response.body["error"]) == {"code", "message", "innerError"}


def test_unknown_version(api: Api) -> None:
    assert api.call("GET", "/users", version="v2.0").status == 400


# ----- smaller surfaces


def test_alternate_keys_expand_and_search(api: Api) -> None:
    app_id = "a0000000-0000-0000-0000-000000000001"
    assert api.get(f"/servicePrincipals(appId='{app_id}')").body["id"] == "sp-1"
    assert api.get(f"/applications(appId='{app_id}')/owners").body["value"][0]["id"] == uid(6)
    assert api.get("/applications(appId='missing')").status == 404
    expanded = api.get(f"/users/{uid(2)}", {"$expand": "manager($select=id,displayName)"}).body
    assert expanded["manager"] == {
        "@odata.type": "#microsoft.graph.user",
        "id": uid(1),
        "displayName": "User 001",
    }
    members = api.get("/groups/g-sec", {"$expand": "members"}).body["members"]
    assert len(members) == 11
    principal = api.get("/roleManagement/directory/roleAssignments/ra-1", {"$expand": "principal"}).body
    assert principal["principal"]["id"] == "u-admin"
    assert api.get("/users", {"$expand": "nothing"}).status == 400
    assert api.get("/users", {"$search": '"displayName:User 02"'}).status == 400
    found = api.all_pages(
        "/users", {"$search": '"displayName:User 02"'}, headers={"consistencylevel": "eventual"}
    )
    assert {u["id"] for u in found} == {uid(n) for n in range(20, 30)}


def test_licences_and_scoped_role_members(api: Api) -> None:
    sku = "c7df2760-2c81-4ef7-b578-5b5392b571df"
    api.ok("POST", f"/users/{uid(1)}/assignLicense", {"addLicenses": [{"skuId": sku}], "removeLicenses": []})
    licences = api.get(f"/users/{uid(1)}", {"$select": "assignedLicenses"}).body["assignedLicenses"]
    assert licences == [{"disabledPlans": [], "skuId": sku}]
    assert api.call("PATCH", f"/users/{uid(1)}", {"assignedLicenses": []}).status == 400
    member = api.ok(
        "POST",
        "/directory/administrativeUnits/au-1/scopedRoleMembers",
        {"roleId": "fe930be7-5e62-47db-91af-98c3a49a38b1", "roleMemberInfo": {"id": uid(2)}},
    )
    listed = api.get("/directory/administrativeUnits/au-1/scopedRoleMembers").body["value"]
    assert [m["id"] for m in listed] == [member["id"]] and listed[0]["roleMemberInfo"]["id"] == uid(2)
    api.ok("DELETE", f"/directory/administrativeUnits/au-1/scopedRoleMembers/{member['id']}")
    assert api.get("/directory/administrativeUnits/au-1/scopedRoleMembers").body["value"] == []


def test_deleted_items_count_and_order(api: Api, clock: Clock) -> None:
    for n in (3, 1, 2):
        api.ok("DELETE", f"/users/{uid(n)}")
        clock.now += 60
    eventual = {"consistencylevel": "eventual"}
    assert api.get("/directory/deletedItems/microsoft.graph.user/$count", headers=eventual).body == 3
    query = {"$orderby": "deletedDateTime desc", "$count": "true"}
    assert api.get("/directory/deletedItems/microsoft.graph.user", query).status == 400
    newest_first = api.get("/directory/deletedItems/microsoft.graph.user", query, headers=eventual).body
    assert [u["id"] for u in newest_first["value"]] == [uid(2), uid(1), uid(3)]
    assert newest_first["@odata.count"] == 3


def test_deleted_items_expire_after_thirty_days(api: Api, clock: Clock) -> None:
    api.ok("DELETE", f"/users/{uid(7)}")
    clock.now += 29 * 86400
    assert api.get(f"/directory/deletedItems/{uid(7)}").status == 200
    clock.now += 2 * 86400
    assert api.get(f"/directory/deletedItems/{uid(7)}").status == 404


@pytest.mark.parametrize("direction", ["", " desc"])
def test_orderby_display_name_pages(api: Api, direction: str) -> None:
    items = api.all_pages("/users", {"$orderby": f"displayName{direction}", "$top": "4"})
    names = [u["displayName"].lower() for u in items]
    assert len(items) == 33 and len({u["id"] for u in items}) == 33
    assert names == sorted(names, reverse=bool(direction))
    members = api.all_pages("/groups/g-sec/members", {"$orderby": "displayName", "$top": "4"})
    assert len({m["id"] for m in members}) == 11
    assert api.get("/users", {"$orderby": "jobTitle"}).status == 400
