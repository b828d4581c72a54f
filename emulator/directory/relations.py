"""Directed links between directory objects (members, owners, manager, app role assignment indexes)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from itertools import islice

_EMPTY: list[str] = []


def ids_after(ids: list[str], cursor: str | None) -> Iterator[str]:
    """Ids of a sorted list strictly after cursor (all of them when cursor is None)."""
    start = 0 if cursor is None else bisect.bisect_right(ids, cursor)
    return islice(ids, start, None)


class Relation:
    """source -> targets as a sorted list, so relationship pages resume after an id; plus a reverse index.

    Plain sorted lists beat balanced structures here: most sources have a handful of targets, and even a
    100,000-member group only pays a memmove per insert. The reverse side uses unsorted lists: most objects
    sit in a few groups, and a list of ten strings is several times smaller than a set of ten.
    """

    def __init__(self) -> None:
        self.forward: dict[str, list[str]] = {}
        self.reverse: dict[str, list[str]] = {}

    def load(self, source: str, targets: Iterable[str]) -> None:
        ordered = sorted(set(targets))
        if not ordered:
            return
        self.forward[source] = ordered
        reverse = self.reverse
        for target in ordered:
            sources = reverse.get(target)
            if sources is None:
                reverse[target] = [source]
            else:
                sources.append(source)

    def has(self, source: str, target: str) -> bool:
        targets = self.forward.get(source)
        if not targets:
            return False
        index = bisect.bisect_left(targets, target)
        return index < len(targets) and targets[index] == target

    def add(self, source: str, target: str) -> bool:
        if self.has(source, target):
            return False
        bisect.insort(self.forward.setdefault(source, []), target)
        self.reverse.setdefault(target, []).append(source)
        return True

    def remove(self, source: str, target: str) -> bool:
        if not self.has(source, target):
            return False
        targets = self.forward[source]
        del targets[bisect.bisect_left(targets, target)]
        if not targets:
            del self.forward[source]
        sources = self.reverse[target]
        sources.remove(source)
        if not sources:
            del self.reverse[target]
        return True

    def targets(self, source: str) -> list[str]:
        """The sorted targets; callers must not mutate the list."""
        return self.forward.get(source, _EMPTY)

    def sources(self, target: str) -> list[str]:
        return self.reverse.get(target, _EMPTY)

    def drop_source(self, source: str) -> list[str]:
        """Remove every link out of source at once; returns its former targets."""
        targets = self.forward.pop(source, _EMPTY)
        for target in targets:
            sources = self.reverse[target]
            sources.remove(source)
            if not sources:
                del self.reverse[target]
        return targets

    def drop_target(self, target: str) -> list[str]:
        """Remove every link into target at once; returns its former sources."""
        sources = self.reverse.pop(target, _EMPTY)
        for source in sources:
            targets = self.forward[source]
            del targets[bisect.bisect_left(targets, target)]
            if not targets:
                del self.forward[source]
        return sources

    def links_of(self, node: str) -> list[tuple[str, str]]:
        """Every (source, target) pair touching node."""
        out = [(node, t) for t in self.targets(node)]
        out.extend((s, node) for s in self.sources(node))
        return out
