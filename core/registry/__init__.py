"""One declarative registry of Entra object types that backup, diff and restore all read."""

from __future__ import annotations

from core.errors import RewindError
from core.registry.logs import DIRECTORY_AUDITS, LOG_STREAMS, SIGN_INS, LogStream
from core.registry.model import (
    SPECIAL_REFERENCE_VALUES,
    ObjectType,
    Reference,
    Refresh,
    Relationship,
    RestoreMode,
)
from core.registry.types import OBJECT_TYPES

_BY_NAME = {t.name: t for t in OBJECT_TYPES}


class UnknownType(RewindError):
    pass


def object_type(name: str) -> ObjectType:
    """Look a type up by its Graph name, case-insensitively, or by the plural people use ("users")."""
    found = _BY_NAME.get(name) or next(
        (t for t in OBJECT_TYPES if name.lower() in (t.name.lower(), t.name.lower() + "s", t.title.lower())),
        None,
    )
    if found is None:
        raise UnknownType(f"unknown object type '{name}': choose from {', '.join(sorted(_BY_NAME))}")
    return found


def children_of(parent: str) -> tuple[ObjectType, ...]:
    return tuple(t for t in OBJECT_TYPES if t.parent == parent)


def dependencies(t: ObjectType) -> set[str]:
    """Types that must exist before objects of ``t`` can be restored: reference targets and the parent."""
    needed = {target for ref in t.references for target in ref.targets}
    if t.parent:
        needed.add(t.parent)
    needed.discard(t.name)
    return needed


def restore_order() -> list[ObjectType]:
    """Types in an order where every dependency comes first (named locations before the policies naming them,
    applications before service principals before their assignments and grants)."""
    done: list[ObjectType] = []
    pending = list(OBJECT_TYPES)
    while pending:
        ready = [t for t in pending if dependencies(t) <= {d.name for d in done}]
        if not ready:
            raise RuntimeError(f"registry has a dependency cycle among {[t.name for t in pending]}")
        done.extend(ready)
        pending = [t for t in pending if t not in ready]
    return done


__all__ = [
    "DIRECTORY_AUDITS",
    "LOG_STREAMS",
    "OBJECT_TYPES",
    "SIGN_INS",
    "SPECIAL_REFERENCE_VALUES",
    "LogStream",
    "ObjectType",
    "Reference",
    "Refresh",
    "Relationship",
    "RestoreMode",
    "UnknownType",
    "children_of",
    "dependencies",
    "object_type",
    "restore_order",
]
