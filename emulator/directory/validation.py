"""Request-body checks shared by all writers: annotations, read-only, unknown and synced properties."""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from .context import Ctx
from .errors import bad_request, missing_reference, read_only
from .types import TYPES, Obj

if TYPE_CHECKING:
    from .tenant import Tenant

SYNCED_MESSAGE = (
    "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects "
    "currently undergoing migration."
)
_REF_ID = re.compile(r"\('?([^'()]+)'?\)$")


def body_of(ctx: Ctx) -> tuple[Obj, dict[str, Any]]:
    """(properties, {navigation: value} from '<nav>@odata.bind'); instance annotations other than
    @odata.type are dropped, and values are copied so the store never shares the caller's objects."""
    body = ctx.request.body
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    props: Obj = {}
    binds: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        if key.endswith("@odata.bind"):
            binds[key[: -len("@odata.bind")]] = value
        elif key.startswith("@") and key != "@odata.type":
            continue
        else:
            props[key] = copy.deepcopy(value)
    return props, binds


def require(props: Obj, names: tuple[str, ...], type_label: str) -> None:
    for name in names:
        if props.get(name) is None or props.get(name) == "":
            raise bad_request(f"Invalid value specified for property '{name}' of resource '{type_label}'.")


def check_writable(
    t: Tenant, collection: str, props: Obj, existing: Obj | None, allow: frozenset[str] = frozenset()
) -> None:
    spec = TYPES[collection]
    known = t.store.schema[collection]
    for key, value in props.items():
        if key in allow:
            continue
        if key == "passwordCredentials" and collection in ("applications", "servicePrincipals"):
            if value not in (None, []) and value != (existing or {}).get(key, []):
                raise bad_request(
                    "Property 'passwordCredentials' can't be written directly: use the addPassword action, "
                    "which returns the secret once."
                )
            continue
        if key == "keyCredentials" and isinstance(value, list):
            for credential in value:
                if isinstance(credential, dict) and (
                    credential.get("type") == "Symmetric" or credential.get("secretText") is not None
                ):
                    raise bad_request(
                        "Symmetric keys and secrets can't be set through keyCredentials; use addPassword."
                    )
        if key in spec.read_only:
            raise read_only(key)
        if spec.strict and key not in known and not key.startswith("extension_") and key != "@odata.type":
            raise bad_request(
                f"Property '{key}' does not exist as a declared property or extension property."
            )
    synced = existing is not None and existing.get("onPremisesSyncEnabled")
    if synced and any(key in spec.synced_locked for key in props):
        raise bad_request(SYNCED_MESSAGE)


def ref_id(value: Any) -> str:
    """The object id at the end of an @odata.id / @odata.bind URL (any host, any version)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Invalid object identifier: expected a URL ending in the object id.")
    text = value.strip().rstrip("/")
    match = _REF_ID.search(text)
    if match:
        return match.group(1)
    return text.rsplit("/", 1)[-1]


def ref_body_id(ctx: Ctx) -> str:
    """The target id of a $ref body: {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}."""
    body = ctx.request.body
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    return ref_id(body.get("@odata.id"))


def resolve_ref(t: Tenant, ctx: Ctx, obj_id: str, allowed: tuple[str, ...]) -> tuple[str, Obj]:
    """A live, replicated object usable as a reference target; Graph answers 400 otherwise."""
    found = t.store.find(obj_id)
    if found is None or found[0] not in allowed or t.lagging(obj_id, ctx.now):
        raise missing_reference(obj_id)
    return found
