"""Request bodies for restore writes: snapshot bodies remapped to new ids and cut to what Graph accepts.

A recreated user needs a password Graph never gave back: a fresh random one is put into the body here and
lives only in the request. It is never logged, journaled or returned; people issue a Temporary Access Pass.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from typing import Any

from core.registry import ObjectType
from core.restore.model import remap

SERVER_ASSIGNED = frozenset({"id", "createdDateTime", "deletedDateTime", "modifiedDateTime"})
NEW_PASSWORD_NOTE = "a new password is required: issue a Temporary Access Pass"
_BIND = "@odata.bind"
_SYMBOLS = "!#$%&*+-=?@^_"

PasswordFactory = Callable[[], str]


def strong_password(length: int = 24) -> str:
    """Random, with every character class Entra's complexity rule asks for."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS)
        if all(any(c in group for c in candidate) for group in classes):
            return candidate


def remap_binds(body: Mapping[str, Any], new_ids: Mapping[str, str]) -> dict[str, Any]:
    """``remap`` plus the ids inside ``...@odata.bind`` URLs (".../directoryObjects/{id}")."""
    out = remap(dict(body), new_ids)
    for key, value in out.items():
        if key.endswith(_BIND):
            out[key] = (
                [_remap_url(v, new_ids) for v in value]
                if isinstance(value, list)
                else _remap_url(value, new_ids)
            )
    return dict(out)


def _remap_url(value: Any, new_ids: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    head, sep, tail = value.rstrip("/").rpartition("/")
    return f"{head}{sep}{new_ids.get(tail, tail)}" if sep else new_ids.get(value, value)


def omitted_on_create(kind: ObjectType) -> frozenset[str]:
    """Properties a create must not send: server-assigned, secret, volatile, or read-only for the type."""
    read_only = kind.read_only - frozenset(kind.natural_key)
    return SERVER_ASSIGNED | kind.create_omit | kind.unrestorable | kind.volatile | read_only


def create_body(
    kind: ObjectType,
    body: Mapping[str, Any],
    new_ids: Mapping[str, str],
    *,
    password: PasswordFactory = strong_password,
) -> dict[str, Any]:
    """The POST body for recreating an object of ``kind`` from the plan's body."""
    omit = omitted_on_create(kind)
    out = {
        k: v
        for k, v in remap_binds(body, new_ids).items()
        if v is not None and k not in omit and (k == "@odata.type" or not k.startswith("@odata."))
    }
    if kind.name == "user":
        out["passwordProfile"] = {"password": password(), "forceChangePasswordNextSignIn": True}
    if kind.name == "unifiedRoleEligibilitySchedule":
        out = {
            "action": "adminAssign",
            "justification": "Restored by Rewind",
            **{k: out[k] for k in ("principalId", "roleDefinitionId", "directoryScopeId") if k in out},
            **({"scheduleInfo": out["scheduleInfo"]} if "scheduleInfo" in out else {}),
        }
    return out


def without_secrets(body: Mapping[str, Any]) -> dict[str, Any]:
    """A body safe to show or store: the password replaced by a note."""
    out = dict(body)
    if "passwordProfile" in out:
        out["passwordProfile"] = NEW_PASSWORD_NOTE
    return out
