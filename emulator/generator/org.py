"""The organization object, its domains, and administrative units with their scoped role members."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.generator.common import Obj, Tenant, guid, iso
from emulator.generator.groups import Groups
from emulator.generator.names import OFFICES
from emulator.generator.people import People
from emulator.generator.roles import BUILTIN_ROLES

_SCOPED_ROLES = ("Helpdesk Administrator", "User Administrator", "Authentication Administrator")
# (service, service plan id) of the tenant's subscriptions.
_PLANS = (
    ("exchange", "efb87545-963c-4e0d-99df-69c6916d9eb0"),
    ("SharePoint", "5dbe027f-2339-4123-9542-606e4d348a72"),
    ("TeamspaceAPI", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("AADPremiumService", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"),
    ("AADPremiumService", "eec0eb4f-6444-4f95-aba0-50c24d67f998"),
    ("SCO", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"),
)


@dataclass
class Org:
    organization: Obj = field(default_factory=dict)
    domains: list[Obj] = field(default_factory=list)
    units: list[Obj] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)
    scoped: list[Obj] = field(default_factory=list)


def _domain(name: str, auth: str, *, default: bool, initial: bool, services: list[str]) -> Obj:
    return {
        "id": name,
        "authenticationType": auth,
        "availabilityStatus": None,
        "isAdminManaged": True,
        "isDefault": default,
        "isInitial": initial,
        "isRoot": True,
        "isVerified": True,
        "manufacturer": None,
        "model": None,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 2147483647,
        "state": None,
        "supportedServices": services,
    }


def generate_org(t: Tenant, people: People, groups: Groups, users: int) -> Org:
    rng = t.rng("org")
    out = Org()
    out.domains = [
        _domain(
            t.initial_domain,
            "Managed",
            default=False,
            initial=True,
            services=["Email", "OfficeCommunicationsOnline"],
        ),
        _domain(
            t.custom_domain,
            "Managed",
            default=True,
            initial=False,
            services=["Email", "OfficeCommunicationsOnline", "Intune"],
        ),
        _domain(t.federated_domain, "Federated", default=False, initial=False, services=["Email"]),
    ]
    hq = OFFICES[0]
    out.organization = {
        "id": t.tenant_id,
        "deletedDateTime": None,
        "assignedPlans": [
            {
                "assignedDateTime": iso(t.created + 3_600),
                "capabilityStatus": "Enabled",
                "service": s,
                "servicePlanId": p,
            }
            for s, p in _PLANS
        ],
        "businessPhones": [f"{hq.phone_prefix} 0100"],
        "city": hq.city,
        "country": hq.country,
        "countryLetterCode": hq.country_code,
        "createdDateTime": iso(t.created),
        "displayName": t.company,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": iso(t.now - rng.randrange(60, 1_800)),
        "onPremisesSyncEnabled": True,
        "postalCode": hq.postal_code,
        "preferredLanguage": "en",
        "privacyProfile": {
            "contactEmail": f"privacy@{t.custom_domain}",
            "statementUrl": f"https://www.{t.custom_domain}/privacy",
        },
        "provisionedPlans": [
            {"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": s} for s, _ in _PLANS
        ],
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": hq.state,
        "street": hq.street,
        "technicalNotificationMails": [f"it-admins@{t.custom_domain}"],
        "tenantType": "AAD",
        "verifiedDomains": [
            {
                "capabilities": ", ".join(d["supportedServices"]),
                "isDefault": d["isDefault"],
                "isInitial": d["isInitial"],
                "name": d["id"],
                "type": d["authenticationType"],
            }
            for d in out.domains
        ],
    }
    _units(t, out, people, groups, max(2, round(users / 2_000)))
    return out


def _units(t: Tenant, out: Org, people: People, groups: Groups, count: int) -> None:
    """One unit per office (the first one dynamic), then per department within an office."""
    rng = t.rng("administrative-units")
    plans: list[tuple[str, str, list[Obj]]] = []
    for o in sorted(OFFICES, key=lambda o: -o.weight):
        if o.name in people.by_office:
            plans.append(
                (f"{o.name} Office", f'(user.officeLocation -eq "{o.name}")', people.by_office[o.name])
            )
    by_pair: dict[tuple[str, str], list[Obj]] = {}
    for u in people.staff:
        by_pair.setdefault((u["officeLocation"], u["department"]), []).append(u)
    for (office, dept), us in sorted(by_pair.items(), key=lambda kv: -len(kv[1])):
        plans.append((f"{office} - {dept}", "", us))
    assignable = groups.of_kind("security", "unified")
    it_staff = [u for u in people.by_department.get("IT", []) if u["employeeId"] is not None] or people.staff
    for n, (name, rule, members) in enumerate(plans[:count]):
        dynamic = n == 0
        unit: Obj = {
            "id": guid(rng),
            "deletedDateTime": None,
            "description": f"Delegated administration for {name}",
            "displayName": name,
            "isMemberManagementRestricted": False,
            "membershipRule": rule if dynamic else None,
            "membershipRuleProcessingState": "On" if dynamic else None,
            "membershipType": "Dynamic" if dynamic else "Assigned",
            "visibility": "HiddenMembership" if n % 5 == 4 else None,
        }
        out.units.append(unit)
        ids = [u["id"] for u in members]
        if not dynamic and assignable and n % 2 == 1:
            ids.append(rng.choice(assignable)["id"])
        out.members[unit["id"]] = ids
        admin = rng.choice(it_staff)
        out.scoped.append(
            {
                "id": guid(rng),
                "administrativeUnitId": unit["id"],
                "roleId": BUILTIN_ROLES[_SCOPED_ROLES[n % len(_SCOPED_ROLES)]],
                "roleMemberInfo": {"id": admin["id"], "displayName": admin["displayName"]},
            }
        )
