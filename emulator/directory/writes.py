"""POST / PATCH / DELETE on collections: per-type validation and defaults, soft or hard delete, audit."""

from __future__ import annotations

import random
import re
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.protocol import GraphResponse

from . import policies
from .clock import iso
from .context import Ctx
from .errors import (
    GraphFault,
    already_referenced,
    bad_request,
    conflict,
    method_not_allowed,
    missing_reference,
    not_found,
)
from .lifecycle import delete_policy, hard_delete, soft_delete
from .reads import project
from .store import addresses_of
from .types import HARD, TYPES, Obj
from .validation import SYNCED_MESSAGE, body_of, check_writable, ref_id, require, resolve_ref

if TYPE_CHECKING:
    from .tenant import Tenant

MAX_BINDS = 20
_NICKNAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}$")
_MEMBER_TYPES = ("users", "groups", "servicePrincipals")
_OWNER_TYPES = ("users", "servicePrincipals")
_NOT_CREATABLE = frozenset({"organization", "directoryAudits", "signIns", "roleEligibilitySchedules"})
_NOT_UPDATABLE = frozenset({"directoryAudits", "signIns", "roleAssignments", "roleEligibilitySchedules"})
_NOT_DELETABLE = frozenset({"organization", "directoryAudits", "signIns", "roleEligibilitySchedules"})


def new_id() -> str:
    return str(uuid.uuid4())


def _address_taken(t: Tenant, obj: Obj, owner: str | None = None) -> str | None:
    for address in addresses_of(obj):
        holder = t.store.addresses.get(address)
        if holder is not None and holder != owner:
            return address
    return None


def _proxy_conflict() -> GraphFault:
    return bad_request("Another object with the same value for property proxyAddresses already exists.")


# ----- per-type construction


def _new_user(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["users"].required, "User")
    profile = props.pop("passwordProfile", None)
    if not isinstance(profile, dict) or not profile.get("password"):
        raise bad_request(
            "Invalid value specified for property 'passwordProfile.password' of resource 'User'."
        )
    upn = str(props["userPrincipalName"])
    _check_upn(t, upn, None)
    obj: Obj = {"id": new_id(), "businessPhones": [], "userType": "Member", **props}
    obj["createdDateTime"] = iso(ctx.now)
    obj["onPremisesSyncEnabled"] = None
    mail = obj.get("mail")
    obj["proxyAddresses"] = [f"SMTP:{mail}"] if isinstance(mail, str) and mail else []
    if _address_taken(t, obj):
        raise _proxy_conflict()
    return obj


def _check_upn(t: Tenant, upn: str, owner: str | None) -> None:
    local, at, domain = upn.rpartition("@")
    if not at or not local:
        raise bad_request("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
    if not t.resolves_domain(domain):
        raise bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the "
            "verified domain names in your organization."
        )
    holder = t.store.user_by_upn(upn)
    if holder is not None and holder != owner:
        raise bad_request("Another object with the same value for property userPrincipalName already exists.")


def _binds(t: Tenant, ctx: Ctx, binds: dict[str, Any]) -> dict[str, list[str]]:
    """members@odata.bind / owners@odata.bind: at most 20 each, every target replicated and of a valid
    type."""
    out: dict[str, list[str]] = {}
    for nav, value in binds.items():
        if nav not in ("members", "owners"):
            raise bad_request(f"Unsupported navigation property '{nav}@odata.bind'.")
        urls = value if isinstance(value, list) else [value]
        if len(urls) > MAX_BINDS:
            raise bad_request(f"A maximum of {MAX_BINDS} {nav} can be added in a single request.")
        allowed = _MEMBER_TYPES if nav == "members" else _OWNER_TYPES
        ids = [ref_id(url) for url in urls]
        for obj_id in ids:
            resolve_ref(t, ctx, obj_id, allowed)
        out[nav] = ids
    return out


def _group_rules(props: Obj, existing: Obj | None) -> None:
    """Graph's group invariants, checked on what the request sets (a PATCH of a description passes)."""
    merged = {**(existing or {}), **props}
    types = merged.get("groupTypes") or []
    if not isinstance(types, list):
        raise bad_request("Invalid value specified for property 'groupTypes' of resource 'Group'.")
    dynamic = "DynamicMembership" in types
    if dynamic and not merged.get("membershipRule") and ({"groupTypes", "membershipRule"} & set(props)):
        raise bad_request("A dynamic group needs a membershipRule.")
    if existing is None:
        if merged.get("mailEnabled") and "Unified" not in types:
            raise bad_request(
                "Mail-enabled security groups and distribution lists can't be created through Graph."
            )
        if merged.get("isAssignableToRole") and (not merged.get("securityEnabled") or dynamic):
            raise bad_request(
                "isAssignableToRole can only be true for security-enabled groups without dynamic membership."
            )
    if "mailNickname" in props:
        nickname = props["mailNickname"]
        if not isinstance(nickname, str) or not _NICKNAME.match(nickname):
            raise bad_request("Invalid value specified for property 'mailNickname' of resource 'Group'.")


def _new_group(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["groups"].required, "Group")
    _group_rules(props, None)
    types = list(props.get("groupTypes") or [])
    unified = "Unified" in types
    now = iso(ctx.now)
    mail = f"{props['mailNickname']}@{t.mail_domain()}" if unified else None
    sid = "S-1-12-1-" + "-".join(str(random.getrandbits(32)) for _ in range(4))
    obj: Obj = {
        "id": new_id(),
        "groupTypes": types,
        "visibility": "Public" if unified else None,
        "isAssignableToRole": None,
        "membershipRuleProcessingState": "On" if "DynamicMembership" in types else None,
        "resourceProvisioningOptions": [],
        "resourceBehaviorOptions": [],
        "classification": None,
        "expirationDateTime": None,
        **props,
        "createdDateTime": now,
        "renewedDateTime": now,
        "mail": mail,
        "proxyAddresses": [f"SMTP:{mail}"] if mail else [],
        "securityIdentifier": sid,
        "onPremisesSyncEnabled": None,
    }
    if _address_taken(t, obj):
        raise _proxy_conflict()
    return obj


def _new_application(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["applications"].required, "Application")
    return {
        "id": new_id(),
        "appId": new_id(),
        "signInAudience": "AzureADMyOrg",
        "identifierUris": [],
        "appRoles": [],
        "requiredResourceAccess": [],
        "tags": [],
        "keyCredentials": [],
        **props,
        "passwordCredentials": [],
        "publisherDomain": t.mail_domain(),
        "createdDateTime": iso(ctx.now),
    }


def _new_service_principal(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, ("appId",), "ServicePrincipal")
    app_id = str(props["appId"])
    if app_id in t.store.sp_by_appid:
        raise conflict(
            "Another object with the same value for property servicePrincipalNames already exists."
        )
    app = t.store.get("applications", t.store.app_by_appid.get(app_id, ""))
    base: Obj = {"displayName": props.get("displayName") or app_id}
    if app is not None:
        base = {
            "displayName": app.get("displayName"),
            "appDisplayName": app.get("displayName"),
            "appOwnerOrganizationId": t.tenant_id,
            "appRoles": app.get("appRoles") or [],
            "oauth2PermissionScopes": (app.get("api") or {}).get("oauth2PermissionScopes") or [],
            "servicePrincipalNames": [app_id, *(app.get("identifierUris") or [])],
            "signInAudience": app.get("signInAudience"),
            "replyUrls": (app.get("web") or {}).get("redirectUris") or [],
        }
    return {
        "id": new_id(),
        "accountEnabled": True,
        "appRoleAssignmentRequired": False,
        "servicePrincipalType": "Application",
        "servicePrincipalNames": [app_id],
        "tags": [],
        "keyCredentials": [],
        **base,
        **props,
        "passwordCredentials": [],
    }


def _new_grant(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["oauth2PermissionGrants"].required, "OAuth2PermissionGrant")
    for key in ("clientId", "resourceId"):
        resolve_ref(t, ctx, str(props[key]), ("servicePrincipals",))
    consent = props["consentType"]
    if consent not in ("AllPrincipals", "Principal"):
        raise bad_request(
            "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'."
        )
    if consent == "Principal":
        resolve_ref(t, ctx, str(props.get("principalId") or ""), ("users",))
    elif props.get("principalId"):
        raise bad_request("principalId must be null when consentType is AllPrincipals.")
    for grant in t.store.coll("oauth2PermissionGrants").objs.values():
        same = all(
            grant.get(k) == props.get(k) for k in ("clientId", "resourceId", "consentType", "principalId")
        )
        if same:
            raise conflict("Permission entry already exists.")
    return {"id": secrets.token_urlsafe(32), "principalId": None, "scope": "", **props}


def _new_domain(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    name = str(props.get("id") or "").lower()
    if not re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z]{2,}", name):
        raise bad_request("Invalid value specified for property 'id' of resource 'Domain'.")
    if t.store.get("domains", name) is not None:
        raise conflict(f"Domain '{name}' already exists in this tenant.")
    props.pop("id", None)  # normalised to lower case below
    return {
        "id": name,
        "authenticationType": "Managed",
        "isDefault": False,
        "isInitial": False,
        "isRoot": True,
        "isVerified": False,
        "isAdminManaged": True,
        "supportedServices": [],
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 2147483647,
        **props,
    }


def _new_role_definition(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["roleDefinitions"].required, "UnifiedRoleDefinition")
    obj_id = new_id()
    return {
        "id": obj_id,
        "templateId": obj_id,
        "version": "1",
        "resourceScopes": ["/"],
        **props,
        "isBuiltIn": False,
    }


def _new_role_assignment(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["roleAssignments"].required, "UnifiedRoleAssignment")
    collection, principal = resolve_ref(t, ctx, str(props["principalId"]), _MEMBER_TYPES)
    if collection == "groups" and not principal.get("isAssignableToRole"):
        raise bad_request("Only groups with isAssignableToRole set to true can be assigned a directory role.")
    if t.store.get("roleDefinitions", str(props["roleDefinitionId"])) is None:
        raise missing_reference(str(props["roleDefinitionId"]))
    for existing in t.store.coll("roleAssignments").objs.values():
        if all(
            existing.get(k) == props.get(k) for k in ("principalId", "roleDefinitionId", "directoryScopeId")
        ):
            raise conflict(
                "A conflicting object with one or more of the specified property values is present."
            )
    return {"id": new_id(), **props}


def _new_administrative_unit(t: Tenant, ctx: Ctx, props: Obj) -> Obj:
    require(props, TYPES["administrativeUnits"].required, "AdministrativeUnit")
    return {"id": new_id(), "visibility": None, **props}


_BUILDERS: dict[str, Callable[[Tenant, Ctx, Obj], Obj]] = {
    "users": _new_user,
    "groups": _new_group,
    "applications": _new_application,
    "servicePrincipals": _new_service_principal,
    "administrativeUnits": _new_administrative_unit,
    "oauth2PermissionGrants": _new_grant,
    "domains": _new_domain,
    "roleDefinitions": _new_role_definition,
    "roleAssignments": _new_role_assignment,
    **policies.BUILDERS,
}

_ADD_ACTIVITY = {"domains": "Add domain to company", "roleAssignments": "Add member to role"}
_DELETE_ACTIVITY = {"domains": "Remove domain from company", "roleAssignments": "Remove member from role"}
_CREATE_ALLOW = {"servicePrincipals": frozenset({"appId"}), "domains": frozenset({"id"})}


# ----- generic handlers


def create(t: Tenant, ctx: Ctx, collection: str) -> GraphResponse:
    builder = _BUILDERS.get(collection)
    if builder is None or collection in _NOT_CREATABLE:
        raise method_not_allowed()
    props, binds = body_of(ctx)
    check_writable(t, collection, props, None, _CREATE_ALLOW.get(collection, frozenset()))
    links = _binds(t, ctx, binds) if collection == "groups" else {}
    if binds and collection != "groups":
        raise bad_request("Navigation property binding is not supported on this resource.")
    obj = builder(t, ctx, props)
    store = t.store
    obj_id = store.insert(collection, obj, now=ctx.now)
    spec = TYPES[collection]
    activity = _ADD_ACTIVITY.get(collection, f"Add {spec.noun}")
    t.audit.record(
        ctx.caller,
        activity,
        spec.audit_category,
        "Add",
        [t.audit_target(collection, obj)],
        service=spec.logged_by,
    )
    for nav, ids in links.items():
        for target in ids:
            store.link(nav, obj_id, target)
    body = {"@odata.context": ctx.context_url(spec.entity_set, entity=True), **project(obj, collection, None)}
    return GraphResponse(201, body, {"Location": f"{ctx.base}/{spec.entity_set}/{obj_id}"}, items=1)


def update(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> GraphResponse:
    if collection in _NOT_UPDATABLE:
        raise method_not_allowed()
    store = t.store
    obj = store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    props, binds = body_of(ctx)
    check_writable(t, collection, props, obj)
    _update_rules(t, ctx, collection, obj, props)
    links = _binds(t, ctx, binds) if collection == "groups" else {}
    if binds and collection != "groups":
        raise bad_request("Navigation property binding is not supported on this resource.")
    if links and obj.get("onPremisesSyncEnabled"):
        raise bad_request(SYNCED_MESSAGE)
    # Binds follow the $ref rules: no manual members on a dynamic group, no group inside itself.
    if links.get("members") and "DynamicMembership" in (obj.get("groupTypes") or []):
        raise bad_request("Members of a group with dynamic membership can't be added or removed manually.")
    for nav, ids in links.items():
        for target in ids:
            if target == obj_id:
                raise bad_request("An object can't be added to its own relationship.")
            if store.relations[nav].has(obj_id, target):
                raise already_referenced(nav)
    changes = store.update(collection, obj_id, props)
    for nav, ids in links.items():
        for target in ids:
            store.link(nav, obj_id, target)
    spec = TYPES[collection]
    activity = {"organization": "Update company settings", "domains": "Update domain"}.get(
        collection, f"Update {spec.noun}"
    )
    t.audit.record(
        ctx.caller,
        activity,
        spec.audit_category,
        "Update",
        [t.audit_target(collection, obj, changes)],
        service=spec.logged_by,
    )
    return GraphResponse(204)


def _update_rules(t: Tenant, ctx: Ctx, collection: str, obj: Obj, props: Obj) -> None:
    if collection == "users":
        if "userPrincipalName" in props:
            _check_upn(t, str(props["userPrincipalName"]), str(obj["id"]))
        if "passwordProfile" in props:
            props.pop("passwordProfile")  # accepted, never stored or returned
        if "mail" in props:
            candidate = {"mail": props["mail"]}
            if _address_taken(t, candidate, str(obj["id"])):
                raise _proxy_conflict()
    elif collection == "groups":
        if "isAssignableToRole" in props:
            raise bad_request("Property 'isAssignableToRole' can only be set when the group is created.")
        _group_rules(props, obj)
    elif collection == "organization":
        writable = TYPES["organization"].extras["writable"]
        for key in props:
            if key not in writable:
                raise bad_request(f"Property '{key}' of organization can't be updated.")
    elif collection == "oauth2PermissionGrants":
        for key in props:
            if key != "scope":
                raise bad_request(f"Property '{key}' is read-only; only scope can be updated.")
    elif collection == "roleDefinitions" and obj.get("isBuiltIn"):
        raise bad_request("Built-in role definitions can't be modified.")
    elif (
        collection == "crossTenantAccessPartners"
        and "tenantId" in props
        and props["tenantId"] != obj["tenantId"]
    ):
        raise bad_request("Property 'tenantId' is read-only and cannot be changed.")
    else:
        policies.update_rules(t, ctx, collection, obj, props)


def delete(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> GraphResponse:
    if collection in _NOT_DELETABLE:
        raise method_not_allowed()
    store = t.store
    obj = store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    _delete_rules(t, collection, obj)
    remove_object(t, ctx, collection, obj_id)
    if collection == "applications":
        sp_id = store.sp_by_appid.get(str(obj.get("appId")))
        if sp_id is not None:
            remove_object(t, ctx, "servicePrincipals", sp_id)  # deleting a registration removes its SP too
    return GraphResponse(204)


def remove_object(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> None:
    store = t.store
    obj = store.get(collection, obj_id)
    assert obj is not None
    spec = TYPES[collection]
    if delete_policy(collection, obj) == HARD:
        hard_delete(store, collection, obj_id)
    else:
        soft_delete(store, collection, obj_id, ctx.now)
    activity = _DELETE_ACTIVITY.get(collection, f"Delete {spec.noun}")
    t.audit.record(
        ctx.caller,
        activity,
        spec.audit_category,
        "Delete",
        [t.audit_target(collection, obj)],
        service=spec.logged_by,
    )


def _delete_rules(t: Tenant, collection: str, obj: Obj) -> None:
    if collection == "domains":
        if obj.get("isInitial") or obj.get("isDefault"):
            raise bad_request("The initial or default domain can't be deleted.")
        suffix = "@" + str(obj["id"]).lower()
        if any(upn.endswith(suffix) for upn in t.store.upn):
            raise bad_request(f"Domain '{obj['id']}' is still used by users and can't be deleted.")
    elif collection == "roleDefinitions" and obj.get("isBuiltIn"):
        raise bad_request("Built-in role definitions can't be deleted.")
    else:
        policies.delete_rules(t, collection, obj)
