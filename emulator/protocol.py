"""The seam between the emulator's HTTP server and its directory model.

The server (``emulator.server``) owns sockets, TLS, tokens, throttling, latency and faults. The directory
(``emulator.directory``) owns tenant data and Graph semantics. They meet only through these types, so the
directory can be driven directly by unit tests and by ``$batch`` without any HTTP in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Caller:
    """Who a request acts as; written into ``initiatedBy`` of every audit record a write produces."""

    app_id: str | None = None
    app_display_name: str | None = None
    service_principal_id: str | None = None
    # Set when the admin API acts as a person (an incident "done by" a user), else None.
    user_id: str | None = None
    user_principal_name: str | None = None
    user_display_name: str | None = None


@dataclass(frozen=True)
class GraphRequest:
    method: str  # upper case: GET, POST, PATCH, PUT, DELETE
    version: str  # "v1.0" or "beta"
    path: str  # percent-decoded, no version prefix, no query: "/groups/{id}/members/$ref"
    query: Mapping[str, str] = field(default_factory=dict)  # "$select", "$top", "$filter", "$skiptoken"...
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: Any | None = None
    # Scheme, host and port the client used, so nextLink and deltaLink point back at this server.
    base_url: str = "https://graph.microsoft.com"


@dataclass
class GraphResponse:
    status: int
    body: Any | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Number of items the response carries; the server's latency model charges per item.
    items: int = 0


class TenantDirectory(Protocol):
    """What the server needs from one tenant's directory."""

    tenant_id: str

    def user_count(self) -> int: ...

    def handle(self, request: GraphRequest, caller: Caller) -> GraphResponse: ...

    def dump(self) -> dict[str, Any]: ...

    def expire_delta_tokens(self) -> None: ...


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> GraphResponse:
    """A Graph-shaped error body: ``{"error": {"code", "message", "innerError"}}``."""
    return GraphResponse(
        status=status,
        body={"error": {"code": code, "message": message, "innerError": {"status": str(status)}}},
        headers=dict(headers or {}),
    )


# Relationship collections the generator fills and the directory serves; values are object ids.
RelationshipMap = dict[str, list[str]]


@dataclass
class TenantSeed:
    """A whole tenant as plain Graph-shaped dicts: what ``emulator.generator`` makes and a directory loads.

    Objects carry every property they have (the directory applies Graph's default projections and
    ``$select``); polymorphic items carry ``@odata.type``. Ids are GUID strings unless Graph says otherwise
    (domains use their name, role definitions their template id).
    """

    tenant_id: str
    default_domain: str  # e.g. "contoso.onmicrosoft.com"
    # Collection name -> objects. Names: users, groups, applications, servicePrincipals,
    # oauth2PermissionGrants, appRoleAssignments, roleDefinitions, roleAssignments, roleEligibilitySchedules,
    # conditionalAccessPolicies, namedLocations, authenticationStrengthPolicies, administrativeUnits,
    # scopedRoleMemberships, domains, organization, crossTenantAccessPartners, directoryAudits, signIns.
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Singletons: authenticationMethodsPolicy (with authenticationMethodConfigurations),
    # authorizationPolicy, crossTenantAccessPolicy, crossTenantAccessDefault.
    singletons: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: RelationshipMap = field(default_factory=dict)  # group or administrative unit id -> member ids
    owners: RelationshipMap = field(default_factory=dict)  # group, application or servicePrincipal id -> ids
    manager: dict[str, str] = field(default_factory=dict)  # user id -> manager's user id
