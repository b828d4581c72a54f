"""Relationship differences read from stored records, touching only the parts of the lists that differ.

A record stores each relationship as object numbers (``core.snapshots.numbers``): one number (manager), a
sorted list (as differences), or, for long lists, chunk blobs by number range. Every snapshot of a
repository extends one append-only numbering, so two records' numbers can be compared as they are:
identical chunks are skipped unread, and only the numbers that differ are turned back into ids, one
1,024-number range at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.snapshots import BlobRepository, load_json
from core.snapshots.numbers import RANGE, read_range
from core.snapshots.snapshot import chunk_numbers, link_numbers


class NumberTable:
    """One snapshot's id numbering, read a range at a time on demand."""

    def __init__(self, repo: BlobRepository, misc_blob: str | None) -> None:
        self._repo = repo
        self.misc_blob = misc_blob
        self._chunks: list[str] | None = None
        self._ranges: dict[int, list[str]] = {}

    @property
    def chunks(self) -> list[str]:
        if self._chunks is None:
            misc = load_json(self._repo.read_blob(self.misc_blob)) if self.misc_blob else {}
            self._chunks = list(misc.get("numbers", []))
        return self._chunks

    def range_ids(self, index: int) -> list[str]:
        ids = self._ranges.get(index)
        if ids is None:
            ids = self._ranges[index] = read_range(self._repo, self.chunks[index])
        return ids

    def id_of(self, number: int) -> str:
        index, offset = divmod(number, RANGE)
        if index >= len(self.chunks) or offset >= len(self.range_ids(index)):
            raise LookupError(f"object number {number} is not in this snapshot's numbering")
        return self.range_ids(index)[offset]


def id_of_either(before: NumberTable, after: NumberTable, number: int) -> str:
    """A number's id under one numbering. The longer table knows every number the shorter one does;
    ``after`` usually is the longer, but a diff may run backwards in time."""
    try:
        return after.id_of(number)
    except LookupError:
        return before.id_of(number)


def same_numbering(a: NumberTable, b: NumberTable) -> bool:
    """Whether one table extends the other (the normal case); a repository re-started from scratch would
    number objects anew, and then numbers must be compared as ids."""
    if a.misc_blob == b.misc_blob:
        return True
    short, long = sorted((a, b), key=lambda t: len(t.chunks))
    if not short.chunks:
        return True
    last = len(short.chunks) - 1
    if short.chunks[:last] != long.chunks[:last]:
        return False
    if short.chunks[last] == long.chunks[last]:
        return True
    head = short.range_ids(last)
    return long.range_ids(last)[: len(head)] == head


@dataclass(frozen=True)
class LinkDelta:
    relationship: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    single: bool = False
    old: str | None = None  # single relationships (manager): the id before and after
    new: str | None = None


class LinkComparer:
    """Compares the ``links`` of two stored records of one object."""

    def __init__(self, repo: BlobRepository, before: NumberTable, after: NumberTable) -> None:
        self._repo = repo
        self._before = before
        self._after = after
        self._shared: bool | None = None

    @property
    def shared(self) -> bool:
        if self._shared is None:
            self._shared = same_numbering(self._before, self._after)
        return self._shared

    def compare(self, old: dict[str, Any], new: dict[str, Any]) -> list[LinkDelta]:
        deltas: list[LinkDelta] = []
        for name in sorted(old.keys() | new.keys()):
            a, b = old.get(name), new.get(name)
            if a == b:
                continue
            if isinstance(a, int) or isinstance(b, int):
                delta = self._single(name, a, b)
            else:
                delta = self._many(name, a, b)
            if delta is not None:
                deltas.append(delta)
        return deltas

    def _single(self, name: str, a: Any, b: Any) -> LinkDelta | None:
        old = self._before.id_of(a) if isinstance(a, int) else None
        new = self._after.id_of(b) if isinstance(b, int) else None
        if old == new:
            return None
        return LinkDelta(name, (new,) if new else (), (old,) if old else (), single=True, old=old, new=new)

    def _many(self, name: str, a: Any, b: Any) -> LinkDelta | None:
        if self.shared:
            common = set(_chunk_ids(a)) & set(_chunk_ids(b))
            old_numbers, new_numbers = self._numbers(a, common), self._numbers(b, common)
            added = sorted({self._resolve(n) for n in new_numbers - old_numbers})
            removed = sorted({self._resolve(n) for n in old_numbers - new_numbers})
        else:
            old_ids = {self._before.id_of(n) for n in self._numbers(a, set())}
            new_ids = {self._after.id_of(n) for n in self._numbers(b, set())}
            added, removed = sorted(new_ids - old_ids), sorted(old_ids - new_ids)
        if not added and not removed:
            return None
        return LinkDelta(name, tuple(added), tuple(removed))

    def _numbers(self, value: Any, skip: set[str]) -> set[int]:
        if isinstance(value, list):
            return set(link_numbers(self._repo, value))
        found: set[int] = set()
        for chunk in _chunk_ids(value):
            if chunk not in skip:  # a chunk both sides hold holds the same numbers on both
                found.update(chunk_numbers(self._repo, chunk))
        return found

    def _resolve(self, number: int) -> str:
        return id_of_either(self._before, self._after, number)


def _chunk_ids(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        return [str(c) for c in value.get("chunks", [])]
    return []
