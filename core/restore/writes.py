"""The Graph requests each plan action sends, driven by the registry, and how to read their answers.

``calls_for`` turns one action (with the new ids learnt so far) into the requests that perform it;
``judge`` reads an answer: done, already done (a link that exists, a restore that happened), replication
lag worth retrying, or failed. ``find_created`` looks an object up by its registry natural key, so a run
resumed after a kill adopts what the killed run created instead of creating it twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from core.graph import GraphClient, NotFound
from core.graph.classify import error_details
from core.graph.errors import one_line
from core.graph.permissions import required_permission
from core.registry import ObjectType, object_type
from core.restore.exec_bodies import PasswordFactory, create_body, remap_binds, strong_password
from core.restore.model import Action, Operation, remap

# Objects that are themselves links between two others: created by POST, found by their natural key.
ASSIGNMENT_TYPES = frozenset(
    {"appRoleAssignment", "oauth2PermissionGrant", "unifiedRoleAssignment", "unifiedRoleEligibilitySchedule"}
)
_CA_DELETED = {"conditionalAccessPolicy": "policies", "namedLocation": "namedLocations"}
_FILTERABLE = frozenset({"user", "group", "application", "servicePrincipal", "administrativeUnit"})


class Verdict(Enum):
    DONE = "done"
    ALREADY = "already"  # the effect is there already (link exists, object exists, link gone)
    LAG = "lag"  # a just-created object is not visible yet: retry
    CHECK = "check"  # ambiguous (restore answered 404): look at the live tenant
    FAILED = "failed"


@dataclass(frozen=True)
class WriteCall:
    method: str
    path: str  # relative to the version root
    body: dict[str, Any] | None = None
    version: str = "v1.0"

    @property
    def batchable(self) -> bool:
        # $batch runs under one version; Conditional Access allows one request a second, so batching
        # its writes only earns 429s: the limiter paces them one by one instead.
        return self.version == "v1.0" and not self.path.startswith("/identity/conditionalAccess")

    def mentions(self, ids: set[str]) -> bool:
        text = self.path + (json.dumps(self.body) if self.body is not None else "")
        return any(i in text for i in ids)


@dataclass(frozen=True)
class StepWrite:
    """What one action sends, in order, and what it needs to know to find its effect later."""

    action: Action
    kind: ObjectType
    calls: tuple[WriteCall, ...]
    creates: bool  # the (last) answer carries a new object whose id must be remembered
    natural: dict[str, Any]  # natural key values of the object it creates (remapped)
    old_app_id: str | None = None  # a recreated application's appId in the snapshot


class UnsupportedAction(ValueError):
    """The plan asks for a write Rewind does not know how to send (a planner bug, reported per step)."""


def target_of(action: Action, new_ids: Mapping[str, str]) -> str:
    return new_ids.get(action.object_id, action.object_id)


def directory_object_url(graph: GraphClient, object_id: str) -> str:
    return f"{graph.config.api_root}/directoryObjects/{object_id}"


def calls_for(
    action: Action,
    new_ids: Mapping[str, str],
    graph: GraphClient,
    *,
    password: PasswordFactory = strong_password,
) -> StepWrite:
    kind = object_type(action.object_type)
    op = action.operation
    if op is Operation.RESTORE_DELETED:
        return StepWrite(action, kind, (_restore_call(kind, action.object_id),), False, {})
    if op is Operation.RECREATE or (op is Operation.ADD_LINK and kind.name in ASSIGNMENT_TYPES):
        return _create(action, kind, new_ids, password)
    if op is Operation.PATCH:
        return StepWrite(action, kind, _patch_calls(action, kind, new_ids), False, {})
    if op is Operation.ADD_LINK:
        return StepWrite(action, kind, (_add_link(action, kind, new_ids, graph),), False, {})
    if op is Operation.REMOVE_LINK:
        return StepWrite(action, kind, (_remove_link(action, kind, new_ids),), False, {})
    raise UnsupportedAction(f"{action.key}: {op.value} is not a write")


def _restore_call(kind: ObjectType, object_id: str) -> WriteCall:
    segment = _CA_DELETED.get(kind.name)
    if segment is not None:
        path = f"/identity/conditionalAccess/deletedItems/{segment}/{object_id}/restore"
        return WriteCall("POST", path, None, "beta")
    if kind.deleted_items_cast is None:
        raise UnsupportedAction(f"{kind.title} have no recycle bin to restore from")
    return WriteCall("POST", f"/directory/deletedItems/{object_id}/restore")


def _create(
    action: Action, kind: ObjectType, new_ids: Mapping[str, str], password: PasswordFactory
) -> StepWrite:
    if action.body is None:
        raise UnsupportedAction(f"{action.key}: a recreate needs the object's body")
    body = create_body(kind, action.body, new_ids, password=password)
    natural = {k: body.get(k) for k in kind.natural_key}
    path = (kind.create_path or kind.list_path).format(**{k: quote(str(v), safe="") for k, v in body.items()})
    if "{" in path:
        raise UnsupportedAction(f"{action.key}: the body lacks what {path} needs")
    old_app_id = action.body.get("appId") if kind.name == "application" else None
    return StepWrite(action, kind, (WriteCall("POST", path, body),), True, natural, old_app_id)


def _patch_calls(action: Action, kind: ObjectType, new_ids: Mapping[str, str]) -> tuple[WriteCall, ...]:
    if not action.body:
        raise UnsupportedAction(f"{action.key}: a patch needs the properties to write")
    body = remap_binds(action.body, new_ids)
    path = kind.item_path(target_of(action, new_ids))
    calls = []
    # Graph changes an authentication strength's combinations only through its own action.
    combinations = (
        body.pop("allowedCombinations", None) if kind.name == "authenticationStrengthPolicy" else None
    )
    if body:
        calls.append(WriteCall("PATCH", path, body))
    if combinations is not None:
        calls.append(
            WriteCall("POST", f"{path}/updateAllowedCombinations", {"allowedCombinations": combinations})
        )
    return tuple(calls)


def _link_target(action: Action, new_ids: Mapping[str, str]) -> str:
    if not action.target_id or not action.relationship:
        raise UnsupportedAction(f"{action.key}: a link action needs a relationship and a target")
    return new_ids.get(action.target_id, action.target_id)


def _relationship_path(action: Action, kind: ObjectType, new_ids: Mapping[str, str]) -> str:
    rel = next((r for r in kind.relationships if r.name == action.relationship), None)
    if rel is None:
        raise UnsupportedAction(f"{action.key}: {kind.title} have no relationship {action.relationship}")
    return rel.path.format(id=quote(target_of(action, new_ids), safe=""))


def _add_link(action: Action, kind: ObjectType, new_ids: Mapping[str, str], graph: GraphClient) -> WriteCall:
    target = _link_target(action, new_ids)
    path = _relationship_path(action, kind, new_ids)
    if action.relationship == "manager":
        return WriteCall("PUT", f"{path}/$ref", {"@odata.id": directory_object_url(graph, target)})
    if action.relationship == "scopedRoleMembers":
        role = (action.body or {}).get("roleId")
        if not role:
            raise UnsupportedAction(f"{action.key}: a scoped role member needs the roleId")
        return WriteCall("POST", path, {"roleId": remap(role, new_ids), "roleMemberInfo": {"id": target}})
    return WriteCall("POST", f"{path}/$ref", {"@odata.id": directory_object_url(graph, target)})


def _remove_link(action: Action, kind: ObjectType, new_ids: Mapping[str, str]) -> WriteCall:
    if kind.name in ASSIGNMENT_TYPES:
        return _remove_assignment(action, kind, new_ids)
    target = _link_target(action, new_ids)
    path = _relationship_path(action, kind, new_ids)
    if action.relationship == "manager":
        return WriteCall("DELETE", f"{path}/$ref")
    if action.relationship == "scopedRoleMembers":
        return WriteCall("DELETE", f"{path}/{quote(target, safe='')}")
    return WriteCall("DELETE", f"{path}/{quote(target, safe='')}/$ref")


def _remove_assignment(action: Action, kind: ObjectType, new_ids: Mapping[str, str]) -> WriteCall:
    body = remap(action.body or {}, new_ids)
    object_id = target_of(action, new_ids)
    if kind.name == "appRoleAssignment":
        resource = body.get("resourceId")
        if not resource:
            raise UnsupportedAction(f"{action.key}: removing an app role assignment needs its resourceId")
        return WriteCall("DELETE", f"/servicePrincipals/{resource}/appRoleAssignedTo/{object_id}")
    if kind.name == "unifiedRoleEligibilitySchedule":
        triple = {k: body.get(k) for k in ("principalId", "roleDefinitionId", "directoryScopeId")}
        return WriteCall("POST", kind.create_path or "", {"action": "adminRemove", **triple})
    return WriteCall("DELETE", kind.item_path(object_id))


# --- answers ------------------------------------------------------------------------------------------


def judge(
    write: StepWrite, call: WriteCall, status: int, body: Any, created: set[str]
) -> tuple[Verdict, str]:
    """The verdict on one answer and a one-line reason (Graph's code and message, never the request)."""
    if status < 300:
        return Verdict.DONE, ""
    code, message, _ = error_details(body)
    reason = one_line(f"{call.method} {call.path.split('?')[0]}: {status} {code or ''} {message or ''}", 300)
    text = (message or "").lower()
    op = write.action.operation
    if status == 403:
        permission = required_permission(call.method, call.path.lstrip("/")) or "the write permission"
        return Verdict.FAILED, one_line(
            f"permission denied: {call.method} {call.path} needs {permission}; grant it to the restore app "
            "(REWIND_RESTORE_CLIENT_ID) and admin-consent it",
            300,
        )
    exists = status == 409 or (status == 400 and "already exist" in text)
    if exists and (op is Operation.ADD_LINK or write.creates):
        return Verdict.ALREADY, reason
    if status in (400, 404) and "does not exist" in text and call.mentions(created):
        return Verdict.LAG, reason
    if status == 404:
        if op is Operation.REMOVE_LINK:
            return Verdict.ALREADY, reason
        if op is Operation.RESTORE_DELETED:
            return Verdict.CHECK, reason
    if status == 400 and op is Operation.REMOVE_LINK and "doesnotexist" in text.replace(" ", ""):
        return Verdict.ALREADY, reason
    return Verdict.FAILED, reason


def created_id(write: StepWrite, body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    value = body.get("targetScheduleId") or body.get(write.kind.id_field)
    return str(value) if value else None


async def find_created(graph: GraphClient, write: StepWrite) -> dict[str, Any] | None:
    """The live object a create would have made, found by its natural key; None when there is none."""
    kind, natural = write.kind, write.natural
    if not kind.natural_key or any(
        natural.get(k) in (None, "") for k in kind.natural_key if k != "principalId"
    ):
        return None
    params: dict[str, str] = {}
    if kind.name == "appRoleAssignment":
        path = f"/servicePrincipals/{natural['resourceId']}/appRoleAssignedTo"
    else:
        path = kind.list_path if not kind.parent else ""
        first = kind.natural_key[0]
        if kind.name in _FILTERABLE and isinstance(natural.get(first), str):
            escaped = str(natural[first]).replace("'", "''")
            params = {"$filter": f"{first} eq '{escaped}'"}
    if not path:
        return None
    try:
        async for item in graph.iter_items(path, params=params or None):
            if all(item.get(k) == natural.get(k) for k in kind.natural_key):
                return dict(item)
    except NotFound:
        return None
    return None
