"""A small LRU of decompressed segments, one per open repository.

Restores, diffs and manifest walks read neighbouring blobs one after another; without this each of them
would fetch and decompress the same 128 KiB segment again. Keys are (pack id, segment offset): pack ids are
content hashes, so an entry never goes stale within a repository, and each ``Repository`` has its own cache
so nothing crosses from one repository (or one key) to another.
"""

from __future__ import annotations

from collections import OrderedDict

SEGMENT_CACHE_SIZE = 32


class SegmentCache:
    def __init__(self, size: int = SEGMENT_CACHE_SIZE) -> None:
        self.size = size
        self._segments: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, key: tuple[str, int]) -> bytes | None:
        plain = self._segments.get(key)
        if plain is not None:
            self._segments.move_to_end(key)
        return plain

    def put(self, key: tuple[str, int], plain: bytes) -> None:
        self._segments[key] = plain
        self._segments.move_to_end(key)
        while len(self._segments) > self.size:
            self._segments.popitem(last=False)

    def clear(self) -> None:
        self._segments.clear()

    def __len__(self) -> int:
        return len(self._segments)
