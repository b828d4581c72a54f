"""Field-level differences between two versions of an object, as dotted JSON paths.

Dicts are recursed key by key. Lists are compared as whole values, except lists of objects that carry an
``id`` or ``keyId`` (credentials, app roles, permission scopes): those are matched by that key, so adding one
secret reads as one added element rather than a different list, and the path names the element:
``passwordCredentials[<keyId>]`` (added or removed: old or new is None) or
``passwordCredentials[<keyId>].displayName`` (changed inside).
"""

from __future__ import annotations

from typing import Any

from core.diff.model import FieldChange

MATCH_KEYS = ("id", "keyId")


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    found: list[FieldChange] = []
    _compare(old, new, path, found)
    return found


def compare_objects(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[FieldChange], dict[str, Any]]:
    """The field changes, and ``new`` with every unchanged value replaced by ``old``'s own copy: a diff that
    holds many changed objects then keeps one copy of what did not change (half the memory, and half the
    objects for the garbage collector to scan). Treat both as read-only views of stored records."""
    found: list[FieldChange] = []
    if list(old) == list(new):
        shared: dict[str, Any] = {}
        for (key, a), b in zip(old.items(), new.values(), strict=True):
            if a == b:
                shared[key] = a
            else:
                shared[key] = b
                _compare(a, b, key, found)
        return found, shared
    _compare(old, new, "", found)
    return found, {key: old[key] if key in old and old[key] == value else value for key, value in new.items()}


def element_path(path: str, key: object) -> str:
    return f"{path}[{key}]"


def _compare(old: Any, new: Any, path: str, found: list[FieldChange]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        if list(old) == list(new):  # the usual case (records keep their keys, sorted): walk both at once
            for (key, a), b in zip(old.items(), new.values(), strict=True):
                if a != b:
                    _compare(a, b, f"{path}.{key}" if path else key, found)
            return
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key), new.get(key)
            if a != b:
                _compare(a, b, f"{path}.{key}" if path else key, found)
        return
    if isinstance(old, list) and isinstance(new, list):
        key = _match_key(old, new)
        if key is not None:
            _compare_keyed(old, new, key, path, found)
            return
    found.append(FieldChange(path, old, new))


def _compare_keyed(old: list[Any], new: list[Any], key: str, path: str, found: list[FieldChange]) -> None:
    before = {item[key]: item for item in old}
    after = {item[key]: item for item in new}
    for ident, item in before.items():
        if ident in after:
            _compare(item, after[ident], element_path(path, ident), found)
        else:
            found.append(FieldChange(element_path(path, ident), item, None))
    for ident, item in after.items():
        if ident not in before:
            found.append(FieldChange(element_path(path, ident), None, item))


def _match_key(old: list[Any], new: list[Any]) -> str | None:
    """The key both lists' elements are identified by, if every element has a distinct one."""
    if not old and not new:
        return None
    for key in MATCH_KEYS:
        if all(_keyed(items, key) for items in (old, new)):
            return key
    return None


def _keyed(items: list[Any], key: str) -> bool:
    seen: set[object] = set()
    for item in items:
        if not isinstance(item, dict):
            return False
        value = item.get(key)
        if not isinstance(value, str | int) or isinstance(value, bool) or value in seen:
            return False
        seen.add(value)
    return True
