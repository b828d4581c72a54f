"""directoryAudit records for every successful write (reference §10 shape)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from emulator.protocol import Caller

from .clock import iso
from .store import Store
from .types import TYPES, Obj

_OPERATION = {
    "Add": "Add",
    "Update": "Update",
    "Delete": "Delete",
    "Hard delete": "Delete",
    "Restore": "Update",
}


def _encode(value: Any) -> str:
    """Graph writes old/new values as JSON-encoded arrays."""
    if value is None:
        return "[]"
    return json.dumps(value if isinstance(value, list) else [value], separators=(",", ":"), sort_keys=True)


def modified(changes: dict[str, tuple[Any, Any]]) -> list[Obj]:
    return [
        {"displayName": prop, "oldValue": _encode(old), "newValue": _encode(new)}
        for prop, (old, new) in sorted(changes.items())
        if prop not in ("passwordProfile",)
    ]


def target(collection: str, obj: Obj, changes: list[Obj] | None = None) -> Obj:
    spec = TYPES[collection]
    out: Obj = {
        "id": obj.get(spec.key),
        "displayName": obj.get("displayName"),
        "type": spec.audit_type,
        "userPrincipalName": obj.get("userPrincipalName") if collection == "users" else None,
        "groupType": None,
        "modifiedProperties": changes or [],
    }
    if collection == "groups":
        types = obj.get("groupTypes") or []
        if "Unified" in types:
            out["groupType"] = "unifiedGroups"
        elif obj.get("mailEnabled"):
            out["groupType"] = (
                "distributionGroup" if not obj.get("securityEnabled") else "mailEnabledSecurityGroups"
            )
        else:
            out["groupType"] = "securityGroup"
    return out


class AuditLog:
    def __init__(self, store: Store, tenant_id: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.clock = clock

    def _initiated_by(self, caller: Caller) -> Obj:
        if caller.user_id is not None:
            user = self.store.get("users", caller.user_id) or {}
            return {
                "user": {
                    "id": caller.user_id,
                    "displayName": caller.user_display_name or user.get("displayName"),
                    "userPrincipalName": caller.user_principal_name or user.get("userPrincipalName"),
                    "ipAddress": None,
                    "userType": user.get("userType") or "Member",
                    "homeTenantId": self.tenant_id,
                    "homeTenantName": None,
                },
                "app": None,
            }
        return {
            "user": None,
            "app": {
                "appId": caller.app_id,
                "displayName": caller.app_display_name,
                "servicePrincipalId": caller.service_principal_id,
                "servicePrincipalName": caller.app_display_name,
            },
        }

    def record(
        self,
        caller: Caller,
        activity: str,
        category: str,
        operation: str,
        targets: Iterable[Obj],
        *,
        service: str = "Core Directory",
        details: dict[str, str] | None = None,
    ) -> None:
        record: Obj = {
            "id": f"Directory_{uuid.uuid4()}",
            "category": category,
            "correlationId": str(uuid.uuid4()),
            "result": "success",
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": iso(self.clock(), precise=True),
            "loggedByService": service,
            "operationType": operation,
            "initiatedBy": self._initiated_by(caller),
            "targetResources": list(targets),
            "additionalDetails": [{"key": k, "value": v} for k, v in (details or {}).items()],
        }
        self.store.coll("directoryAudits").add(record["id"], record)

    def object_event(
        self,
        caller: Caller,
        verb: str,
        collection: str,
        obj: Obj,
        changes: dict[str, tuple[Any, Any]] | None = None,
    ) -> None:
        """ "Add user", "Update group", "Hard delete application", ... for one object."""
        spec = TYPES[collection]
        self.record(
            caller,
            f"{verb} {spec.noun}",
            spec.audit_category,
            _OPERATION.get(verb, "Update"),
            [target(collection, obj, modified(changes or {}))],
            service=spec.logged_by,
        )
