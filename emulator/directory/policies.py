"""Conditional Access, named locations, authentication strengths, cross-tenant partners, policy singletons
and PIM eligibility requests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from emulator.protocol import GraphResponse

from .clock import iso
from .context import Ctx
from .errors import bad_request, conflict, missing_reference, not_found, read_only
from .types import SINGLETON_READ_ONLY, TYPES, Obj
from .validation import body_of, require, resolve_ref

if TYPE_CHECKING:
    from .tenant import Tenant

# Values Graph accepts in CA user, group and location lists besides object ids.
SPECIAL_REFERENCES = frozenset({"All", "None", "GuestsOrExternalUsers", "AllTrusted"})
_CA_STATES = frozenset({"enabled", "disabled", "enabledForReportingButNotEnforced"})
_LOCATION_TYPES = {
    "#microsoft.graph.ipNamedLocation": "ipRanges",
    "#microsoft.graph.countryNamedLocation": "countriesAndRegions",
}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CA_REFERENCE_LISTS = (
    ("users", "includeUsers", "users"),
    ("users", "excludeUsers", "users"),
    ("users", "includeGroups", "groups"),
    ("users", "excludeGroups", "groups"),
    ("locations", "includeLocations", "namedLocations"),
    ("locations", "excludeLocations", "namedLocations"),
)


def _new_id() -> str:
    return str(uuid.uuid4())


# ----- Conditional Access


def ca_references(policy: Obj | None) -> Iterator[tuple[str, str, str]]:
    """(list name, collection, id) for every object id a CA policy names."""
    conditions = (policy or {}).get("conditions") or {}
    for section, key, collection in _CA_REFERENCE_LISTS:
        values = (conditions.get(section) or {}).get(key) or []
        for value in values if isinstance(values, list) else []:
            yield key, collection, str(value)


def _check_ca(t: Tenant, ctx: Ctx, policy: Obj, previous: Obj | None) -> None:
    state = policy.get("state")
    if state not in _CA_STATES:
        raise bad_request(f"Invalid value specified for property 'state': '{state}'.")
    # Ids already on the policy stay accepted: Graph keeps dangling references to deleted objects.
    known = {ref for _, _, ref in ca_references(previous)}
    for key, collection, ref in ca_references(policy):
        if ref in SPECIAL_REFERENCES or ref in known:
            continue
        if t.store.get(collection, ref) is None or t.lagging(ref, ctx.now):
            raise bad_request(
                f"Invalid conditions: {key} contains '{ref}', which does not exist in the directory."
            )


def _new_ca_policy(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["conditionalAccessPolicies"].required, "ConditionalAccessPolicy")
    _check_ca(t, ctx, props, None)
    now = iso(ctx.now)
    base: Obj = {"id": _new_id(), "templateId": None, "grantControls": None, "sessionControls": None}
    return {**base, **props, "createdDateTime": now, "modifiedDateTime": now}


def _new_named_location(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    odata_type = props.get("@odata.type")
    needed = _LOCATION_TYPES.get(str(odata_type))
    if needed is None:
        raise bad_request("A named location needs @odata.type ipNamedLocation or countryNamedLocation.")
    require(props, ("displayName", needed), str(odata_type).rsplit(".", 1)[-1])
    now = iso(ctx.now)
    if needed == "ipRanges":
        defaults: Obj = {"isTrusted": False}
    else:
        defaults = {"includeUnknownCountriesAndRegions": False, "countryLookupMethod": "clientIpAddress"}
    return {
        "@odata.type": odata_type,
        "id": _new_id(),
        **defaults,
        **props,
        "createdDateTime": now,
        "modifiedDateTime": now,
    }


def _new_strength(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["authenticationStrengthPolicies"].required, "AuthenticationStrengthPolicy")
    if not isinstance(props["allowedCombinations"], list) or not props["allowedCombinations"]:
        raise bad_request("allowedCombinations must list at least one combination.")
    now = iso(ctx.now)
    base: Obj = {"id": _new_id(), "description": None}
    extra: Obj = {
        "policyType": "custom",
        "requirementsSatisfied": "mfa",
        "createdDateTime": now,
        "modifiedDateTime": now,
    }
    return {**base, **props, **extra}


def _new_partner(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, ("tenantId",), "CrossTenantAccessPolicyConfigurationPartner")
    tenant = str(props["tenantId"]).lower()
    if not _GUID.match(tenant):
        raise bad_request("Invalid value specified for property 'tenantId'.")
    if t.store.get("crossTenantAccessPartners", tenant) is not None:
        raise conflict(f"A partner configuration for tenant '{tenant}' already exists.")
    base = dict.fromkeys(
        (
            "isServiceProvider",
            "inboundTrust",
            "b2bCollaborationInbound",
            "b2bCollaborationOutbound",
            "b2bDirectConnectInbound",
            "b2bDirectConnectOutbound",
            "automaticUserConsentSettings",
            "tenantRestrictions",
        )
    )
    return {**base, **props, "tenantId": tenant, "isInMultiTenantOrganization": False}


BUILDERS: dict[str, Callable[[Tenant, Ctx, Obj], Obj]] = {
    "conditionalAccessPolicies": _new_ca_policy,
    "namedLocations": _new_named_location,
    "authenticationStrengthPolicies": _new_strength,
    "crossTenantAccessPartners": _new_partner,
}


def update_rules(t: Tenant, ctx: Ctx, collection: str, obj: Obj, props: Obj) -> None:
    if collection == "conditionalAccessPolicies":
        _check_ca(t, ctx, {**obj, **props}, obj)
        props["modifiedDateTime"] = iso(ctx.now)
    elif collection == "namedLocations":
        if "@odata.type" in props and props["@odata.type"] != obj.get("@odata.type"):
            raise bad_request("The @odata.type of a named location can't be changed.")
        props["modifiedDateTime"] = iso(ctx.now)
    elif collection == "authenticationStrengthPolicies":
        if obj.get("policyType") == "builtIn":
            raise bad_request("Built-in authentication strength policies can't be updated.")
        if "allowedCombinations" in props:
            raise bad_request(
                "allowedCombinations can only be changed with the updateAllowedCombinations action."
            )
        props["modifiedDateTime"] = iso(ctx.now)


def delete_rules(t: Tenant, collection: str, obj: Obj) -> None:
    if collection == "namedLocations" and obj.get("isTrusted"):
        raise bad_request("A trusted named location can't be deleted: set isTrusted to false first.")
    if collection == "authenticationStrengthPolicies":
        if obj.get("policyType") == "builtIn":
            raise bad_request("Built-in authentication strength policies can't be deleted.")
        if strength_references(t, str(obj["id"])):
            raise bad_request("The authentication strength is used by a Conditional Access policy.")


def strength_references(t: Tenant, strength_id: str) -> list[str]:
    out = []
    for policy_id, policy in t.store.coll("conditionalAccessPolicies").objs.items():
        strength = (policy.get("grantControls") or {}).get("authenticationStrength") or {}
        if isinstance(strength, dict) and strength.get("id") == strength_id:
            out.append(policy_id)
    return out


def update_allowed_combinations(t: Tenant, ctx: Ctx, strength_id: str) -> GraphResponse:
    store = t.store
    obj = store.get("authenticationStrengthPolicies", strength_id)
    if obj is None:
        raise not_found(strength_id)
    if obj.get("policyType") == "builtIn":
        raise bad_request("Built-in authentication strength policies can't be updated.")
    props, _ = body_of(ctx)
    combinations = props.get("allowedCombinations")
    if not isinstance(combinations, list) or not combinations:
        raise bad_request("allowedCombinations must list at least one combination.")
    previous = obj.get("allowedCombinations") or []
    changes = store.update(
        "authenticationStrengthPolicies",
        strength_id,
        {"allowedCombinations": combinations, "modifiedDateTime": iso(ctx.now)},
    )
    t.audit.record(
        ctx.caller,
        "Update authentication strength policy",
        "Policy",
        "Update",
        [t.audit_target("authenticationStrengthPolicies", obj, changes)],
        service="Conditional Access",
    )
    body = {
        "@odata.context": f"{ctx.base}/$metadata#microsoft.graph.updateAllowedCombinationsResult",
        "additionalInformation": None,
        "conditionalAccessReferences": strength_references(t, strength_id),
        "currentCombinations": combinations,
        "previousCombinations": previous,
    }
    return GraphResponse(200, body, items=1)


# ----- singletons

_SINGLETON_ACTIVITY = {
    "authenticationMethodsPolicy": "Authentication Methods Policy Update",
    "authorizationPolicy": "Update authorization policy",
    "crossTenantAccessPolicy": "Update cross-tenant access policy",
    "crossTenantAccessDefault": "Update the company default cross-tenant access setting",
}
_SINGLETON_CONTEXT = {
    "authenticationMethodsPolicy": "policies/authenticationMethodsPolicy/$entity",
    "authorizationPolicy": "policies/authorizationPolicy/$entity",
    "crossTenantAccessPolicy": "policies/crossTenantAccessPolicy/$entity",
    "crossTenantAccessDefault": "policies/crossTenantAccessPolicy/default/$entity",
}


def get_singleton(t: Tenant, ctx: Ctx, name: str) -> GraphResponse:
    body = {"@odata.context": f"{ctx.base}/$metadata#{_SINGLETON_CONTEXT[name]}", **t.store.singletons[name]}
    return GraphResponse(200, body, items=1)


def _policy_target(name: str, obj: Obj, changes: dict[str, tuple[Any, Any]]) -> Obj:
    from .audit import modified

    return {
        "id": obj.get("id") or name,
        "displayName": obj.get("displayName") or name,
        "type": "Policy",
        "userPrincipalName": None,
        "groupType": None,
        "modifiedProperties": modified(changes),
    }


def patch_singleton(t: Tenant, ctx: Ctx, name: str) -> GraphResponse:
    props, _ = body_of(ctx)
    current = t.store.singletons[name]
    for key in props:
        if key in SINGLETON_READ_ONLY[name]:
            raise read_only(key)
    if "@odata.type" in props and current.get("@odata.type") not in (None, props["@odata.type"]):
        raise bad_request("The @odata.type of a policy can't be changed.")
    changes = {k: (current.get(k), v) for k, v in props.items() if current.get(k) != v}
    updated = {**current, **props}
    if name == "authenticationMethodsPolicy" and changes:
        updated["lastModifiedDateTime"] = iso(ctx.now)
    t.store.singletons[name] = updated
    t.audit.record(
        ctx.caller, _SINGLETON_ACTIVITY[name], "Policy", "Update", [_policy_target(name, updated, changes)]
    )
    return GraphResponse(204)


def _method_config(t: Tenant, config_id: str) -> tuple[int, Obj]:
    configs = (
        t.store.singletons["authenticationMethodsPolicy"].get("authenticationMethodConfigurations") or []
    )
    for index, config in enumerate(configs):
        if str(config.get("id", "")).lower() == config_id.lower():
            return index, config
    raise not_found(config_id)


def get_method_config(t: Tenant, ctx: Ctx, config_id: str) -> GraphResponse:
    _, config = _method_config(t, config_id)
    entity = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity"
    context = f"{ctx.base}/$metadata#{entity}"
    return GraphResponse(200, {"@odata.context": context, **config}, items=1)


def patch_method_config(t: Tenant, ctx: Ctx, config_id: str) -> GraphResponse:
    index, config = _method_config(t, config_id)
    props, _ = body_of(ctx)
    if "id" in props and str(props["id"]).lower() != str(config.get("id")).lower():
        raise read_only("id")
    props.pop("id", None)
    if "@odata.type" in props and props["@odata.type"] != config.get("@odata.type"):
        raise bad_request("The @odata.type of an authentication method configuration can't be changed.")
    changes = {k: (config.get(k), v) for k, v in props.items() if config.get(k) != v}
    policy = t.store.singletons["authenticationMethodsPolicy"]
    configs = list(policy.get("authenticationMethodConfigurations") or [])
    configs[index] = {**config, **props}
    t.store.singletons["authenticationMethodsPolicy"] = {
        **policy,
        "authenticationMethodConfigurations": configs,
        "lastModifiedDateTime": iso(ctx.now),
    }
    t.audit.record(
        ctx.caller,
        "Authentication Methods Policy Update",
        "Policy",
        "Update",
        [_policy_target(str(config.get("id")), config, changes)],
    )
    return GraphResponse(204)


# ----- PIM eligibility


def eligibility_request(t: Tenant, ctx: Ctx) -> GraphResponse:
    props, _ = body_of(ctx)
    require(
        props,
        ("action", "principalId", "roleDefinitionId", "directoryScopeId"),
        "UnifiedRoleEligibilityScheduleRequest",
    )
    action = props["action"]
    triple = {k: props[k] for k in ("principalId", "roleDefinitionId", "directoryScopeId")}
    store = t.store
    now = iso(ctx.now)
    matching = [
        sid
        for sid, s in store.coll("roleEligibilitySchedules").objs.items()
        if all(s.get(k) == v for k, v in triple.items())
    ]
    request_id = _new_id()
    if action == "adminAssign":
        resolve_ref(t, ctx, str(props["principalId"]), ("users", "groups", "servicePrincipals"))
        if store.get("roleDefinitions", str(props["roleDefinitionId"])) is None:
            raise missing_reference(str(props["roleDefinitionId"]))
        if matching:
            raise bad_request("RoleAssignmentExists: the role eligibility already exists.")
        schedule: Obj = {
            "id": _new_id(),
            **triple,
            "appScopeId": None,
            "memberType": "Direct",
            "status": "Provisioned",
            "scheduleInfo": props.get("scheduleInfo")
            or {
                "startDateTime": now,
                "expiration": {"type": "noExpiration", "endDateTime": None, "duration": None},
            },
            "createdUsing": request_id,
            "createdDateTime": now,
            "modifiedDateTime": None,
        }
        store.insert("roleEligibilitySchedules", schedule)
        target_id, status, activity = schedule["id"], "Provisioned", "Add eligible member to role"
    elif action == "adminRemove":
        if not matching:
            raise bad_request("RoleAssignmentDoesNotExist: no matching role eligibility was found.")
        schedule = store.remove("roleEligibilitySchedules", matching[0]) or {}
        target_id, status, activity = matching[0], "Revoked", "Remove eligible member from role"
    else:
        raise bad_request(f"Unsupported action '{action}': use adminAssign or adminRemove.")
    t.audit.record(
        ctx.caller,
        activity,
        "RoleManagement",
        "Add" if action == "adminAssign" else "Delete",
        [t.audit_target("roleEligibilitySchedules", schedule)],
    )
    body = {
        "@odata.context": ctx.context_url(
            "roleManagement/directory/roleEligibilityScheduleRequests", entity=True
        ),
        "id": request_id,
        "status": status,
        "action": action,
        **triple,
        "appScopeId": None,
        "targetScheduleId": target_id,
        "createdDateTime": now,
        "justification": props.get("justification"),
        "scheduleInfo": props.get("scheduleInfo"),
    }
    return GraphResponse(201, body, items=1)
