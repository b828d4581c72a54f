"""Restore and purge from /directory/deletedItems and the beta Conditional Access deletedItems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.protocol import GraphResponse

from .context import Ctx
from .errors import bad_request, conflict, not_found
from .lifecycle import purge, restore
from .reads import typed
from .store import addresses_of
from .types import TYPES, Obj

if TYPE_CHECKING:
    from .tenant import Tenant


def _check_restorable(t: Tenant, collection: str, obj: Obj) -> None:
    store = t.store
    if collection == "users":
        upn = obj.get("userPrincipalName")
        if isinstance(upn, str) and store.user_by_upn(upn) is not None:
            raise bad_request(
                f"Restore failed: userPrincipalName '{upn}' is now used by another object. Rename that "
                "object or change the UPN, then retry."
            )
    if collection in ("users", "groups"):
        for address in addresses_of(obj):
            if address in store.addresses:
                raise bad_request(
                    f"Restore failed: the proxy address '{address}' is now used by another object "
                    "(autoReconcileProxyConflict is not set)."
                )
    if collection == "servicePrincipals" and str(obj.get("appId")) in store.sp_by_appid:
        raise conflict("Another service principal with the same appId already exists.")


def _entry(t: Tenant, obj_id: str, collections: tuple[str, ...]) -> str:
    entry = t.store.deleted.get(obj_id)
    if entry is None or entry.collection not in collections:
        raise not_found(obj_id)
    return entry.collection


def restore_item(t: Tenant, ctx: Ctx, obj_id: str, collections: tuple[str, ...]) -> GraphResponse:
    collection = _entry(t, obj_id, collections)
    _check_restorable(t, collection, t.store.deleted[obj_id].obj)
    obj = restore(t.store, obj_id)
    spec = TYPES[collection]
    t.audit.record(
        ctx.caller,
        f"Restore {spec.noun}",
        spec.audit_category,
        "Update",
        [t.audit_target(collection, obj)],
        service=spec.logged_by,
    )
    body = {"@odata.context": ctx.context_url(spec.entity_set, entity=True), **typed(obj, collection, None)}
    if not spec.default_select:
        body.update(obj)
    return GraphResponse(200, body, items=1)


def purge_item(t: Tenant, ctx: Ctx, obj_id: str, collections: tuple[str, ...]) -> GraphResponse:
    collection = _entry(t, obj_id, collections)
    if collection == "administrativeUnits":
        raise bad_request("Administrative units can't be permanently deleted from deleted items.")
    entry = purge(t.store, obj_id)
    spec = TYPES[collection]
    t.audit.record(
        ctx.caller,
        f"Hard delete {spec.noun}",
        spec.audit_category,
        "Delete",
        [t.audit_target(collection, entry.obj)],
        service=spec.logged_by,
    )
    return GraphResponse(204)
