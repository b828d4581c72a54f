"""Deterministic Entra ID tenants for the emulator: 20-user unit-test tenants up to 100,000-user benchmarks.

``generate_tenant`` returns a :class:`~emulator.protocol.TenantSeed` of Graph-shaped dicts. The same
arguments give byte-identical output: every random choice comes from a ``random.Random`` seeded from
``seed`` (one stream per part of the tenant) and every timestamp is relative to ``now``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from emulator.generator.apps import generate_apps
from emulator.generator.common import DAY, Tenant, guid, slug
from emulator.generator.groups import generate_groups
from emulator.generator.logs import generate_logs
from emulator.generator.names import COMPANIES
from emulator.generator.org import generate_org
from emulator.generator.people import BREAK_GLASS_UPN_PREFIX, generate_people
from emulator.generator.policies import generate_policies
from emulator.generator.roles import BUILTIN_ROLES, PRIVILEGED_ROLE_TEMPLATE_IDS, generate_roles
from emulator.generator.settings import (
    authentication_methods_policy,
    authorization_policy,
    cross_tenant_access_default,
    cross_tenant_access_policy,
    cross_tenant_partners,
)
from emulator.protocol import TenantSeed

__all__ = [
    "BREAK_GLASS_UPN_PREFIX",
    "BUILTIN_ROLES",
    "DEFAULT_NOW",
    "PRIVILEGED_ROLE_TEMPLATE_IDS",
    "generate_tenant",
]

DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=UTC)
_ONMICROSOFT = ".onmicrosoft.com"


def _domains(domain: str | None, base: str) -> tuple[str, str, str]:
    """(initial, custom, federated); ``domain`` is the initial domain, or else the custom one."""
    if domain is None:
        return base + _ONMICROSOFT, base + ".com", base + ".net"
    domain = domain.lower()
    if domain.endswith(_ONMICROSOFT):
        label = domain.removesuffix(_ONMICROSOFT)
        return domain, label + ".com", label + ".net"
    label = domain.split(".")[0]
    return label + _ONMICROSOFT, domain, label + "-corp.net"


def generate_tenant(
    tenant_id: str | None = None,
    *,
    users: int = 50,
    seed: int = 1,
    domain: str | None = None,
    now: datetime | None = None,
) -> TenantSeed:
    """A whole tenant of ``users`` users (at least 10), sized proportionally; see the module docs."""
    moment = now or DEFAULT_NOW
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    identity = random.Random(f"{seed}/identity")
    drawn_id = guid(identity)  # drawn even when given, so the rest of the stream does not depend on it
    company = COMPANIES[seed % len(COMPANIES)]
    initial, custom, federated = _domains(domain, f"{slug(company)}-{seed}")
    now_ts = int(moment.timestamp())
    t = Tenant(
        seed=seed,
        now=now_ts,
        tenant_id=(tenant_id or drawn_id).lower(),
        company=company,
        initial_domain=initial,
        custom_domain=custom,
        federated_domain=federated,
        extension_app_id=guid(identity),
        created=now_ts - identity.randint(5 * 365, 8 * 365) * DAY,
    )
    people = generate_people(t, users)
    groups = generate_groups(t, people, users)
    apps = generate_apps(t, people, groups, users)
    org = generate_org(t, people, groups, users)
    roles = generate_roles(t, people, groups, apps, org.scoped, users)
    policies = generate_policies(t, people, groups, apps)
    logs = generate_logs(t, people, groups, apps, policies, users)
    return TenantSeed(
        tenant_id=t.tenant_id,
        default_domain=t.initial_domain,
        collections={
            "users": people.users,
            "groups": groups.groups,
            "applications": apps.applications,
            "servicePrincipals": apps.service_principals,
            "oauth2PermissionGrants": apps.grants,
            "appRoleAssignments": apps.app_role_assignments,
            "roleDefinitions": roles.definitions,
            "roleAssignments": roles.assignments,
            "roleEligibilitySchedules": roles.eligibility,
            "conditionalAccessPolicies": policies.conditional_access,
            "namedLocations": policies.named_locations,
            "authenticationStrengthPolicies": policies.strengths,
            "administrativeUnits": org.units,
            "scopedRoleMemberships": org.scoped,
            "domains": org.domains,
            "organization": [org.organization],
            "crossTenantAccessPartners": cross_tenant_partners(t, users),
            "directoryAudits": logs.audits,
            "signIns": logs.sign_ins,
        },
        singletons={
            "authenticationMethodsPolicy": authentication_methods_policy(t, groups),
            "authorizationPolicy": authorization_policy(),
            "crossTenantAccessPolicy": cross_tenant_access_policy(),
            "crossTenantAccessDefault": cross_tenant_access_default(),
        },
        members={**groups.members, **org.members},
        owners={**groups.owners, **apps.owners},
        manager=people.manager,
    )
