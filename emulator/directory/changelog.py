"""Per-collection change log with sequence numbers, so a delta round costs O(changes), not O(tenant)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

# Change kinds.
NEW = "new"  # created or restored: delta sends the full representation
UPDATED = "upd"
SOFT_DELETED = "soft"  # @removed reason "changed"
GONE = "gone"  # hard-deleted or purged: @removed reason "deleted"
LINK = "link"  # a relationship (members, owners, manager) gained or lost a target


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    id: str
    kind: str
    props: frozenset[str] = frozenset()
    rel: str = ""
    target: str = ""
    target_type: str = ""
    added: bool = True


class ChangeLog:
    def __init__(self) -> None:
        self.seq = 0
        self._by_collection: dict[str, list[Change]] = {}

    def record(
        self,
        collection: str,
        object_id: str,
        kind: str,
        *,
        props: frozenset[str] = frozenset(),
        rel: str = "",
        target: str = "",
        target_type: str = "",
        added: bool = True,
    ) -> None:
        self.seq += 1
        change = Change(self.seq, object_id, kind, props, rel, target, target_type, added)
        self._by_collection.setdefault(collection, []).append(change)

    def between(self, collection: str, after: int, upto: int) -> list[Change]:
        """Changes with after < seq <= upto, oldest first."""
        log = self._by_collection.get(collection, [])
        lo = bisect.bisect_right(log, after, key=lambda c: c.seq)
        hi = bisect.bisect_right(log, upto, key=lambda c: c.seq)
        return log[lo:hi]
