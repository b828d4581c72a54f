"""Graph's resource-unit cost model (graph-api.md section 5): what one request costs, and whether it writes.

Base costs come from the identity-and-access table (``GET users`` 2, ``groups/{id}/members`` 3, ...), then
``$select`` -1, ``$expand`` +1, ``$top`` under 20 -1, never below 1. A write costs 1 RU plus one write; POST
actions that only read (``getByIds``, ``checkMemberGroups``...) are reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Service = Literal["identity", "conditional_access", "reports"]

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# POST actions that only read; they cost RU like reads and do not count against write quotas.
READ_ACTIONS = frozenset(
    {
        "getbyids",
        "getobjectsbyid",
        "ismemberof",
        "checkmembergroups",
        "checkmemberobjects",
        "getmembergroups",
        "getmemberobjects",
        "validateproperties",
        "getavailableextensionproperties",
        "getuserownedobjects",
    }
)
# Relationships of a user that cost 2 RU, like the same ones under /me.
_USER_RELATIONSHIPS_2RU = frozenset(
    {
        "memberof",
        "transitivememberof",
        "ownedobjects",
        "licensedetails",
        "getmembergroups",
        "getmemberobjects",
    }
)


def _segments(path: str) -> list[str]:
    # Graph paths are case-insensitive; OData casts such as microsoft.graph.user do not change the cost.
    return [
        s.lower() for s in path.strip("/").split("/") if s and not s.lower().startswith("microsoft.graph.")
    ]


def is_write(method: str, path: str) -> bool:
    if method.upper() not in WRITE_METHODS:
        return False
    segs = _segments(path)
    return not (method.upper() == "POST" and segs and segs[-1] in READ_ACTIONS)


def service_of(path: str) -> Service:
    segs = _segments(path)
    if segs[:2] == ["identity", "conditionalaccess"] or (segs and segs[0] == "identityprotection"):
        return "conditional_access"
    if segs and segs[0] in ("auditlogs", "reports"):
        return "reports"
    return "identity"


def _base_cost(method: str, segs: list[str], selected: bool) -> tuple[int, bool]:
    """Base RU of a read and whether ``$select``/``$top``/``$expand`` modifiers still apply."""
    n = len(segs)
    first = segs[0] if segs else ""
    third = segs[2] if n >= 3 else ""
    if method == "POST":
        if segs and segs[-1] in ("getbyids", "getobjectsbyid"):
            return (2 if selected else 5), False
        if segs and segs[-1] in ("ismemberof", "checkmembergroups", "checkmemberobjects"):
            return 4, True
        return 1, True
    if first in ("users", "applications", "oauth2permissiongrants") and n <= 2:
        return 2, True
    if first == "applications" and third == "extensionproperties":
        return 2, True
    if first == "serviceprincipals" and third == "approleassignments":
        return 2, True
    if first == "groups" and third == "members":
        return 3, True
    if first == "groups" and third == "transitivemembers":
        return 5, True
    if first in ("contracts", "subscribedskus") and n <= 2:
        return 3, True
    if first == "domains" and third == "domainnamereferences":
        return 4, True
    if (first == "users" and third in _USER_RELATIONSHIPS_2RU) or (
        first == "me" and n >= 2 and segs[1] in _USER_RELATIONSHIPS_2RU
    ):
        return 2, True
    return 1, True


def resource_units(method: str, path: str, query: Mapping[str, str]) -> int:
    """The RU cost of one request: base cost by path, then the ``$select``/``$expand``/``$top`` modifiers."""
    method = method.upper()
    if is_write(method, path):
        return 1
    keys = {k.lower(): v for k, v in query.items()}
    selected = "$select" in keys or "select" in keys
    cost, modifiable = _base_cost(method, _segments(path), selected)
    if modifiable:
        if selected:
            cost -= 1
        if "$expand" in keys or "expand" in keys:
            cost += 1
        top = keys.get("$top", keys.get("top"))
        if top is not None and top.strip().isdigit() and int(top) < 20:
            cost -= 1
    return max(cost, 1)
