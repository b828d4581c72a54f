"""Which properties restore may write per type, the POST body of a recreate, and the PATCH of a difference."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from core.diff.fields import field_changes
from core.registry import ObjectType
from core.restore.model import PropertyChange

GENERATED_PASSWORD = "<generated>"  # the executor puts a fresh random password here; never stored
REPORT_ONLY = "enabledForReportingButNotEnforced"

# Timestamps and server bookkeeping: never written, and a difference in them is not worth a line.
SERVER_FIELDS = frozenset(
    {
        "id",
        "createdDateTime",
        "deletedDateTime",
        "modifiedDateTime",
        "lastModifiedDateTime",
        "renewedDateTime",
    }
    | {"expirationDateTime", "onPremisesLastSyncDateTime", "securityIdentifier", "policyVersion"}
)
# Properties Graph will not take in a PATCH (create-only, derived, or written through another call).
NOT_PATCHED: dict[str, frozenset[str]] = {
    "user": frozenset(
        {"proxyAddresses", "assignedLicenses", "identities", "creationType", "onPremisesImmutableId"}
        | {"onPremisesExtensionAttributes", "onPremisesSamAccountName", "mail"}
    ),
    "group": frozenset(
        {
            "isAssignableToRole",
            "resourceProvisioningOptions",
            "groupTypes",
            "mailEnabled",
            "onPremisesSyncEnabled",
        }
    ),
    "servicePrincipal": frozenset(
        {"appDisplayName", "servicePrincipalType", "signInAudience", "appRoles", "oauth2PermissionScopes"}
        | {"publisherName", "applicationTemplateId", "alternativeNames", "servicePrincipalNames", "info"}
        | {"verifiedPublisher", "resourceSpecificApplicationPermissions", "appDescription", "addIns"}
    ),
    "application": frozenset({"verifiedPublisher", "certification", "applicationTemplateId"}),
    "authenticationStrengthPolicy": frozenset({"combinationConfigurations"}),
    "unifiedRoleDefinition": frozenset({"isBuiltIn", "inheritsPermissionsFrom"}),
}
# Objects that are only ever created, never changed in place: a difference is a recreate or nothing.
CREATE_ONLY_FIELDS: dict[str, tuple[str, ...]] = {
    "appRoleAssignment": ("principalId", "resourceId", "appRoleId"),
    "oauth2PermissionGrant": ("clientId", "consentType", "principalId", "resourceId", "scope"),
    "unifiedRoleAssignment": ("principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"),
    "unifiedRoleEligibilitySchedule": ("principalId", "roleDefinitionId", "directoryScopeId", "scheduleInfo"),
}
# Read-only properties a create must not carry although Graph returns them.
CREATE_SKIP: dict[str, frozenset[str]] = {
    "application": frozenset({"verifiedPublisher", "certification", "applicationTemplateId"}),
}
SERVICE_PRINCIPAL_CREATE = (
    "appId",
    "displayName",
    "accountEnabled",
    "appRoleAssignmentRequired",
    "tags",
    "notes",
    "notificationEmailAddresses",
    "preferredSingleSignOnMode",
    "loginUrl",
    "logoutUrl",
    "homepage",
    "replyUrls",
    "description",
)
SECRETS = ("passwordCredentials", "keyCredentials")
PATCHABLE_ASSIGNMENTS = {"oauth2PermissionGrant": ("scope",)}


def dynamic_members(t: ObjectType, obj: Mapping[str, Any]) -> bool:
    """A dynamic group's (or AU's) members follow its rule: they are never added or removed by hand."""
    kinds = obj.get("groupTypes") or []
    return "DynamicMembership" in kinds or obj.get("membershipType") == "Dynamic"


def never_written(t: ObjectType) -> frozenset[str]:
    return SERVER_FIELDS | t.read_only | t.unrestorable | t.volatile | NOT_PATCHED.get(t.name, frozenset())


def writable(t: ObjectType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The properties a PATCH may carry."""
    if t.name in CREATE_ONLY_FIELDS:
        allowed = PATCHABLE_ASSIGNMENTS.get(t.name, ())
        return {k: obj[k] for k in allowed if k in obj}
    skip = never_written(t)
    return {k: v for k, v in obj.items() if k not in skip and not k.startswith("@")}


def create_body(t: ObjectType, obj: Mapping[str, Any], *, report_only: bool) -> dict[str, Any]:
    """The POST body that recreates ``obj`` (snapshot ids inside; the executor remaps them)."""
    if t.name in CREATE_ONLY_FIELDS:
        return {k: copy.deepcopy(obj[k]) for k in CREATE_ONLY_FIELDS[t.name] if obj.get(k) is not None}
    if t.name == "servicePrincipal":
        return {k: copy.deepcopy(obj[k]) for k in SERVICE_PRINCIPAL_CREATE if obj.get(k) is not None}
    skip = (
        SERVER_FIELDS | t.unrestorable | t.volatile | t.read_only | CREATE_SKIP.get(t.name, frozenset())
    ) - set(_create_keys(t))
    body = {
        k: copy.deepcopy(v)
        for k, v in obj.items()
        if k not in skip and v is not None and not k.startswith("@")
    }
    if t.name == "user":
        body["passwordProfile"] = {"password": GENERATED_PASSWORD, "forceChangePasswordNextSignIn": True}
        for name in ("proxyAddresses", "assignedLicenses", "identities", "onPremisesSamAccountName"):
            body.pop(name, None)
    if t.name == "group":
        body.pop("proxyAddresses", None)
    if t.name == "conditionalAccessPolicy" and report_only and body.get("state") == "enabled":
        body["state"] = REPORT_ONLY
    if t.name == "namedLocation":
        body["@odata.type"] = named_location_type(obj)
    if t.name == "authenticationStrengthPolicy":
        body = {k: body[k] for k in ("displayName", "description", "allowedCombinations") if k in body}
    return body


def _create_keys(t: ObjectType) -> tuple[str, ...]:
    # Kept although read-only: a partner's key (tenantId) is sent; an app's old appId tells the executor
    # which value the new appId replaces (it leaves it out of the request).
    if t.name == "application":
        return ("appId",)
    return (t.id_field,) if t.id_field != "id" else ()


def named_location_type(obj: Mapping[str, Any]) -> str:
    """Backup drops OData annotations; a named location's kind shows in its properties."""
    if "@odata.type" in obj:
        return str(obj["@odata.type"])
    if "countriesAndRegions" in obj:
        return "#microsoft.graph.countryNamedLocation"
    return "#microsoft.graph.ipNamedLocation"


def differences(
    t: ObjectType, snapshot: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[dict[str, Any], list[PropertyChange], list[str]]:
    """What a PATCH must write to bring ``live`` back to ``snapshot``: the body (top-level properties),
    the changes for the preview (dotted paths), and the differing properties that cannot be written."""
    allowed = writable(t, snapshot)
    body: dict[str, Any] = {}
    changes: list[PropertyChange] = []
    unwritable: list[str] = []
    for key in sorted(snapshot):
        if key.startswith("@") or key in SERVER_FIELDS or key in t.volatile:
            continue
        old, new = live.get(key), snapshot[key]
        if _same(old, new):
            continue
        if key not in allowed:
            unwritable.append(key)
            continue
        body[key] = copy.deepcopy(new)
        found = field_changes(old, new, key)
        changes.extend(PropertyChange(c.path, c.old, c.new) for c in found)
        if not found:
            changes.append(PropertyChange(key, old, new))
    if body and t.name == "namedLocation":
        body["@odata.type"] = named_location_type(snapshot)
    return body, changes, unwritable


def _same(live: Any, snapshot: Any) -> bool:
    # Graph leaves an unset list as [] in one read and null in another: neither is a change to restore.
    if live in (None, []) and snapshot in (None, []):
        return True
    return bool(live == snapshot)


def values_at(obj: Mapping[str, Any], path: str) -> list[Any]:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return list(node) if isinstance(node, list) else ([node] if node is not None else [])


def with_value_at(obj: Mapping[str, Any], path: str, value: str) -> dict[str, Any]:
    """A copy of ``obj`` whose list at ``path`` also holds ``value`` (a single-valued path is set)."""
    out = copy.deepcopy(dict(obj))
    node: dict[str, Any] = out
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    current = node.get(last)
    if last == "id":
        node[last] = value
    elif isinstance(current, list):
        if value not in current:
            node[last] = [*current, value]
    else:
        node[last] = [value]
    return out
