"""How risky each planned action is: what the plan summary ranks first and what approvers look at."""

from __future__ import annotations

from typing import Any

from core.registry import ObjectType
from core.restore.model import RISK_ORDER, Operation, Risk, role_assignable
from core.snapshots import StoredObject

_HIGH_TYPES = frozenset(
    {
        "namedLocation",
        "authenticationStrengthPolicy",
        "unifiedRoleDefinition",
        "authenticationMethodsPolicy",
        "authorizationPolicy",
        "crossTenantAccessPolicy",
        "crossTenantAccessPolicyConfigurationDefault",
        "crossTenantAccessPolicyConfigurationPartner",
    }
)
_MEDIUM_TYPES = frozenset({"application", "servicePrincipal", "appRoleAssignment", "oauth2PermissionGrant"})


def object_risk(t: ObjectType, obj: dict[str, Any]) -> Risk:
    """Bringing the object back at all (restore or recreate)."""
    if t.name in ("unifiedRoleAssignment", "unifiedRoleEligibilitySchedule"):
        return Risk.CRITICAL
    if t.name == "conditionalAccessPolicy" or t.name in _HIGH_TYPES or role_assignable(obj):
        return Risk.HIGH
    if t.name in _MEDIUM_TYPES:
        return Risk.MEDIUM
    return Risk.LOW


def patch_risk(t: ObjectType, obj: dict[str, Any], body: dict[str, Any]) -> Risk:
    if t.name == "conditionalAccessPolicy" and ("state" in body or "conditions" in body):
        return Risk.CRITICAL  # what an enforced policy applies to, or whether it is enforced
    base = object_risk(t, obj)
    if t.name == "user" and "accountEnabled" in body and RISK_ORDER[base] < RISK_ORDER[Risk.MEDIUM]:
        return Risk.MEDIUM  # enabling or disabling sign-in
    return base


def link_risk(t: ObjectType, stored: StoredObject | None, op: Operation) -> Risk:
    if role_assignable(stored.object if stored else None):
        return Risk.CRITICAL
    if t.name in ("administrativeUnit", "servicePrincipal", "application"):
        return Risk.MEDIUM
    return Risk.MEDIUM if op is Operation.REMOVE_LINK else Risk.LOW
