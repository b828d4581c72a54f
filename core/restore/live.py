"""The live tenant as restore sees it: is an object there, in the recycle bin, or gone; and its state.

``LiveTenant`` is the port; ``core.restore.graph_live.GraphLiveTenant`` reads it through Graph. Fingerprints
let the executor prove that nothing changed between the plan and the run (re-validation before execution).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from core.registry import object_type
from core.snapshots.canonical import canonical_json


class Presence(StrEnum):
    PRESENT = "present"
    DELETED = "deleted"  # in the recycle bin (directory or Conditional Access deletedItems)
    ABSENT = "absent"  # gone for good, or never existed


@dataclass(frozen=True)
class ObjectRef:
    object_type: str
    object_id: str

    @property
    def key(self) -> str:
        return f"{self.object_type}/{self.object_id}"


@dataclass(frozen=True)
class LiveObject:
    ref: ObjectRef
    presence: Presence
    object: dict[str, Any] | None = None  # as Graph returns it (present or deleted)
    # Relationships restore may relink: name -> ids (a list), or one id / None for single-valued ones.
    links: dict[str, list[str] | str | None] = field(default_factory=dict)


def fingerprint(live: LiveObject) -> str:
    """A short digest of what restore depends on: presence, non-volatile properties, links (as sets)."""
    kind = object_type(live.ref.object_type)
    ignored = kind.volatile | {"@odata.context", "@odata.type", "@odata.etag"}
    state = {
        "presence": live.presence.value,
        "object": {k: v for k, v in (live.object or {}).items() if k not in ignored},
        "links": {
            name: sorted(value) if isinstance(value, list) else value for name, value in live.links.items()
        },
    }
    return hashlib.sha256(canonical_json(state)).hexdigest()[:32]


class LiveTenant(Protocol):
    async def fetch(self, ref: ObjectRef) -> LiveObject:
        """The object's presence and state, with the relationships restore relinks."""
        ...

    async def fetch_many(self, refs: Sequence[ObjectRef]) -> list[LiveObject]:
        """``fetch`` for many objects, in order, batched where Graph allows."""
        ...
