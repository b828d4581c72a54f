"""Application and service principal passwords: addPassword returns the secret once, reads never do."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

from emulator.protocol import GraphResponse

from .clock import iso
from .context import Ctx
from .errors import bad_request, not_found
from .types import TYPES, Obj
from .validation import body_of

if TYPE_CHECKING:
    from .tenant import Tenant

SECRET_LIFETIME_S = 2 * 365 * 86400


# ----- credentials


def add_password(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> GraphResponse:
    obj = t.store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    body = ctx.request.body if isinstance(ctx.request.body, dict) else {}
    requested = body.get("passwordCredential") or {}
    if not isinstance(requested, dict):
        raise bad_request("Invalid value specified for property 'passwordCredential'.")
    secret = secrets.token_urlsafe(30)
    stored: Obj = {
        "customKeyIdentifier": None,
        "displayName": requested.get("displayName"),
        "endDateTime": requested.get("endDateTime") or iso(ctx.now + SECRET_LIFETIME_S),
        "hint": secret[:3],
        "keyId": str(uuid.uuid4()),
        "secretText": None,
        "startDateTime": requested.get("startDateTime") or iso(ctx.now),
    }
    credentials = [*(obj.get("passwordCredentials") or []), stored]
    changes = t.store.update(collection, obj_id, {"passwordCredentials": credentials})
    _credential_audit(t, ctx, collection, obj, changes)
    response: Obj = {"@odata.context": f"{ctx.base}/$metadata#microsoft.graph.passwordCredential", **stored}
    response["secretText"] = secret  # the only time the secret leaves the directory
    return GraphResponse(200, response, items=1)


def remove_password(t: Tenant, ctx: Ctx, collection: str, obj_id: str) -> GraphResponse:
    obj = t.store.get(collection, obj_id)
    if obj is None:
        raise not_found(obj_id)
    props, _ = body_of(ctx)
    key_id = props.get("keyId")
    credentials = obj.get("passwordCredentials") or []
    kept = [c for c in credentials if c.get("keyId") != key_id]
    if not key_id or len(kept) == len(credentials):
        raise bad_request(f"No password credential found with keyId '{key_id}'.")
    changes = t.store.update(collection, obj_id, {"passwordCredentials": kept})
    _credential_audit(t, ctx, collection, obj, changes)
    return GraphResponse(204)


def _credential_audit(
    t: Tenant, ctx: Ctx, collection: str, obj: Obj, changes: dict[str, tuple[Any, Any]]
) -> None:
    spec = TYPES[collection]
    t.audit.record(
        ctx.caller,
        f"Update {spec.noun} – Certificates and secrets management",  # noqa: RUF001 - Graph's own dash
        spec.audit_category,
        "Update",
        [t.audit_target(collection, obj, changes)],
    )
