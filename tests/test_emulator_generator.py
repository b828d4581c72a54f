"""The tenant generator: determinism, proportions, referential integrity and Graph shapes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.generator import (
    BREAK_GLASS_UPN_PREFIX,
    BUILTIN_ROLES,
    DEFAULT_NOW,
    PRIVILEGED_ROLE_TEMPLATE_IDS,
    generate_tenant,
)
from emulator.protocol import TenantSeed

ROOT = Path(__file__).resolve().parent.parent
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# Collections whose ids Graph does not make GUIDs.
NON_GUID_IDS = {
    "domains",
    "oauth2PermissionGrants",
    "appRoleAssignments",
    "roleAssignments",
    "directoryAudits",
}
# Timestamps that legitimately lie in the future: credential and PIM expiry.
FUTURE_FIELDS = {"endDateTime"}
CA_APP_KEYWORDS = {"All", "None", "Office365", "MicrosoftAdminPortals"}
CA_LOCATION_KEYWORDS = {"All", "AllTrusted"}
CA_USER_KEYWORDS = {"All", "None", "GuestsOrExternalUsers"}


def canonical(seed: TenantSeed) -> bytes:
    return json.dumps(dataclasses.asdict(seed), separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def small() -> TenantSeed:
    return generate_tenant(users=20, seed=3)


@pytest.fixture(scope="module")
def medium() -> TenantSeed:
    return generate_tenant(users=1_000, seed=7)


@pytest.fixture(params=["small", "medium"])
def tenant(request: pytest.FixtureRequest) -> TenantSeed:
    seed: TenantSeed = request.getfixturevalue(request.param)
    return seed


def ids_of(seed: TenantSeed, collection: str) -> set[str]:
    return {o["id"] for o in seed.collections[collection]}


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)
    else:
        yield key, value


# Determinism


def test_same_arguments_give_identical_bytes() -> None:
    assert canonical(generate_tenant(users=150, seed=5)) == canonical(generate_tenant(users=150, seed=5))


def test_different_seed_or_tenant_id_gives_different_output() -> None:
    base = canonical(generate_tenant(users=150, seed=5))
    assert canonical(generate_tenant(users=150, seed=6)) != base
    assert canonical(generate_tenant("11111111-2222-4333-8444-555555555555", users=150, seed=5)) != base


def test_output_does_not_depend_on_string_hashing() -> None:
    # Set iteration order changes with PYTHONHASHSEED; generated output must not.
    code = (
        "import dataclasses, hashlib, json; from emulator.generator import generate_tenant; "
        "s = generate_tenant(users=60, seed=2); "
        "print(hashlib.sha256(json.dumps(dataclasses.asdict(s)).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    expected = hashlib.sha256(json.dumps(dataclasses.asdict(generate_tenant(users=60, seed=2))).encode())
    assert digests == {expected.hexdigest()}


def test_tenant_id_domain_and_now_are_honoured() -> None:
    now = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    seed = generate_tenant(
        "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", users=20, domain="acme.onmicrosoft.com", now=now
    )
    assert seed.tenant_id == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    assert seed.collections["organization"][0]["id"] == seed.tenant_id
    assert seed.default_domain == "acme.onmicrosoft.com"
    domains = {d["id"]: d for d in seed.collections["domains"]}
    assert domains["acme.onmicrosoft.com"]["isInitial"] and not domains["acme.onmicrosoft.com"]["isDefault"]
    assert domains["acme.com"]["isDefault"]
    assert max(u["createdDateTime"] for u in seed.collections["users"]) <= "2030-01-15T12:00:00Z"
    assert max(s["createdDateTime"] for s in seed.collections["signIns"]) > "2029-12-01T00:00:00Z"


def test_defaults_derive_id_and_domain_from_the_seed() -> None:
    a, b = generate_tenant(users=20, seed=1), generate_tenant(users=20, seed=2)
    assert GUID.match(a.tenant_id) and a.tenant_id != b.tenant_id
    assert re.fullmatch(r"[a-z]+-1\.onmicrosoft\.com", a.default_domain)
    assert a.default_domain != b.default_domain


def test_too_few_users_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_tenant(users=5)


# Proportions


def test_medium_tenant_proportions(medium: TenantSeed) -> None:
    c = medium.collections
    users = c["users"]
    assert len(users) == 1_000
    assert len(c["groups"]) == 100
    user_ids = ids_of(medium, "users")
    group_ids = ids_of(medium, "groups")
    memberships = sum(1 for g in group_ids for m in medium.members[g] if m in user_ids)
    assert 7 <= memberships / len(users) <= 13
    share = Counter[str]()
    for u in users:
        share["guest"] += u["userType"] == "Guest"
        share["synced"] += bool(u["onPremisesSyncEnabled"])
        share["disabled"] += not u["accountEnabled"]
    assert 40 <= share["guest"] <= 60
    assert 150 <= share["synced"] <= 250
    assert 10 <= share["disabled"] <= 50
    assert len(c["applications"]) == 10
    assert len(c["servicePrincipals"]) == 10 + 2 + 2  # own apps, Graph and Exchange, managed identities
    assert 45 <= len(c["appRoleAssignments"]) <= 60
    assert len(c["administrativeUnits"]) == 2
    assert len(c["signIns"]) == 2_000
    assert 150 <= len(c["directoryAudits"]) <= 800
    assert 8 <= len(c["conditionalAccessPolicies"]) <= 15
    assert 3 <= len(c["namedLocations"]) <= 8


def test_membership_sizes_are_skewed(medium: TenantSeed) -> None:
    sizes = sorted(len(medium.members.get(g["id"], [])) for g in medium.collections["groups"])
    all_staff = next(g for g in medium.collections["groups"] if g["displayName"] == "All Staff")
    members = [u for u in medium.collections["users"] if u["userType"] == "Member"]
    assert sorted(medium.members[all_staff["id"]]) == sorted(u["id"] for u in members)
    assert sizes[-1] >= 10 * statistics.median(sizes)


def test_small_tenant_has_the_minimums(small: TenantSeed) -> None:
    c = small.collections
    assert len(c["users"]) == 20
    assert len(c["groups"]) >= 8
    assert len(c["applications"]) >= 3
    assert len(c["appRoleAssignments"]) >= 5
    assert len(c["roleAssignments"]) >= 5
    assert len(c["administrativeUnits"]) >= 2
    assert len(c["signIns"]) == 40


def test_hundred_user_tenant() -> None:
    seed = generate_tenant(users=100, seed=11)
    assert len(seed.collections["users"]) == 100
    assert len(seed.collections["signIns"]) == 200


# Identity and uniqueness


def test_ids_are_guids_and_unique(tenant: TenantSeed) -> None:
    seen: set[str] = set()
    for name, objects in tenant.collections.items():
        # Partners are keyed by tenantId and have no id.
        ids: list[str] = [o["tenantId"] if name == "crossTenantAccessPartners" else o["id"] for o in objects]
        assert len(ids) == len(set(ids)), name
        if name not in NON_GUID_IDS:
            assert all(GUID.match(i) for i in ids), name
        if name not in {"roleDefinitions", "organization"}:
            # Role definitions and the organization reuse well-known ids; everything else is distinct.
            assert not seen & set(ids), name
            seen |= set(ids)


def test_upns_mail_nicknames_and_domains_are_valid(tenant: TenantSeed) -> None:
    users = tenant.collections["users"]
    upns = [u["userPrincipalName"].lower() for u in users]
    assert len(upns) == len(set(upns))
    domains = {d["id"] for d in tenant.collections["domains"]}
    assert all(upn.rsplit("@", 1)[1] in domains for upn in upns)
    for u in users:
        if u["userType"] == "Guest":
            assert re.fullmatch(
                r"[a-z0-9.]+_[a-z0-9.]+#EXT#@" + re.escape(tenant.default_domain), u["userPrincipalName"]
            )
            assert u["externalUserState"] in ("Accepted", "PendingAcceptance")
            assert u["identities"][0]["signInType"] == "federated"
        else:
            assert u["externalUserState"] is None


def test_dates_are_iso_z_and_not_in_the_future(tenant: TenantSeed) -> None:
    now = DEFAULT_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    checked = 0
    for key, value in walk(dataclasses.asdict(tenant)):
        if key.endswith("DateTime") and value is not None:
            assert ISO_Z.match(value), (key, value)
            if key not in FUTURE_FIELDS:
                assert value <= now, (key, value)
            checked += 1
    assert checked > 100


# Referential integrity


def test_members_owners_and_managers_point_at_the_right_kinds(tenant: TenantSeed) -> None:
    users, groups = ids_of(tenant, "users"), ids_of(tenant, "groups")
    units, sps = ids_of(tenant, "administrativeUnits"), ids_of(tenant, "servicePrincipals")
    apps = ids_of(tenant, "applications")
    assert set(tenant.members) <= groups | units
    for container, members in tenant.members.items():
        assert len(members) == len(set(members)), container
        assert set(members) <= users | groups, container
        assert container not in members
    assert set(tenant.owners) <= groups | apps | sps
    for obj, owners in tenant.owners.items():
        assert owners and set(owners) <= (users | sps if obj in apps else users), obj
    assert set(tenant.manager) <= users and set(tenant.manager.values()) <= users
    assert all(a in tenant.owners for a in apps)


def test_manager_chains_end_without_cycles(tenant: TenantSeed) -> None:
    for start in tenant.manager:
        seen = {start}
        node = start
        while node in tenant.manager:
            node = tenant.manager[node]
            assert node not in seen, "manager cycle"
            seen.add(node)
    members = [u for u in tenant.collections["users"] if u["userType"] == "Member"]
    assert sum(u["id"] in tenant.manager for u in members) >= 0.6 * len(members)


def test_group_nesting_is_acyclic(tenant: TenantSeed) -> None:
    groups = ids_of(tenant, "groups")
    children = {g: [m for m in tenant.members.get(g, []) if m in groups] for g in groups}

    def reaches(start: str, target: str, path: frozenset[str]) -> bool:
        return any(c == target or (c not in path and reaches(c, target, path | {c})) for c in children[start])

    assert not any(reaches(g, g, frozenset({g})) for g in groups)


def test_app_role_assignments_and_grants_resolve(tenant: TenantSeed) -> None:
    users, groups = ids_of(tenant, "users"), ids_of(tenant, "groups")
    sps = {sp["id"]: sp for sp in tenant.collections["servicePrincipals"]}
    principals = {"User": users, "Group": groups, "ServicePrincipal": set(sps)}
    for a in tenant.collections["appRoleAssignments"]:
        assert a["principalId"] in principals[a["principalType"]]
        resource = sps[a["resourceId"]]
        assert a["resourceDisplayName"] == resource["displayName"]
        role_ids = {r["id"] for r in resource["appRoles"]} | {"00000000-0000-0000-0000-000000000000"}
        assert a["appRoleId"] in role_ids
    graph = next(sp for sp in sps.values() if sp["appId"] == "00000003-0000-0000-c000-000000000000")
    assert any(a["resourceId"] == graph["id"] for a in tenant.collections["appRoleAssignments"])
    assert tenant.collections["oauth2PermissionGrants"]
    for g in tenant.collections["oauth2PermissionGrants"]:
        assert g["clientId"] in sps and g["resourceId"] == graph["id"]
        if g["consentType"] == "Principal":
            assert g["principalId"] in users
        else:
            assert g["consentType"] == "AllPrincipals" and g["principalId"] is None
        assert set(g["scope"].split()) <= {s["value"] for s in graph["oauth2PermissionScopes"]}


def test_service_principals_mirror_applications(tenant: TenantSeed) -> None:
    sps = tenant.collections["servicePrincipals"]
    by_app_id = {sp["appId"]: sp for sp in sps}
    assert len(by_app_id) == len(sps)
    for app in tenant.collections["applications"]:
        sp = by_app_id[app["appId"]]
        assert sp["servicePrincipalType"] == "Application"
        assert [r["id"] for r in sp["appRoles"]] == [r["id"] for r in app["appRoles"]]
        assert all(c["secretText"] is None for c in app["passwordCredentials"])
    kinds = Counter(sp["servicePrincipalType"] for sp in sps)
    assert kinds["ManagedIdentity"] >= 1
    assert {"00000003-0000-0000-c000-000000000000", "00000002-0000-0ff1-ce00-000000000000"} <= set(by_app_id)
    graph_roles = {r["value"]: r["id"] for r in by_app_id["00000003-0000-0000-c000-000000000000"]["appRoles"]}
    assert graph_roles["User.Read.All"] == "df021288-bdef-4463-88db-98f22de89214"


def test_extension_attribute_belongs_to_a_registered_app(tenant: TenantSeed) -> None:
    app_ids = {a["appId"].replace("-", "") for a in tenant.collections["applications"]}
    extension_keys = {k for u in tenant.collections["users"] for k in u if k.startswith("extension_")}
    assert extension_keys
    for key in extension_keys:
        assert re.fullmatch(r"extension_([0-9a-f]{32})_costCenter", key)
        assert key.split("_")[1] in app_ids


def test_role_assignments_and_eligibility_resolve(tenant: TenantSeed) -> None:
    users, groups = ids_of(tenant, "users"), ids_of(tenant, "groups")
    sps, units = ids_of(tenant, "servicePrincipals"), ids_of(tenant, "administrativeUnits")
    definitions = {d["id"]: d for d in tenant.collections["roleDefinitions"]}
    assignable = {g["id"] for g in tenant.collections["groups"] if g["isAssignableToRole"]}
    kinds = Counter[str]()
    for a in [*tenant.collections["roleAssignments"], *tenant.collections["roleEligibilitySchedules"]]:
        assert a["roleDefinitionId"] in definitions
        principal = a["principalId"]
        assert principal in users | assignable | sps
        kinds["group" if principal in groups else "sp" if principal in sps else "user"] += 1
        scope = a["directoryScopeId"]
        assert scope == "/" or scope.removeprefix("/administrativeUnits/") in units
    assert kinds["group"] and kinds["sp"]
    for e in tenant.collections["roleEligibilitySchedules"]:
        assert e["memberType"] == "Direct" and e["status"] == "Provisioned"
        assert e["scheduleInfo"]["expiration"]["type"] in ("noExpiration", "afterDateTime")
    for m in tenant.collections["scopedRoleMemberships"]:
        assert m["administrativeUnitId"] in units and m["roleId"] in definitions
        assert m["roleMemberInfo"]["id"] in users
        scope = f"/administrativeUnits/{m['administrativeUnitId']}"
        assert any(
            a["principalId"] == m["roleMemberInfo"]["id"] and a["directoryScopeId"] == scope
            for a in tenant.collections["roleAssignments"]
        )
    custom = [d for d in definitions.values() if not d["isBuiltIn"]]
    assert 1 <= len(custom) <= 2


def test_break_glass_accounts_are_global_admins_excluded_from_every_policy(tenant: TenantSeed) -> None:
    glass = [
        u for u in tenant.collections["users"] if u["userPrincipalName"].startswith(BREAK_GLASS_UPN_PREFIX)
    ]
    assert [u["userPrincipalName"].split("@")[0] for u in glass] == ["breakglass1", "breakglass2"]
    assert all(not u["onPremisesSyncEnabled"] for u in glass)
    global_admins = {
        a["principalId"]
        for a in tenant.collections["roleAssignments"]
        if a["roleDefinitionId"] == BUILTIN_ROLES["Global Administrator"]
    }
    assert {u["id"] for u in glass} <= global_admins
    for policy in tenant.collections["conditionalAccessPolicies"]:
        assert {u["id"] for u in glass} <= set(policy["conditions"]["users"]["excludeUsers"]), policy[
            "displayName"
        ]


def test_conditional_access_references_exist(tenant: TenantSeed) -> None:
    users, groups = ids_of(tenant, "users"), ids_of(tenant, "groups")
    locations = ids_of(tenant, "namedLocations")
    strengths = {s["id"]: s for s in tenant.collections["authenticationStrengthPolicies"]}
    app_ids = {sp["appId"] for sp in tenant.collections["servicePrincipals"]}
    roles = ids_of(tenant, "roleDefinitions")
    states = Counter[str]()
    for p in tenant.collections["conditionalAccessPolicies"]:
        states[p["state"]] += 1
        who, cond = p["conditions"]["users"], p["conditions"]
        assert set(who["includeUsers"] + who["excludeUsers"]) <= users | CA_USER_KEYWORDS
        assert set(who["includeGroups"] + who["excludeGroups"]) <= groups
        assert set(who["includeRoles"] + who["excludeRoles"]) <= roles
        apps = cond["applications"]
        assert set(apps["includeApplications"] + apps["excludeApplications"]) <= app_ids | CA_APP_KEYWORDS
        if cond["locations"] is not None:
            named = cond["locations"]["includeLocations"] + cond["locations"]["excludeLocations"]
            assert set(named) <= locations | CA_LOCATION_KEYWORDS
        if p["grantControls"] and p["grantControls"]["authenticationStrength"]:
            ref = p["grantControls"]["authenticationStrength"]
            assert strengths[ref["id"]]["displayName"] == ref["displayName"]
        assert p["templateId"] is None
    assert states["enabledForReportingButNotEnforced"] >= 1 and states["disabled"] >= 1
    policies = {p["displayName"][:5]: p for p in tenant.collections["conditionalAccessPolicies"]}
    assert set(policies["CA001"]["conditions"]["users"]["includeRoles"]) <= PRIVILEGED_ROLE_TEMPLATE_IDS
    assert policies["CA002"]["conditions"]["clientAppTypes"] == ["exchangeActiveSync", "other"]
    assert policies["CA007"]["conditions"]["users"]["includeGuestsOrExternalUsers"] is not None


def test_sign_ins_name_real_policies_and_users(tenant: TenantSeed) -> None:
    policies = {p["id"]: p for p in tenant.collections["conditionalAccessPolicies"]}
    users = ids_of(tenant, "users")
    results = Counter[str]()
    for s in tenant.collections["signIns"]:
        assert s["userId"] in users
        assert [a["id"] for a in s["appliedConditionalAccessPolicies"]] == list(policies)
        for a in s["appliedConditionalAccessPolicies"]:
            results[a["result"]] += 1
            if policies[a["id"]]["state"] == "disabled":
                assert a["result"] == "notEnabled"
    assert results["success"] and results["notApplied"]
    times = [s["createdDateTime"] for s in tenant.collections["signIns"]]
    assert times == sorted(times, reverse=True)


def test_audit_records_target_real_objects(tenant: TenantSeed) -> None:
    known = set().union(
        *(ids_of(tenant, c) for c in ("users", "groups", "applications", "conditionalAccessPolicies"))
    )
    for record in tenant.collections["directoryAudits"]:
        initiator = record["initiatedBy"]
        assert (initiator["user"] is None) != (initiator["app"] is None)
        assert all(t["id"] in known for t in record["targetResources"])
        assert record["result"] in ("success", "failure")


def test_administrative_units_hold_users_and_some_groups(medium: TenantSeed) -> None:
    groups = ids_of(medium, "groups")
    units = medium.collections["administrativeUnits"]
    assert {u["membershipType"] for u in units} == {"Dynamic", "Assigned"}
    assert any(m in groups for u in units for m in medium.members[u["id"]])


# Shapes


def test_group_kinds_are_all_present(tenant: TenantSeed) -> None:
    groups = tenant.collections["groups"]
    ids = {g["id"] for g in groups}
    unified = [g for g in groups if "Unified" in g["groupTypes"]]
    assert unified and all(g["mailEnabled"] and not g["securityEnabled"] for g in unified)
    assert all(g["visibility"] in ("Public", "Private") for g in unified)
    dynamic = [g for g in groups if "DynamicMembership" in g["groupTypes"]]
    assert dynamic and all(
        g["membershipRule"] and g["membershipRuleProcessingState"] == "On" for g in dynamic
    )
    role_assignable = [g for g in groups if g["isAssignableToRole"]]
    assert role_assignable and all(g["securityEnabled"] and not g["groupTypes"] for g in role_assignable)
    assert any(g["mailEnabled"] and not g["securityEnabled"] and not g["groupTypes"] for g in groups)  # DL
    assert any(g["mailEnabled"] and g["securityEnabled"] and not g["groupTypes"] for g in groups)
    synced = [g for g in groups if g["onPremisesSyncEnabled"]]
    assert synced and all(g["onPremisesSecurityIdentifier"] for g in synced)
    assert any(m in ids for g in groups for m in tenant.members.get(g["id"], []))
    assert all(g["securityIdentifier"].startswith("S-1-12-1-") for g in groups)
    assert sum(g["securityEnabled"] for g in groups) >= len(groups) * 0.4


def test_dynamic_group_members_match_their_rule(medium: TenantSeed) -> None:
    users = {u["id"]: u for u in medium.collections["users"]}
    for g in medium.collections["groups"]:
        for attribute, value in re.findall(r'user\.(\w+) -eq "([^"]+)"', g["membershipRule"] or ""):
            assert all(users[m][attribute] == value for m in medium.members[g["id"]]), g["displayName"]


def test_synced_users_carry_on_premises_attributes(tenant: TenantSeed) -> None:
    for u in tenant.collections["users"]:
        if u["onPremisesSyncEnabled"]:
            assert (
                u["onPremisesImmutableId"]
                and u["onPremisesSamAccountName"]
                and u["onPremisesLastSyncDateTime"]
            )
        else:
            assert u["onPremisesImmutableId"] is None and u["onPremisesSyncEnabled"] is None
        assert list(u["onPremisesExtensionAttributes"]) == [f"extensionAttribute{i}" for i in range(1, 16)]
    # Each user owns its nested dicts, so a directory may mutate one user without touching another.
    users = tenant.collections["users"]
    assert len({id(u["onPremisesExtensionAttributes"]) for u in users}) == len(users)


def test_named_locations_and_auth_methods_are_polymorphic(tenant: TenantSeed) -> None:
    kinds = Counter(loc["@odata.type"] for loc in tenant.collections["namedLocations"])
    assert set(kinds) == {"#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"}
    for loc in tenant.collections["namedLocations"]:
        if loc["@odata.type"].endswith("ipNamedLocation"):
            for r in loc["ipRanges"]:
                assert r["@odata.type"] == (
                    "#microsoft.graph.iPv6CidrRange"
                    if ":" in r["cidrAddress"]
                    else "#microsoft.graph.iPv4CidrRange"
                )
        else:
            assert loc["countryLookupMethod"] == "clientIpAddress" and loc["countriesAndRegions"]
    configs = tenant.singletons["authenticationMethodsPolicy"]["authenticationMethodConfigurations"]
    for cfg in configs:
        assert (
            cfg["@odata.type"]
            == f"#microsoft.graph.{cfg['id'][0].lower()}{cfg['id'][1:]}AuthenticationMethodConfiguration"
        )
        assert cfg["state"] in ("enabled", "disabled")
    assert {"Fido2", "MicrosoftAuthenticator", "Sms", "TemporaryAccessPass", "Email"} <= {
        c["id"] for c in configs
    }


def test_authentication_strengths_and_singletons(tenant: TenantSeed) -> None:
    strengths = {s["id"]: s for s in tenant.collections["authenticationStrengthPolicies"]}
    assert strengths["00000000-0000-0000-0000-000000000004"]["displayName"] == "Phishing-resistant MFA"
    assert Counter(s["policyType"] for s in strengths.values())["builtIn"] == 3
    assert any(s["policyType"] == "custom" for s in strengths.values())
    auth = tenant.singletons["authorizationPolicy"]
    assert (
        auth["id"] == "authorizationPolicy"
        and "permissionGrantPoliciesAssigned" in auth["defaultUserRolePermissions"]
    )
    assert set(tenant.singletons) == {
        "authenticationMethodsPolicy",
        "authorizationPolicy",
        "crossTenantAccessPolicy",
        "crossTenantAccessDefault",
    }
    for partner in tenant.collections["crossTenantAccessPartners"]:
        assert GUID.match(partner["tenantId"]) and partner["tenantId"] != tenant.tenant_id
        assert set(partner) >= {"b2bCollaborationInbound", "inboundTrust", "automaticUserConsentSettings"}


def test_domains_and_organization(tenant: TenantSeed) -> None:
    domains = tenant.collections["domains"]
    assert sum(d["isDefault"] for d in domains) == 1 and sum(d["isInitial"] for d in domains) == 1
    assert {d["authenticationType"] for d in domains} == {"Managed", "Federated"}
    org = tenant.collections["organization"][0]
    assert org["tenantType"] == "AAD"
    assert {v["name"] for v in org["verifiedDomains"]} == {d["id"] for d in domains}


def test_role_constants_and_definitions() -> None:
    assert len(BUILTIN_ROLES) == 20 and len(PRIVILEGED_ROLE_TEMPLATE_IDS) == 14
    assert set(BUILTIN_ROLES.values()) >= PRIVILEGED_ROLE_TEMPLATE_IDS
    assert BUILTIN_ROLES["Global Administrator"] == "62e90394-69f5-4237-9190-012177145e10"
    assert BUILTIN_ROLES["Directory Readers"] not in PRIVILEGED_ROLE_TEMPLATE_IDS
    seed = generate_tenant(users=20)
    builtin = {d["id"]: d for d in seed.collections["roleDefinitions"] if d["isBuiltIn"]}
    assert set(builtin) == set(BUILTIN_ROLES.values())
    assert all(
        d["templateId"] == d["id"] and d["rolePermissions"][0]["allowedResourceActions"]
        for d in builtin.values()
    )
