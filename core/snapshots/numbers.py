"""Stable small numbers for object ids, so relationship lists cost bytes, not GUIDs.

A 100,000-user tenant holds about a million memberships. Stored as GUIDs they are incompressible (16 bytes of
entropy each) and would dominate the snapshot; as sorted small integers they compress to a couple of bytes.
Numbers are handed out once per repository, in first-seen order, and never reused, so a membership list only
changes where its members change. The table is append-only and stored in fixed ranges of numbers, so a
snapshot rewrites only its last, partly filled range.
"""

from __future__ import annotations

import sys

from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.port import BlobRepository, BlobWriter

RANGE = 1024  # numbers per stored chunk


class ObjectNumbers:
    def __init__(self, ids: list[str] | None = None, chunks: list[str] | None = None) -> None:
        self._ids: list[str] = ids or []
        self._numbers: dict[str, int] = {oid: n for n, oid in enumerate(self._ids)}
        # Blob ids of the full ranges already stored; the last, partial range is rewritten on save.
        self._stored = list(chunks or [])[: len(self._ids) // RANGE]

    @classmethod
    def load(cls, repo: BlobRepository, chunks: list[str]) -> ObjectNumbers:
        ids: list[str] = []
        for blob in chunks:
            ids.extend(load_json(repo.read_blob(blob))["ids"])
        return cls(ids, chunks)

    def __len__(self) -> int:
        return len(self._ids)

    def number(self, object_id: str) -> int:
        """The id's number, assigning the next one on first sight."""
        found = self._numbers.get(object_id)
        if found is None:
            object_id = sys.intern(object_id)  # the same id also sits in manifest entries: keep one copy
            found = len(self._ids)
            self._ids.append(object_id)
            self._numbers[object_id] = found
        return found

    def known(self, object_id: str) -> int | None:
        return self._numbers.get(object_id)

    def object_id(self, number: int) -> str:
        return self._ids[number]

    def numbers(self, object_ids: list[str]) -> list[int]:
        return sorted({self.number(oid) for oid in object_ids})

    def ids(self, numbers: list[int]) -> list[str]:
        return [self._ids[n] for n in numbers]

    def save(self, writer: BlobWriter) -> list[str]:
        chunks = list(self._stored)
        for start in range(len(chunks) * RANGE, len(self._ids), RANGE):
            part = self._ids[start : start + RANGE]
            blob = writer.add_blob(canonical_json({"start": start, "ids": part}))
            if len(part) == RANGE:
                self._stored.append(blob)
            chunks.append(blob)
        return chunks
