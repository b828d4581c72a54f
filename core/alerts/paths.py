"""Field changes as rules see them: normalised dotted paths down to the values that actually changed.

The diff may report a nested change at any depth (a whole list, or one element of it); rules are written
against leaf paths. Dicts are recursed by key and lists of objects with an ``id`` / ``keyId`` are matched by
that key, the element's key becoming a path segment ("authenticationMethodConfigurations.Sms.state"); other
lists stay whole values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.diff.model import Change

# "a[Sms].b", "a[id=Sms]", "a['Sms']" -> "a.Sms.b"
_BRACKETS = re.compile(r"\[\s*(?:[A-Za-z_]+\s*=\s*)?['\"]?([^\]'\"]*)['\"]?\s*\]")


@dataclass(frozen=True)
class Leaf:
    path: str  # normalised dotted path
    old: Any
    new: Any
    grew: bool  # a list gained elements, or a keyed element (a credential, an exclusion) appeared

    @property
    def key(self) -> str:
        return self.path.casefold()


def normalize_path(path: str) -> str:
    return _BRACKETS.sub(r".\1", path).strip(".")


def leaves(change: Change) -> list[Leaf]:
    out: list[Leaf] = []
    for field in change.fields:
        out.extend(_expand(normalize_path(field.path), field.old, field.new))
    return out


def element_key(value: Any) -> str | None:
    """The id that keys an element of a list of objects, if it has one."""
    if isinstance(value, Mapping):
        for name in ("id", "keyId"):
            key = value.get(name)
            if isinstance(key, str) and key:
                return key
    return None


def value_at(obj: Any, path: str) -> Any:
    """The value at a dotted path, stepping into keyed lists by element id; None when absent."""
    node = obj
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list):
            node = next((e for e in node if element_key(e) == part), None)
        else:
            return None
        if node is None:
            return None
    return node


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _keyed(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(element_key(e) is not None for e in value))


def _expand(path: str, old: Any, new: Any) -> Iterator[Leaf]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                yield from _expand(f"{path}.{key}", old.get(key), new.get(key))
        return
    if (isinstance(old, list) or isinstance(new, list)) and _keyed(old) and _keyed(new):
        before = {element_key(e): e for e in old or []}
        after = {element_key(e): e for e in new or []}
        for key in sorted(k for k in set(before) | set(after) if k is not None):
            if key not in before:
                yield Leaf(f"{path}.{key}", None, after[key], grew=True)
            elif key not in after:
                yield Leaf(f"{path}.{key}", before[key], None, grew=False)
            elif before[key] != after[key]:
                yield from _expand(f"{path}.{key}", before[key], after[key])
        return
    yield Leaf(path, old, new, grew=_gained(old, new))


def _gained(old: Any, new: Any) -> bool:
    if isinstance(new, list):
        had = {canonical(e) for e in old} if isinstance(old, list) else set()
        return any(canonical(e) not in had for e in new)
    # An element reported on its own ("passwordCredentials[k]": None -> {...}) or a condition object set.
    return old is None and isinstance(new, Mapping) and bool(new)
