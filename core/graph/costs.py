"""Estimated throttling cost of one request (reference §5), debited from the limiter before sending."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST actions that only read; they cost resource units but not a write.
_READ_ACTIONS = frozenset(
    {
        "getByIds",
        "getObjectsById",
        "isMemberOf",
        "checkMemberGroups",
        "checkMemberObjects",
        "getMemberGroups",
        "getMemberObjects",
        "getAvailableExtensionProperties",
        "validateProperties",
    }
)
_ID = r"[^/]+"
# (method, path pattern, base RU); first match wins, anything else costs 1.
_BASE_COSTS: list[tuple[str, re.Pattern[str], int]] = [
    ("GET", re.compile(rf"^users(/{_ID})?$"), 2),
    ("GET", re.compile(rf"^(me|users/{_ID})/(memberOf|ownedObjects|transitiveMemberOf|licenseDetails)$"), 2),
    ("POST", re.compile(rf"^(me|users/{_ID})/(getMemberGroups|getMemberObjects)$"), 2),
    ("GET", re.compile(rf"^applications(/{_ID})?$"), 2),
    ("GET", re.compile(rf"^applications/{_ID}/extensionProperties$"), 2),
    ("GET", re.compile(rf"^oauth2PermissionGrants(/{_ID})?$"), 2),
    ("GET", re.compile(rf"^servicePrincipals/{_ID}/appRoleAssignments$"), 2),
    ("GET", re.compile(rf"^groups/{_ID}/members$"), 3),
    ("GET", re.compile(rf"^groups/{_ID}/transitiveMembers$"), 5),
    ("GET", re.compile(r"^(contracts|subscribedSkus)$"), 3),
    ("GET", re.compile(rf"^domains/{_ID}/domainNameReferences$"), 4),
    ("POST", re.compile(r"/(isMemberOf|checkMemberGroups|checkMemberObjects)$"), 4),
]
_GET_BY_IDS = re.compile(r"^directoryObjects/(getByIds|getObjectsById)$")
_CONDITIONAL_ACCESS = re.compile(
    r"^(identity/conditionalAccess|identityProtection|riskDetections|riskyUsers)"
)
_REPORTS = re.compile(r"^(auditLogs|reports)/")


@dataclass(frozen=True)
class RequestCost:
    """Units one request takes from each limiter bucket."""

    resource_units: float = 0.0  # identity RU bucket
    writes: int = 0  # identity write quota
    conditional_access: int = 0  # Conditional Access / named locations: 1 request per second
    reports: int = 0  # audit logs and sign-ins: 5 requests per 10 s

    def __add__(self, other: RequestCost) -> RequestCost:
        return RequestCost(
            self.resource_units + other.resource_units,
            self.writes + other.writes,
            self.conditional_access + other.conditional_access,
            self.reports + other.reports,
        )


def estimate_cost(method: str, path: str, query: Mapping[str, str] | None = None) -> RequestCost:
    """Cost of ``method path`` where ``path`` is relative to the version root, e.g. ``users/{id}``."""
    method = method.upper()
    path = path.strip("/")
    query = query or {}
    if _CONDITIONAL_ACCESS.match(path):
        return RequestCost(conditional_access=1, writes=0 if method in _READ_METHODS else 1)
    if _REPORTS.match(path):
        return RequestCost(reports=1)
    action = path.rsplit("/", 1)[-1]
    is_write = method not in _READ_METHODS and action not in _READ_ACTIONS
    if method == "POST" and _GET_BY_IDS.match(path):
        return RequestCost(resource_units=2 if "$select" in query else 5)
    base = next((cost for m, pattern, cost in _BASE_COSTS if m == method and pattern.search(path)), 1)
    units = base
    if "$select" in query:
        units -= 1
    if "$expand" in query:
        units += 1
    top = query.get("$top")
    if top is not None and top.isdigit() and int(top) < 20:
        units -= 1
    return RequestCost(resource_units=max(1, units), writes=1 if is_write else 0)
