"""Thirty days of history: directory audit records and sign-ins that name real objects and CA policies."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from emulator.generator.apps import Apps
from emulator.generator.common import DAY, EXCHANGE_APP_ID, GRAPH_APP_ID, Obj, Tenant, guid, iso
from emulator.generator.groups import Groups
from emulator.generator.names import OFFICES
from emulator.generator.people import People
from emulator.generator.policies import Policies

WINDOW_DAYS = 30
_GRANT_NAMES = {
    "mfa": "Mfa",
    "block": "Block",
    "compliantDevice": "RequireCompliantDevice",
    "domainJoinedDevice": "RequireDomainJoinedDevice",
    "passwordChange": "RequirePasswordChange",
}
# First-party client apps people sign in to: (appId, name, resource name, resource appId).
_CLIENTS = (
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Microsoft Graph", GRAPH_APP_ID),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "Office 365 Exchange Online", EXCHANGE_APP_ID),
    ("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile", "Office 365 Exchange Online", EXCHANGE_APP_ID),
    (
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "Azure Portal",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    ),
)
_FAILURES = (
    (50126, "Error validating credentials due to invalid username or password."),
    (50074, "Strong Authentication is required."),
    (50140, "This error occurred due to 'Keep me signed in' interrupt when the user was signing in."),
)
_BLOCKED = (
    53003,
    "Access has been blocked by Conditional Access policies. "
    "The access policy does not allow token issuance.",
)
_DEVICE_PREFIX = {"Windows10": "PC", "MacOs": "MAC", "Ios": "IPHONE", "Android": "ANDROID"}
_DEVICES = (
    ("Windows10", "Edge 130.0.0"),
    ("Windows10", "Chrome 131.0.0"),
    ("MacOs", "Safari 18.1"),
    ("Ios", "Mobile Safari"),
    ("Android", "Chrome Mobile 131.0.0"),
)


@dataclass
class Logs:
    audits: list[Obj]
    sign_ins: list[Obj]


def generate_logs(
    t: Tenant, people: People, groups: Groups, apps: Apps, policies: Policies, users: int
) -> Logs:
    return Logs(
        audits=_audits(t, t.rng("audits"), people, groups, apps, policies, min(800, 150 + users // 50)),
        sign_ins=_sign_ins(t, t.rng("sign-ins"), people, groups, apps, policies, min(users * 2, 5_000)),
    )


def _change(name: str, old: object, new: object) -> Obj:
    return {
        "displayName": name,
        "oldValue": json.dumps([old] if old is not None else []),
        "newValue": json.dumps([new]),
    }


def _target(obj: Obj, kind: str, changes: list[Obj], group_type: str | None = None) -> Obj:
    return {
        "id": obj["id"],
        "displayName": obj.get("displayName"),
        "type": kind,
        "userPrincipalName": obj.get("userPrincipalName"),
        "groupType": group_type,
        "modifiedProperties": changes,
    }


def _audits(
    t: Tenant, rng: random.Random, people: People, groups: Groups, apps: Apps, policies: Policies, count: int
) -> list[Obj]:
    staff, grps = people.staff, groups.groups
    actors = people.admins + people.break_glass[:1]

    def user_event(u: Obj) -> tuple[str, str, str, list[Obj]]:
        activity = rng.choice(("Update user", "Disable account", "Add user", "Reset user password"))
        changes = {
            "Update user": [_change("JobTitle", "Analyst", u["jobTitle"])],
            "Disable account": [_change("AccountEnabled", True, False)],
            "Add user": [
                _change("DisplayName", None, u["displayName"]),
                _change("AccountEnabled", None, True),
            ],
            "Reset user password": [],
        }[activity]
        return (
            activity,
            "UserManagement",
            "Add" if activity == "Add user" else "Update",
            [_target(u, "User", changes)],
        )

    def group_event(g: Obj) -> tuple[str, str, str, list[Obj]]:
        u = rng.choice(staff)
        activity = rng.choice(
            ("Add member to group", "Remove member from group", "Update group", "Add group")
        )
        kind = "unifiedGroups" if "Unified" in g["groupTypes"] else "azureAD"
        changes = [
            _change("Group.ObjectID", None, g["id"]),
            _change("Group.DisplayName", None, g["displayName"]),
        ]
        if activity.endswith("to group") or activity.endswith("from group"):
            return (
                activity,
                "GroupManagement",
                "Assign" if "Add" in activity else "Unassign",
                [_target(u, "User", changes), _target(g, "Group", [], kind)],
            )
        return (
            activity,
            "GroupManagement",
            "Add" if activity == "Add group" else "Update",
            [_target(g, "Group", [_change("Description", None, g["description"])], kind)],
        )

    def app_event(a: Obj) -> tuple[str, str, str, list[Obj]]:
        activity = rng.choice(
            ("Update application \u2013 Certificates and secrets management ", "Add owner to application")
        )
        changes = [_change("KeyDescription", None, "[KeyIdentifier=…,KeyType=Password,KeyUsage=Verify]")]
        return activity, "ApplicationManagement", "Update", [_target(a, "Application", changes)]

    def role_event(u: Obj) -> tuple[str, str, str, list[Obj]]:
        changes = [_change("Role.DisplayName", None, "Helpdesk Administrator")]
        return "Add member to role", "RoleManagement", "Add", [_target(u, "User", changes)]

    def policy_event(p: Obj) -> tuple[str, str, str, list[Obj]]:
        changes = [
            _change(
                "ConditionalAccessPolicy",
                {"state": "enabledForReportingButNotEnforced"},
                {"state": p["state"]},
            )
        ]
        return "Update conditional access policy", "Policy", "Update", [_target(p, "Policy", changes)]

    makers: list[tuple[int, Callable[[], tuple[str, str, str, list[Obj]]]]] = [
        (40, lambda: user_event(rng.choice(staff))),
        (35, lambda: group_event(rng.choice(grps))),
        (10, lambda: app_event(rng.choice(apps.applications))),
        (5, lambda: role_event(rng.choice(staff))),
        (10, lambda: policy_event(rng.choice(policies.conditional_access))),
    ]
    weights = [w for w, _ in makers]
    records: list[Obj] = []
    for _ in range(count):
        activity, category, operation, targets = rng.choices(makers, weights=weights)[0][1]()
        by_app = rng.random() < 0.2
        actor = rng.choice(actors)
        sp = rng.choice(apps.tenant_sps)
        failed = rng.random() < 0.03
        records.append(
            {
                "id": f"Directory_{guid(rng)}_{rng.randrange(36**5):05X}_{rng.randrange(10**8):08d}",
                "category": category,
                "correlationId": guid(rng),
                "result": "failure" if failed else "success",
                "resultReason": "Insufficient privileges to complete the operation." if failed else "",
                "activityDisplayName": activity,
                "activityDateTime": iso(t.now - rng.uniform(0, WINDOW_DAYS * DAY)),
                "loggedByService": "Conditional Access" if category == "Policy" else "Core Directory",
                "operationType": operation,
                "initiatedBy": {
                    "user": None
                    if by_app
                    else {
                        "id": actor["id"],
                        "displayName": actor["displayName"],
                        "userPrincipalName": actor["userPrincipalName"],
                        "ipAddress": f"203.0.113.{rng.randrange(1, 255)}",
                        "userType": "Member",
                        "homeTenantId": t.tenant_id,
                        "homeTenantName": t.company,
                    },
                    "app": {
                        "appId": sp["appId"],
                        "displayName": sp["displayName"],
                        "servicePrincipalId": sp["id"],
                        "servicePrincipalName": sp["displayName"],
                    }
                    if by_app
                    else None,
                },
                "targetResources": targets,
                "additionalDetails": []
                if by_app
                else [{"key": "User-Agent", "value": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}],
            }
        )
    records.sort(key=lambda r: r["activityDateTime"], reverse=True)
    return records


def _applies(
    policy: Obj, user: Obj, member_of: dict[str, set[str]], role_holders: set[str], app_id: str, legacy: bool
) -> bool:
    """A coarse Conditional Access check: who, which app, which client; no risk, allowed countries only."""
    cond = policy["conditions"]
    who = cond["users"]
    uid = user["id"]
    if uid in who["excludeUsers"] or any(uid in member_of.get(g, ()) for g in who["excludeGroups"]):
        return False
    included = (
        "All" in who["includeUsers"]
        or uid in who["includeUsers"]
        or any(uid in member_of.get(g, ()) for g in who["includeGroups"])
        or (bool(who["includeRoles"]) and uid in role_holders)
        or (who["includeGuestsOrExternalUsers"] is not None and user["userType"] == "Guest")
    )
    include_apps = cond["applications"]["includeApplications"]
    return (
        included
        and ("All" in include_apps or app_id in include_apps)
        and not cond["userRiskLevels"]
        and not cond["signInRiskLevels"]
        and (cond["locations"] is None or "All" in cond["locations"]["includeLocations"])
        and ("all" in cond["clientAppTypes"] or legacy)
    )


def _sign_ins(
    t: Tenant, rng: random.Random, people: People, groups: Groups, apps: Apps, policies: Policies, count: int
) -> list[Obj]:
    ca = policies.conditional_access
    referenced = {
        g for p in ca for key in ("includeGroups", "excludeGroups") for g in p["conditions"]["users"][key]
    }
    member_of = {g: set(groups.members.get(g, ())) for g in sorted(referenced)}
    role_holders = {u["id"] for u in people.admins}
    signers = [u for u in people.users if u["accountEnabled"] and u["signInActivity"] is not None]
    tenant_apps = [
        (sp["appId"], sp["displayName"], sp["displayName"], sp["appId"]) for sp in apps.tenant_sps[1:]
    ]
    offices = {o.name: o for o in OFFICES}
    out: list[Obj] = []
    for _ in range(count):
        user = rng.choice(signers)
        app_id, app_name, resource_name, resource_id = (
            rng.choice(_CLIENTS) if rng.random() < 0.6 else rng.choice(tenant_apps)
        )
        client = rng.choices(
            ("Browser", "Mobile Apps and Desktop clients", "Exchange ActiveSync", "Other clients"),
            (55, 41, 2, 2),
        )[0]
        legacy = client in ("Exchange ActiveSync", "Other clients")
        office = offices.get(user["officeLocation"] or "", OFFICES[0])
        applied: list[Obj] = []
        blocked = enforced = False
        for p in ca:
            hit = p["state"] != "disabled" and _applies(p, user, member_of, role_holders, app_id, legacy)
            grant = p["grantControls"] or {"builtInControls": [], "authenticationStrength": None}
            controls = [_GRANT_NAMES[c] for c in grant["builtInControls"]]
            if grant["authenticationStrength"] is not None:
                controls.append("RequireAuthenticationStrength")
            sessions = ["SignInFrequency", "PersistentBrowserSessionMode"] if p["sessionControls"] else []
            if p["state"] == "disabled":
                result = "notEnabled"
            elif p["state"] == "enabledForReportingButNotEnforced":
                result = "reportOnlySuccess" if hit else "reportOnlyNotApplied"
            else:
                result = (
                    ("failure" if "block" in grant["builtInControls"] else "success") if hit else "notApplied"
                )
                blocked |= hit and "block" in grant["builtInControls"]
                enforced |= hit
            applied.append(
                {
                    "id": p["id"],
                    "displayName": p["displayName"],
                    "enforcedGrantControls": controls if hit else [],
                    "enforcedSessionControls": sessions if hit else [],
                    "result": result,
                }
            )
        if blocked:
            code, reason = _BLOCKED
        elif rng.random() < 0.06:
            code, reason = rng.choice(_FAILURES)
        else:
            code, reason = 0, "Other."
        os_name, browser = rng.choice(_DEVICES)
        managed = user["userType"] == "Member" and rng.random() < 0.7
        out.append(
            {
                "id": guid(rng),
                "createdDateTime": iso(t.now - rng.uniform(0, WINDOW_DAYS * DAY)),
                "userDisplayName": user["displayName"],
                "userPrincipalName": user["userPrincipalName"],
                "userId": user["id"],
                "appId": app_id,
                "appDisplayName": app_name,
                "ipAddress": f"203.0.113.{rng.randrange(1, 255)}"
                if managed
                else f"198.51.100.{rng.randrange(1, 255)}",
                "clientAppUsed": client,
                "correlationId": guid(rng),
                "conditionalAccessStatus": "failure" if blocked else "success" if enforced else "notApplied",
                "isInteractive": rng.random() < 0.7,
                "riskDetail": "none",
                "riskLevelAggregated": "none",
                "riskLevelDuringSignIn": "none",
                "riskState": "none",
                "riskEventTypes": [],
                "riskEventTypes_v2": [],
                "resourceDisplayName": resource_name,
                "resourceId": resource_id,
                "status": {"errorCode": code, "failureReason": reason, "additionalDetails": None},
                "deviceDetail": {
                    "deviceId": guid(rng) if managed else "",
                    "displayName": f"{_DEVICE_PREFIX[os_name]}-{rng.randrange(16**6):06X}" if managed else "",
                    "operatingSystem": os_name,
                    "browser": browser,
                    "isCompliant": managed,
                    "isManaged": managed,
                    "trustType": "Azure AD joined" if managed else "",
                },
                "location": {
                    "city": office.city,
                    "state": office.state,
                    "countryOrRegion": office.country_code,
                    "geoCoordinates": {
                        "altitude": None,
                        "latitude": office.latitude,
                        "longitude": office.longitude,
                    },
                },
                "appliedConditionalAccessPolicies": applied,
            }
        )
    out.sort(key=lambda r: r["createdDateTime"], reverse=True)
    return out
