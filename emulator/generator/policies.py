"""Conditional Access: named locations, authentication strengths and a realistic set of policies.

Every policy excludes both break-glass accounts, and every id a policy names exists in the seed.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from emulator.generator.apps import Apps
from emulator.generator.common import EXCHANGE_APP_ID, Obj, Tenant, guid, iso
from emulator.generator.groups import Groups
from emulator.generator.people import People
from emulator.generator.roles import BUILTIN_ROLES, GLOBAL_ADMIN, PRIVILEGED_ROLE_TEMPLATE_IDS

MFA_STRENGTH = "00000000-0000-0000-0000-000000000002"
PASSWORDLESS_STRENGTH = "00000000-0000-0000-0000-000000000003"
PHISHING_RESISTANT_STRENGTH = "00000000-0000-0000-0000-000000000004"
_PHISHING_RESISTANT = ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"]
_PASSWORDLESS = [*_PHISHING_RESISTANT, "deviceBasedPush"]
_MFA = [
    *_PASSWORDLESS,
    "temporaryAccessPassOneTime",
    "temporaryAccessPassMultiUse",
    "password,microsoftAuthenticatorPush",
    "password,softwareOath",
    "password,hardwareOath",
    "password,sms",
    "password,voice",
    "federatedMultiFactor",
    "microsoftAuthenticatorPush,federatedSingleFactor",
    "softwareOath,federatedSingleFactor",
    "hardwareOath,federatedSingleFactor",
    "sms,federatedSingleFactor",
    "voice,federatedSingleFactor",
]
_ALL_GUESTS = {
    "guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,"
    "b2bDirectConnectUser,otherExternalUser,serviceProvider",
    "externalTenants": {
        "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
        "membershipKind": "all",
    },
}


@dataclass
class Policies:
    named_locations: list[Obj] = field(default_factory=list)
    strengths: list[Obj] = field(default_factory=list)
    conditional_access: list[Obj] = field(default_factory=list)


def _ip_location(t: Tenant, rng: random.Random, name: str, trusted: bool, cidrs: list[str]) -> Obj:
    created = t.since_creation(rng, 20)
    return {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": guid(rng),
        "displayName": name,
        "createdDateTime": iso(created),
        "modifiedDateTime": iso(rng.uniform(created, t.now)),
        "isTrusted": trusted,
        "ipRanges": [
            {
                "@odata.type": "#microsoft.graph.iPv6CidrRange"
                if ":" in c
                else "#microsoft.graph.iPv4CidrRange",
                "cidrAddress": c,
            }
            for c in cidrs
        ],
    }


def _country_location(t: Tenant, rng: random.Random, name: str, countries: list[str], unknown: bool) -> Obj:
    created = t.since_creation(rng, 20)
    return {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "id": guid(rng),
        "displayName": name,
        "createdDateTime": iso(created),
        "modifiedDateTime": iso(created),
        "countriesAndRegions": countries,
        "includeUnknownCountriesAndRegions": unknown,
        "countryLookupMethod": "clientIpAddress",
    }


def _strength(sid: str, name: str, description: str, kind: str, combos: list[str], created: str) -> Obj:
    return {
        "id": sid,
        "createdDateTime": created,
        "modifiedDateTime": created,
        "displayName": name,
        "description": description,
        "policyType": kind,
        "requirementsSatisfied": "mfa",
        "allowedCombinations": list(combos),
        "combinationConfigurations": [],
    }


def generate_policies(t: Tenant, people: People, groups: Groups, apps: Apps) -> Policies:
    rng = t.rng("policies")
    out = Policies()
    hq = _ip_location(t, rng, "Corporate HQ", True, ["203.0.113.0/24", "2001:db8:1000::/48"])
    branches = _ip_location(t, rng, "Branch offices", True, ["198.51.100.0/25", "198.51.100.128/26"])
    vpn = _ip_location(t, rng, "VPN egress", False, ["192.0.2.0/27", "2001:db8:2000::/48"])
    blocked = _country_location(t, rng, "Blocked countries", ["KP", "IR", "SY", "CU"], False)
    travel = _country_location(
        t, rng, "Approved travel countries", ["US", "CA", "GB", "IE", "DE", "FR"], True
    )
    out.named_locations = [hq, branches, vpn, blocked, travel]

    # Microsoft created the built-in strengths in late 2021 (or with the tenant, if it is older).
    builtin_created = iso(min(t.created, 1_638_316_800))
    out.strengths = [
        _strength(
            MFA_STRENGTH,
            "Multifactor authentication",
            "Combinations of methods that satisfy strong authentication, such as a password + SMS",
            "builtIn",
            _MFA,
            builtin_created,
        ),
        _strength(
            PASSWORDLESS_STRENGTH,
            "Passwordless MFA",
            "Passwordless methods that satisfy strong authentication, "
            "such as Passwordless sign-in with the Microsoft Authenticator",
            "builtIn",
            _PASSWORDLESS,
            builtin_created,
        ),
        _strength(
            PHISHING_RESISTANT_STRENGTH,
            "Phishing-resistant MFA",
            "Phishing-resistant, Passwordless methods for the strongest authentication, "
            "such as a FIDO2 security key",
            "builtIn",
            _PHISHING_RESISTANT,
            builtin_created,
        ),
        _strength(
            guid(rng),
            "FIDO2 or Authenticator push",
            "Custom: hardware keys or Authenticator push",
            "custom",
            ["fido2", "password,microsoftAuthenticatorPush"],
            iso(t.since_creation(rng, 200)),
        ),
    ]
    custom_strength = out.strengths[3]
    out.strengths[3]["combinationConfigurations"] = [
        {
            "@odata.type": "#microsoft.graph.fido2CombinationConfiguration",
            "id": guid(rng),
            "appliesToCombinations": ["fido2"],
            "allowedAAGUIDs": [],
        }
    ]
    break_glass = [u["id"] for u in people.break_glass]
    admin_roles = sorted(PRIVILEGED_ROLE_TEMPLATE_IDS)
    top_roles = [
        GLOBAL_ADMIN,
        BUILTIN_ROLES["Privileged Role Administrator"],
        BUILTIN_ROLES["Privileged Authentication Administrator"],
    ]
    some_app = apps.tenant_sps[-1]["appId"]

    def policy(name: str, state: str, users: Obj, grant: Obj | None, **conditions: object) -> Obj:
        created = t.since_creation(rng, 30)
        edited = rng.random() < 0.6
        cond: Obj = {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": ["all"],
            "servicePrincipalRiskLevels": [],
            "insiderRiskLevels": None,
            "platforms": None,
            "locations": None,
            "devices": None,
            "clientApplications": None,
            "authenticationFlows": None,
            "applications": _apps(["All"]),
            "users": {
                "includeUsers": [],
                "excludeUsers": [],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
                "includeGuestsOrExternalUsers": None,
                "excludeGuestsOrExternalUsers": None,
                **users,
            },
        }
        cond.update(conditions)
        cond["users"]["excludeUsers"] = [*break_glass, *cond["users"]["excludeUsers"]]
        return {
            "id": guid(rng),
            "templateId": None,
            "displayName": name,
            "createdDateTime": iso(created),
            "modifiedDateTime": iso(rng.uniform(created, t.now)) if edited else None,
            "state": state,
            "sessionControls": None,
            "conditions": cond,
            "grantControls": grant,
        }

    excl = [groups.ca_exclusions["id"]]
    out.conditional_access = [
        policy(
            "CA001: Require MFA for administrators", "enabled", {"includeRoles": admin_roles}, _grant(["mfa"])
        ),
        policy(
            "CA002: Block legacy authentication",
            "enabled",
            {"includeUsers": ["All"], "excludeGroups": excl},
            _grant(["block"]),
            clientAppTypes=["exchangeActiveSync", "other"],
        ),
        policy(
            "CA003: Require MFA for all users",
            "enabled",
            {"includeUsers": ["All"], "excludeGroups": excl},
            _grant(["mfa"]),
        ),
        policy(
            "CA004: Require compliant device for managed-device users",
            "enabled",
            {"includeGroups": [groups.managed_devices["id"]]},
            _grant(["compliantDevice", "domainJoinedDevice"], "OR"),
            platforms={"includePlatforms": ["windows", "macOS"], "excludePlatforms": []},
        ),
        policy(
            "CA005: Block access from untrusted countries",
            "enabled",
            {"includeUsers": ["All"]},
            _grant(["block"]),
            locations={"includeLocations": [blocked["id"]], "excludeLocations": []},
        ),
        policy(
            "CA006: Require phishing-resistant MFA for privileged roles",
            "enabled",
            {"includeRoles": top_roles},
            _grant([], strength=out.strengths[2]),
        ),
        policy(
            "CA007: Require MFA for guests",
            "enabled",
            {"includeGuestsOrExternalUsers": _ALL_GUESTS},
            _grant(["mfa"]),
        ),
        policy(
            "CA008: Require MFA outside trusted locations",
            "enabledForReportingButNotEnforced",
            {"includeUsers": ["All"]},
            _grant(["mfa"]),
            locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted", vpn["id"]]},
        ),
        policy(
            "CA009: Block high sign-in risk",
            "enabled",
            {"includeUsers": ["All"], "excludeRoles": [GLOBAL_ADMIN]},
            _grant(["block"]),
            signInRiskLevels=["high"],
        ),
        policy(
            "CA010: Require password change for high user risk",
            "enabled",
            {"includeUsers": ["All"]},
            _grant(["mfa", "passwordChange"], "AND"),
            userRiskLevels=["high"],
        ),
        policy(
            "CA011: Sign-in frequency for Exchange Online on unmanaged devices",
            "enabled",
            {"includeUsers": ["All"], "excludeGroups": excl},
            None,
            applications=_apps([EXCHANGE_APP_ID]),
            devices={
                "deviceFilter": {
                    "mode": "exclude",
                    "rule": 'device.isCompliant -eq True -or device.trustType -eq "ServerAD"',
                }
            },
        ),
        policy(
            f"CA012: Strong authentication for {apps.tenant_sps[-1]['displayName']}",
            "enabled",
            {"includeGroups": [groups.all_staff["id"]]},
            _grant([], strength=custom_strength),
            applications=_apps([some_app]),
        ),
        policy(
            "CA099: Old MFA pilot (retired)",
            "disabled",
            {"includeGroups": [groups.all_company["id"]]},
            _grant(["mfa"]),
        ),
    ]
    out.conditional_access[10]["sessionControls"] = {
        "applicationEnforcedRestrictions": None,
        "cloudAppSecurity": None,
        "disableResilienceDefaults": None,
        "persistentBrowser": {"mode": "never", "isEnabled": True},
        "signInFrequency": {
            "value": 4,
            "type": "hours",
            "authenticationType": "primaryAndSecondaryAuthentication",
            "frequencyInterval": "timeBased",
            "isEnabled": True,
        },
    }
    return out


def _apps(include: list[str]) -> Obj:
    return {
        "includeApplications": include,
        "excludeApplications": [],
        "includeUserActions": [],
        "includeAuthenticationContextClassReferences": [],
        "applicationFilter": None,
    }


def _grant(controls: list[str], operator: str = "OR", strength: Obj | None = None) -> Obj:
    return {
        "operator": operator,
        "builtInControls": controls,
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        # Graph expands the referenced strength inline; a copy keeps policy and strength independent.
        "authenticationStrength": None if strength is None else copy.deepcopy(strength),
    }
