"""Groups of every flavour Entra has, with memberships skewed like a real tenant's and a few owners.

Membership budget: about ``MEMBERSHIPS_PER_USER`` user memberships per user in total. Dynamic groups get
exactly the users their rule matches; the rest of the budget is spread over assigned groups with
log-normal weights, so a few groups are very large and most are small. Small tenants have too few groups
to reach the budget and end up below it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import accumulate

from emulator.generator.common import Obj, Tenant, cloud_sid, guid, iso, slug
from emulator.generator.names import DEPARTMENTS, GROUP_TOPICS, OFFICES
from emulator.generator.people import People

MEMBERSHIPS_PER_USER = 10
DYNAMIC_SHARE = 0.10
# Remaining groups after the fixed ones: kind -> weight.
KIND_WEIGHTS = {"security": 50, "unified": 30, "distribution": 8, "mail_security": 4, "synced": 8}


@dataclass
class Groups:
    groups: list[Obj] = field(default_factory=list)
    kind: dict[str, str] = field(default_factory=dict)  # group id -> kind (keys of KIND_WEIGHTS, or below)
    members: dict[str, list[str]] = field(default_factory=dict)
    owners: dict[str, list[str]] = field(default_factory=dict)
    # Fixed groups that policies and roles refer to.
    all_staff: Obj = field(default_factory=dict)
    ca_exclusions: Obj = field(default_factory=dict)
    managed_devices: Obj = field(default_factory=dict)  # synced; target of the compliant-device policy
    all_company: Obj = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> list[Obj]:
        return [g for g in self.groups if self.kind[g["id"]] in kinds]


class _Maker:
    def __init__(self, t: Tenant, rng: random.Random, out: Groups) -> None:
        self.t, self.rng, self.out = t, rng, out
        self.names: dict[str, int] = {}
        self.nicks: dict[str, int] = {}

    def _unique(self, taken: dict[str, int], text: str, sep: str) -> str:
        n = taken.get(text, 0) + 1
        taken[text] = n
        return text if n == 1 else f"{text}{sep}{n}"

    def make(self, kind: str, name: str, description: str) -> Obj:
        t, rng = self.t, self.rng
        gid = guid(rng)
        name = self._unique(self.names, name, " ")
        nick = self._unique(self.nicks, slug(name) or "group", "")
        created = iso(t.since_creation(rng, 7))
        group: Obj = {
            "id": gid,
            "deletedDateTime": None,
            "classification": None,
            "createdDateTime": created,
            "creationOptions": [],
            "description": description,
            "displayName": name,
            "expirationDateTime": None,
            "groupTypes": [],
            "isAssignableToRole": None,
            "mail": None,
            "mailEnabled": False,
            "mailNickname": nick,
            "membershipRule": None,
            "membershipRuleProcessingState": None,
            "onPremisesDomainName": None,
            "onPremisesLastSyncDateTime": None,
            "onPremisesNetBiosName": None,
            "onPremisesProvisioningErrors": [],
            "onPremisesSamAccountName": None,
            "onPremisesSecurityIdentifier": None,
            "onPremisesSyncEnabled": None,
            "preferredDataLocation": None,
            "preferredLanguage": None,
            "proxyAddresses": [],
            "renewedDateTime": created,
            "resourceBehaviorOptions": [],
            "resourceProvisioningOptions": [],
            "securityEnabled": True,
            "securityIdentifier": cloud_sid(gid),
            "serviceProvisioningErrors": [],
            "theme": None,
            "visibility": None,
        }
        mail = f"{nick}@{t.custom_domain}"
        mail_fields: Obj = {"mail": mail, "mailEnabled": True, "proxyAddresses": [f"SMTP:{mail}"]}
        if kind == "unified":
            team = rng.random() < 0.6
            group.update(
                mail_fields,
                groupTypes=["Unified"],
                securityEnabled=False,
                visibility="Public" if rng.random() < 0.4 else "Private",
                proxyAddresses=[f"SMTP:{mail}", f"smtp:{nick}@{t.initial_domain}"],
                creationOptions=["Team", "ExchangeProvisioningFlags:3552"] if team else [],
                resourceProvisioningOptions=["Team"] if team else [],
                resourceBehaviorOptions=["WelcomeEmailDisabled"] if rng.random() < 0.3 else [],
                renewedDateTime=iso(rng.uniform(t.created, t.now)) if rng.random() < 0.3 else created,
            )
            if group["renewedDateTime"] < created:
                group["renewedDateTime"] = created
        elif kind == "distribution":
            group.update(mail_fields, securityEnabled=False)
        elif kind == "mail_security":
            group.update(mail_fields)
        elif kind == "role_assignable":
            group.update(isAssignableToRole=True, visibility="Private")
        elif kind == "synced":
            sam = nick[:20]
            group.update(
                onPremisesSyncEnabled=True,
                onPremisesSamAccountName=sam,
                onPremisesDomainName=f"corp.{t.custom_domain}",
                onPremisesNetBiosName="CORP",
                onPremisesSecurityIdentifier=f"S-1-5-21-{rng.randrange(10**9)}-{rng.randrange(10**6)}",
                onPremisesLastSyncDateTime=iso(t.now - rng.randrange(60, 1_800)),
            )
        self.out.groups.append(group)
        self.out.kind[gid] = kind
        return group

    def dynamic(self, name: str, rule: str, description: str, member_ids: list[str]) -> Obj:
        group = self.make("dynamic", name, description)
        group.update(
            groupTypes=["DynamicMembership"], membershipRule=rule, membershipRuleProcessingState="On"
        )
        self.out.members[group["id"]] = member_ids
        return group


def generate_groups(t: Tenant, people: People, users: int) -> Groups:
    rng = t.rng("groups")
    out = Groups()
    mk = _Maker(t, rng, out)
    total = max(8, round(users / 10))
    staff_ids = [u["id"] for u in people.staff]
    synced_ids = [u["id"] for u in people.synced] or staff_ids
    dept_ids = {name: [u["id"] for u in us] for name, us in people.by_department.items()}
    it_ids = dept_ids.get("IT", staff_ids)

    # The fixed groups every tenant has; between them they cover every kind.
    out.all_staff = mk.dynamic(
        "All Staff",
        '(user.userType -eq "Member")',
        "Every member account; maintained by rule",
        [u["id"] for u in people.members],
    )
    helpdesk = mk.make("role_assignable", "RA-Helpdesk-Operators", "Holds the Helpdesk Administrator role")
    out.members[helpdesk["id"]] = rng.sample(it_ids, min(len(it_ids), 3))
    out.all_company = mk.make("unified", "All Company", "Company-wide announcements and discussion")
    finance_dl = mk.make("distribution", "DL-Finance-Announcements", "Finance team announcements")
    alerts = mk.make("mail_security", "MESG-Security-Alerts", "Receives security alerts; grants SOC tools")
    out.managed_devices = mk.make("synced", "CORP-Managed-Device-Users", "Users who must use managed devices")
    out.ca_exclusions = mk.make("security", "SG-CA-Exclusions", "Service accounts excluded from MFA policies")
    out.members[out.ca_exclusions["id"]] = rng.sample(staff_ids, min(2, len(staff_ids)))
    corporate = mk.make("nested", "SG-Corporate-Access", "Nested: every group that may reach corporate apps")
    parents = [corporate]

    # Dynamic groups by attribute, as far as the share allows.
    dynamic_budget = max(0, round(total * DYNAMIC_SHARE) - 1)
    for name, rule, ids in _dynamic_candidates(people)[:dynamic_budget]:
        mk.dynamic(name, rule, f"Members whose attributes match: {rule}", ids)
    rest = total - len(out.groups)
    for _ in range(min(4, 1 + rest // 100) if rest > 0 else 0):
        g = mk.make("role_assignable", f"RA-{rng.choice(GROUP_TOPICS)}", "Role-assignable group")
        out.members[g["id"]] = rng.sample(it_ids, min(len(it_ids), rng.randint(1, 6)))
    for _ in range(rest // 80):
        parents.append(mk.make("nested", f"SG-All-{rng.choice(GROUP_TOPICS)}", "Nested group of groups"))
    sampled = [out.all_company, finance_dl, alerts, out.managed_devices]
    kinds = list(KIND_WEIGHTS)
    cum = list(accumulate(KIND_WEIGHTS.values()))
    for kind in rng.choices(kinds, cum_weights=cum, k=max(0, total - len(out.groups))):
        dept = rng.choice(DEPARTMENTS).name
        topic = rng.choice(GROUP_TOPICS)
        name = {
            "security": f"SG-{slug(dept)}-{topic}",
            "unified": f"{dept} - {topic}",
            "distribution": f"DL-{dept} {topic}",
            "mail_security": f"MESG-{slug(dept)}-{topic}",
            "synced": f"CORP-{slug(dept)}-{topic}",
        }[kind]
        sampled.append(mk.make(kind, name, f"{topic} ({dept})"))

    used = sum(len(ids) for ids in out.members.values())
    _fill_sampled(rng, out, sampled, users * MEMBERSHIPS_PER_USER - used, staff_ids, synced_ids, dept_ids)
    guest_ids = [u["id"] for u in people.guests]
    for g in sampled:
        if out.kind[g["id"]] == "unified" and guest_ids and rng.random() < 0.3:
            out.members[g["id"]].extend(rng.sample(guest_ids, min(len(guest_ids), rng.randint(1, 3))))
    _nest(rng, out, parents)
    _add_owners(rng, out, staff_ids)
    return out


def _dynamic_candidates(people: People) -> list[tuple[str, str, list[str]]]:
    """(name, rule, matching user ids) in the order a tenant would create them."""
    found: list[tuple[str, str, list[str]]] = []
    if people.guests:
        found.append(("All Guests", '(user.userType -eq "Guest")', [u["id"] for u in people.guests]))
    by_pair: dict[tuple[str, str], list[str]] = {}
    for u in people.staff:
        by_pair.setdefault((u["department"], u["officeLocation"]), []).append(u["id"])
    for d in sorted(DEPARTMENTS, key=lambda d: -d.weight):
        if d.name in people.by_department:
            rule = f'(user.department -eq "{d.name}")'
            found.append((f"DYN-{d.name}", rule, [u["id"] for u in people.by_department[d.name]]))
    for o in sorted(OFFICES, key=lambda o: -o.weight):
        if o.name in people.by_office:
            rule = f'(user.officeLocation -eq "{o.name}")'
            found.append((f"DYN-Office-{o.name}", rule, [u["id"] for u in people.by_office[o.name]]))
    for (dept, office), ids in sorted(by_pair.items(), key=lambda kv: -len(kv[1])):
        rule = f'(user.department -eq "{dept}") and (user.officeLocation -eq "{office}")'
        found.append((f"DYN-{dept}-{office}", rule, ids))
    return found


def _fill_sampled(
    rng: random.Random,
    out: Groups,
    groups: list[Obj],
    budget: int,
    staff_ids: list[str],
    synced_ids: list[str],
    dept_ids: dict[str, list[str]],
) -> None:
    """Water-fill ``budget`` memberships over ``groups`` by log-normal weight, capped at each pool's size."""
    weights = [rng.lognormvariate(0, 1.25) for _ in groups]
    weights[0] = max(weights) * 3  # All Company is one of the largest
    caps = [len(synced_ids if out.kind[g["id"]] == "synced" else staff_ids) for g in groups]
    fixed: dict[int, int] = {}
    for _ in range(8):
        left = max(0, budget - sum(fixed.values()))
        free = [i for i in range(len(groups)) if i not in fixed]
        spread = sum(weights[i] for i in free) or 1.0
        full = [i for i in free if left * weights[i] / spread >= caps[i]]
        if not full:
            break
        fixed.update((i, caps[i]) for i in full)
    left = max(0, budget - sum(fixed.values()))
    spread = sum(weights[i] for i in range(len(groups)) if i not in fixed) or 1.0
    dept_pools = list(dept_ids.values())
    for i, g in enumerate(groups):
        size = fixed.get(i) or max(1, round(left * weights[i] / spread))
        synced = out.kind[g["id"]] == "synced"
        pool = synced_ids if synced else staff_ids
        if not synced and size < len(pool) // 2 and rng.random() < 0.65:
            # Most groups are drawn from one team when it is large enough.
            team = rng.choice(dept_pools)
            if size <= len(team):
                pool = team
        out.members[g["id"]] = rng.sample(pool, min(size, len(pool)))


def _nest(rng: random.Random, out: Groups, parents: list[Obj]) -> None:
    """Put security groups inside the nested parents; parents are never children, so nesting is acyclic."""
    parent_ids = {p["id"] for p in parents}
    children = [
        g["id"]
        for g in out.groups
        if out.kind[g["id"]] in ("security", "synced", "dynamic") and g["id"] not in parent_ids
    ]
    for p in parents:
        picked = rng.sample(children, min(len(children), rng.randint(2, 4)))
        if p is parents[0] and out.managed_devices["id"] not in picked:
            picked[0:0] = [out.managed_devices["id"]]
        out.members[p["id"]] = picked


def _add_owners(rng: random.Random, out: Groups, staff_ids: list[str]) -> None:
    share = {"unified": 0.9, "distribution": 0.5, "mail_security": 0.4, "security": 0.3, "nested": 0.5}
    share["dynamic"] = 0.2
    for g in out.groups:
        if rng.random() < share.get(out.kind[g["id"]], 0.0):
            out.owners[g["id"]] = rng.sample(staff_ids, rng.randint(1, 2))
