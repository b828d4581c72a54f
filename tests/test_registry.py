"""The registry describes every type graph-api.md section 1 lists, consistently."""

from __future__ import annotations

import pytest

from core import permissions
from core.registry import (
    OBJECT_TYPES,
    Refresh,
    UnknownType,
    children_of,
    dependencies,
    object_type,
    restore_order,
)

NAMES = {t.name for t in OBJECT_TYPES}


def test_every_reference_section_type_is_registered() -> None:
    expected = {
        "user", "group", "application", "servicePrincipal", "appRoleAssignment", "oauth2PermissionGrant",
        "unifiedRoleDefinition", "unifiedRoleAssignment", "unifiedRoleEligibilitySchedule",
        "conditionalAccessPolicy", "namedLocation", "authenticationStrengthPolicy",
        "authenticationMethodsPolicy",
        "authorizationPolicy", "crossTenantAccessPolicy", "crossTenantAccessPolicyConfigurationDefault",
        "crossTenantAccessPolicyConfigurationPartner", "administrativeUnit", "domain", "organization",
    }  # fmt: skip
    assert expected == NAMES


def test_references_and_relationships_point_at_registered_types() -> None:
    for t in OBJECT_TYPES:
        for ref in t.references:
            assert set(ref.targets) <= NAMES, (t.name, ref.path)
        for rel in t.relationships:
            assert set(rel.targets) <= NAMES, (t.name, rel.name)
        if t.parent:
            assert t.parent in NAMES


def test_read_permissions_are_the_ones_doctor_checks() -> None:
    backup = {r.permission for r in permissions.BACKUP}
    restore = {r.permission for r in permissions.RESTORE}
    for t in OBJECT_TYPES:
        assert t.read_permission in backup, t.name
        assert t.write_permission is None or t.write_permission in restore, t.name


def test_restore_order_puts_dependencies_first() -> None:
    order = [t.name for t in restore_order()]
    assert sorted(order) == sorted(NAMES)
    for t in OBJECT_TYPES:
        for dep in dependencies(t):
            assert order.index(dep) < order.index(t.name), (dep, t.name)
    assert order.index("namedLocation") < order.index("conditionalAccessPolicy")
    assert order.index("group") < order.index("conditionalAccessPolicy")
    assert order.index("servicePrincipal") < order.index("appRoleAssignment")
    assert order.index("servicePrincipal") < order.index("oauth2PermissionGrant")


def test_conditional_access_references_skip_special_values() -> None:
    policy = {
        "conditions": {
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": ["u-breakglass-1", "u-breakglass-2"],
                "includeGroups": [],
                "excludeGroups": ["g-1"],
                "includeRoles": ["62e90394-69f5-4237-9190-012177145e10"],
            },
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted", "loc-1"]},
        },
        "grantControls": {"authenticationStrength": {"id": "strength-1"}},
    }
    found = [
        (ref.path.rsplit(".", 1)[-1], value)
        for ref, value in object_type("conditionalAccessPolicy").referenced_ids(policy)
    ]
    assert found == [
        ("excludeUsers", "u-breakglass-1"),
        ("excludeUsers", "u-breakglass-2"),
        ("excludeGroups", "g-1"),
        ("includeRoles", "62e90394-69f5-4237-9190-012177145e10"),
        ("excludeLocations", "loc-1"),
        ("id", "strength-1"),
    ]


def test_lookup_by_name_plural_or_title() -> None:
    assert object_type("users").name == "user"
    assert object_type("Conditional Access policies").name == "conditionalAccessPolicy"
    assert object_type("GROUP").name == "group"
    with pytest.raises(UnknownType, match="unknown object type 'gadgets': choose from"):
        object_type("gadgets")


def test_delta_types_and_how_relationships_refresh() -> None:
    with_delta = {t.name for t in OBJECT_TYPES if t.has_delta}
    assert with_delta == {
        "user",
        "group",
        "application",
        "servicePrincipal",
        "administrativeUnit",
        "oauth2PermissionGrant",
    }
    assert object_type("group").delta_select()[-2:] == ("members", "owners")
    assert object_type("user").delta_select()[-1] == "manager"
    assert all(r.refresh is not Refresh.DELTA for r in object_type("application").relationships)
    assert [t.name for t in children_of("servicePrincipal")] == ["appRoleAssignment"]


def test_volatile_properties_are_never_restored() -> None:
    for t in OBJECT_TYPES:
        assert not (t.volatile & set(t.select)) or t.volatile & set(t.select) <= t.read_only | t.unrestorable
