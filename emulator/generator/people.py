"""Users: staff in a reporting tree, dedicated admin accounts, break-glass accounts and invited guests."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from itertools import accumulate

from emulator.generator.common import DAY, Obj, Tenant, cloud_sid, guid, iso
from emulator.generator.names import DEPARTMENTS, GIVEN_NAMES, GUEST_DOMAINS, OFFICES, SURNAMES, Office

BREAK_GLASS_UPN_PREFIX = "breakglass"
EXTENSION_ATTRIBUTES = tuple(f"extensionAttribute{i}" for i in range(1, 16))
SKU_M365_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
SKU_M365_E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
SKU_ENTRA_ID_P2 = "84a661c4-e949-4bd2-a560-ed7766fcaf2b"
PLAN_YAMMER = "7547a3fe-08ee-4ccb-b430-5077c5041653"

GUEST_SHARE = 0.05
SYNCED_SHARE = 0.20
DISABLED_SHARE = 0.03
SPAN_OF_CONTROL = 6  # reports per manager, on average


@dataclass
class People:
    users: list[Obj] = field(default_factory=list)
    manager: dict[str, str] = field(default_factory=dict)
    break_glass: list[Obj] = field(default_factory=list)
    admins: list[Obj] = field(default_factory=list)  # cloud-only accounts that hold directory roles
    staff: list[Obj] = field(default_factory=list)  # everyone else of userType Member; the CEO first
    guests: list[Obj] = field(default_factory=list)
    by_department: dict[str, list[Obj]] = field(default_factory=dict)  # staff and admins
    by_office: dict[str, list[Obj]] = field(default_factory=dict)  # staff
    synced: list[Obj] = field(default_factory=list)

    @property
    def members(self) -> list[Obj]:
        return self.break_glass + self.admins + self.staff


def admin_count(users: int) -> int:
    return 3 + min(7, users // 5_000)


def generate_people(t: Tenant, users: int) -> People:
    rng = t.rng("people")
    guests = max(1, round(users * GUEST_SHARE))
    admins = admin_count(users)
    staff = users - 2 - admins - guests
    if staff < 3:
        raise ValueError(f"a tenant needs at least {users - staff + 3} users, got {users}")
    people = People()
    names = _NameBook(rng)
    for n in (1, 2):
        people.break_glass.append(_break_glass(t, rng, n))
    for _ in range(admins):
        people.admins.append(_admin(t, rng, names))
    _add_staff(t, rng, names, people, staff, synced_share=min(1.0, SYNCED_SHARE * users / staff))
    for _ in range(guests):
        people.guests.append(_guest(t, rng, names))
    people.users = people.break_glass + people.admins + people.staff + people.guests
    people.by_department.setdefault("IT", []).extend(people.admins)
    return people


class _NameBook:
    """Hands out unique mail local parts (``first.last``, then ``first.last2``…)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: dict[str, int] = {}

    def person(self) -> tuple[str, str]:
        return self.rng.choice(GIVEN_NAMES), self.rng.choice(SURNAMES)

    def unique(self, local: str) -> str:
        n = self.taken.get(local, 0) + 1
        self.taken[local] = n
        return local if n == 1 else f"{local}{n}"


def _user(t: Tenant, uid: str, upn: str, display: str, nick: str, created: int, enabled: bool) -> Obj:
    """Every user property Graph returns, with Graph's nulls; callers fill in what the account has."""
    return {
        "id": uid,
        "deletedDateTime": None,
        "accountEnabled": enabled,
        "ageGroup": None,
        "businessPhones": [],
        "city": None,
        "companyName": None,
        "consentProvidedForMinor": None,
        "country": None,
        "createdDateTime": iso(created),
        "creationType": None,
        "department": None,
        "displayName": display,
        "employeeHireDate": None,
        "employeeId": None,
        "employeeType": None,
        "externalUserState": None,
        "externalUserStateChangeDateTime": None,
        "faxNumber": None,
        "givenName": None,
        "identities": [
            {"signInType": "userPrincipalName", "issuer": t.initial_domain, "issuerAssignedId": upn}
        ],
        "imAddresses": [],
        "jobTitle": None,
        "legalAgeGroupClassification": None,
        "mail": None,
        "mailNickname": nick,
        "mobilePhone": None,
        "officeLocation": None,
        "onPremisesDistinguishedName": None,
        "onPremisesDomainName": None,
        "onPremisesExtensionAttributes": dict.fromkeys(EXTENSION_ATTRIBUTES),
        "onPremisesImmutableId": None,
        "onPremisesLastSyncDateTime": None,
        "onPremisesProvisioningErrors": [],
        "onPremisesSamAccountName": None,
        "onPremisesSecurityIdentifier": None,
        "onPremisesSyncEnabled": None,
        "onPremisesUserPrincipalName": None,
        "otherMails": [],
        "passwordPolicies": None,
        "postalCode": None,
        "preferredDataLocation": None,
        "preferredLanguage": None,
        "proxyAddresses": [],
        "securityIdentifier": cloud_sid(uid),
        "showInAddressList": None,
        "signInSessionsValidFromDateTime": iso(created),
        "state": None,
        "streetAddress": None,
        "surname": None,
        "usageLocation": None,
        "userPrincipalName": upn,
        "userType": "Member",
        "assignedLicenses": [],
        "signInActivity": None,
    }


def _sign_in_activity(t: Tenant, rng: random.Random, created: int, recent_days: float) -> Obj:
    """Volatile last-sign-in stamps; ``recent_days`` is the typical gap since the last interactive one."""
    if rng.random() < 0.04:
        return dict.fromkeys(
            (
                "lastSignInDateTime",
                "lastSignInRequestId",
                "lastNonInteractiveSignInDateTime",
                "lastNonInteractiveSignInRequestId",
                "lastSuccessfulSignInDateTime",
                "lastSuccessfulSignInRequestId",
            )
        )
    interactive = max(created, t.now - int(min(rng.expovariate(1 / recent_days), 180) * DAY))
    background = max(created, t.now - int(rng.expovariate(2.0) * DAY))
    latest, latest_id = max(interactive, background), guid(rng)
    return {
        "lastSignInDateTime": iso(interactive),
        "lastSignInRequestId": guid(rng),
        "lastNonInteractiveSignInDateTime": iso(background),
        "lastNonInteractiveSignInRequestId": latest_id,
        "lastSuccessfulSignInDateTime": iso(latest),
        "lastSuccessfulSignInRequestId": latest_id,
    }


def _break_glass(t: Tenant, rng: random.Random, n: int) -> Obj:
    local = f"{BREAK_GLASS_UPN_PREFIX}{n}"
    created = t.created + DAY + n * 60
    user = _user(
        t, guid(rng), f"{local}@{t.initial_domain}", f"Break Glass Account {n}", local, created, True
    )
    user["passwordPolicies"] = "DisablePasswordExpiration"
    user["usageLocation"] = "US"
    # Signed in only by the quarterly access test.
    user["signInActivity"] = _sign_in_activity(t, rng, created, 45.0)
    return user


def _admin(t: Tenant, rng: random.Random, names: _NameBook) -> Obj:
    given, surname = names.person()
    local = names.unique(f"adm-{given}.{surname}".lower())
    created = t.since_creation(rng, 30)
    user = _user(
        t, guid(rng), f"{local}@{t.initial_domain}", f"{given} {surname} (Admin)", local, created, True
    )
    user.update(
        givenName=given,
        surname=surname,
        department="IT",
        companyName=t.company,
        usageLocation="US",
        assignedLicenses=[{"skuId": SKU_ENTRA_ID_P2, "disabledPlans": []}],
        signInActivity=_sign_in_activity(t, rng, created, 3.0),
    )
    return user


def _guest(t: Tenant, rng: random.Random, names: _NameBook) -> Obj:
    given, surname = names.person()
    home = rng.choice(GUEST_DOMAINS)
    external = names.unique(f"{given}.{surname}".lower() + "@" + home)
    nick = external.replace("@", "_") + "#EXT#"
    created = t.since_creation(rng, 60)
    accepted = rng.random() < 0.85
    user = _user(t, guid(rng), f"{nick}@{t.initial_domain}", f"{given} {surname}", nick, created, True)
    issuer = {"gmail.com": "mail", "outlook.com": "MicrosoftAccount"}.get(home, "ExternalAzureAD")
    user.update(
        accountEnabled=rng.random() >= DISABLED_SHARE,
        givenName=given,
        surname=surname,
        mail=external,
        otherMails=[external],
        proxyAddresses=[f"SMTP:{external}"],
        userType="Guest",
        creationType="Invitation",
        externalUserState="Accepted" if accepted else "PendingAcceptance",
        externalUserStateChangeDateTime=iso(created + rng.randrange(60, 3 * DAY)),
        identities=[{"signInType": "federated", "issuer": issuer, "issuerAssignedId": None}],
        signInActivity=_sign_in_activity(t, rng, created, 20.0) if accepted else None,
    )
    return user


def _add_staff(
    t: Tenant, rng: random.Random, names: _NameBook, people: People, count: int, synced_share: float
) -> None:
    """Staff in a reporting tree: CEO, one head per department reporting to the CEO, then managers.

    Within a department, person ``k`` reports to one of the first ``k // SPAN_OF_CONTROL`` people, so every
    manager comes earlier than their reports and the tree has no cycles.
    """
    depts = rng.choices(DEPARTMENTS, cum_weights=list(accumulate(d.weight for d in DEPARTMENTS)), k=count)
    depts[0] = DEPARTMENTS[0]  # the CEO heads Executive
    offices = rng.choices(OFFICES, cum_weights=list(accumulate(o.weight for o in OFFICES)), k=count)
    headcount: dict[str, int] = {}
    for d in depts:
        headcount[d.name] = headcount.get(d.name, 0) + 1
    by_dept = people.by_department
    domain_sid = "-".join(str(rng.randrange(10**9, 4 * 10**9)) for _ in range(3))
    ext_cost_centre = f"extension_{t.extension_app_id.replace('-', '')}_costCenter"
    on_prem_dn = ",".join(f"DC={part}" for part in ("corp", *t.custom_domain.split(".")))
    ceo_id = ""
    for i in range(count):
        dept, office = depts[i], offices[i]
        colleagues = by_dept.setdefault(dept.name, [])
        pos = len(colleagues)
        given, surname = names.person()
        synced = rng.random() < synced_share
        domain = t.federated_domain if synced and rng.random() < 0.3 else t.custom_domain
        local = names.unique(f"{given}.{surname}".lower())
        upn = f"{local}@{domain}"
        created = t.since_creation(rng, 2)
        uid = guid(rng)
        enabled = i == 0 or rng.random() >= DISABLED_SHARE
        user = _user(t, uid, upn, f"{given} {surname}", local, created, enabled)
        if i == 0:
            title = "Chief Executive Officer"
        elif pos == 0:
            title = f"VP, {dept.name}"
        elif pos * SPAN_OF_CONTROL < headcount[dept.name] and dept is not DEPARTMENTS[0]:
            title = f"{dept.name} Manager"
        else:
            title = rng.choice(dept.titles)
        cost_centre = f"CC-{dept.code}{100 + rng.randrange(40)}"
        user.update(
            givenName=given,
            surname=surname,
            mail=upn,
            jobTitle=title,
            department=dept.name,
            companyName=t.company,
            officeLocation=office.name,
            city=office.city,
            state=office.state,
            country=office.country,
            streetAddress=office.street,
            postalCode=office.postal_code,
            usageLocation=office.country_code,
            preferredLanguage=office.language,
            businessPhones=[f"{office.phone_prefix} {rng.randrange(10_000):04d}"]
            if rng.random() < 0.7
            else [],
            mobilePhone=_mobile(rng, office) if rng.random() < 0.6 else None,
            employeeId=str(100_000 + i),
            employeeType="Contractor" if rng.random() < 0.08 else "Employee",
            employeeHireDate=iso(created - created % DAY),
            proxyAddresses=[f"SMTP:{upn}", f"smtp:{local}@{t.initial_domain}"],
            assignedLicenses=_licenses(rng),
            signInActivity=_sign_in_activity(t, rng, created, 2.0 if enabled else 90.0),
        )
        if rng.random() < 0.4:
            user[ext_cost_centre] = cost_centre
        if synced:
            ext = user["onPremisesExtensionAttributes"]
            ext["extensionAttribute1"] = cost_centre
            ext["extensionAttribute2"] = user["employeeType"]
            user.update(
                onPremisesSyncEnabled=True,
                onPremisesImmutableId=base64.b64encode(rng.getrandbits(128).to_bytes(16, "little")).decode(),
                onPremisesSamAccountName=local[:20],
                onPremisesUserPrincipalName=upn,
                onPremisesDomainName=f"corp.{t.custom_domain}",
                onPremisesDistinguishedName=f"CN={given} {surname},OU={dept.name},OU=Staff,{on_prem_dn}",
                onPremisesSecurityIdentifier=f"S-1-5-21-{domain_sid}-{1_100 + i}",
                onPremisesLastSyncDateTime=iso(t.now - rng.randrange(60, 1_800)),
            )
            people.synced.append(user)
        if i == 0:
            ceo_id = uid
        elif pos == 0:
            people.manager[uid] = ceo_id
        else:
            people.manager[uid] = colleagues[rng.randrange(max(1, pos // SPAN_OF_CONTROL))]["id"]
        colleagues.append(user)
        people.by_office.setdefault(office.name, []).append(user)
        people.staff.append(user)


def _mobile(rng: random.Random, office: Office) -> str:
    return f"{office.phone_prefix} {rng.randrange(10_000):04d}"


def _licenses(rng: random.Random) -> list[Obj]:
    if rng.random() < 0.3:
        return [{"skuId": SKU_M365_E5, "disabledPlans": []}]
    return [{"skuId": SKU_M365_E3, "disabledPlans": [PLAN_YAMMER] if rng.random() < 0.5 else []}]
