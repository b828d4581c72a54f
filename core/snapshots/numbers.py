"""Stable small numbers for object ids, so relationship lists and manifest pages cost bytes, not GUIDs.

Every object a snapshot holds and every id a relationship names gets a number; this table is the one place
an id is written. A 100,000-user tenant holds about a million memberships: stored as GUIDs they are
incompressible (16 bytes of entropy each) and would dominate the snapshot; as sorted small integers they
compress to a couple of bytes. Numbers are handed out once per repository, in first-seen order, and never
reused, so a membership list only changes where its members change. The table is append-only and stored in
fixed ranges of numbers, so a snapshot rewrites only its last, partly filled range.

A range is ``{"start", "guids", "ids"}``: the ids that are GUIDs in lowercase canonical form (nearly all)
as their 16 bytes, concatenated, in base64 (~16 bytes each once compressed, not ~20 as text); ``ids`` holds
the others in their places and ``null`` where the next GUID goes. Sorted lists of numbers are stored as
their first number and the steps between them (``differences``): a membership list's steps are small
however large the tenant's numbers grow, and compress to about a byte each.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any, cast

from core.errors import RewindError
from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.port import BlobRepository, BlobWriter

RANGE = 1024  # numbers per stored chunk
_MALFORMED = "a range of the object number table is malformed: run `rewind verify --read-data`"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def differences(numbers: Sequence[int]) -> list[int]:
    """Ascending numbers as the first one and the steps between them."""
    return [n - p for n, p in zip(numbers, (0, *numbers), strict=False)]


def running_sum(steps: Iterable[int]) -> list[int]:
    """The inverse of ``differences``."""
    return list(accumulate(steps))


def encode_range(start: int, ids: Sequence[str]) -> bytes:
    packed = bytearray()
    others: list[str | None] = []
    for object_id in ids:
        if _GUID.fullmatch(object_id):
            packed += bytes.fromhex(object_id.replace("-", ""))
            others.append(None)
        else:
            others.append(object_id)
    body: dict[str, Any] = {"start": start, "guids": base64.b64encode(packed).decode(), "ids": others}
    return canonical_json(body)


class MalformedNumbers(RewindError):
    """A number table range that parses as JSON but not as a range: the store was damaged."""


def decode_range(data: bytes) -> list[str]:
    """A stored range's ids, in number order; MalformedNumbers when it is not one."""
    try:
        body = load_json(data)
        raw = base64.b64decode(body["guids"], validate=True)
        if len(raw) % 16:
            raise ValueError("packed GUIDs are 16 bytes each")
        packed = raw.hex()
        guids = iter(
            f"{packed[i : i + 8]}-{packed[i + 8 : i + 12]}-{packed[i + 12 : i + 16]}-"
            f"{packed[i + 16 : i + 20]}-{packed[i + 20 : i + 32]}"
            for i in range(0, len(packed), 32)
        )
        ids = [str(other) if other is not None else next(guids) for other in body["ids"]]
    except (KeyError, TypeError, ValueError, StopIteration):
        raise MalformedNumbers(_MALFORMED) from None
    if next(guids, None) is not None:
        raise MalformedNumbers(_MALFORMED)
    return ids


def read_range(repo: BlobRepository, blob_id: str) -> list[str]:
    return decode_range(repo.read_blob(blob_id))


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
            ids.extend(read_range(repo, blob))
        return cls(ids, chunks)

    def __len__(self) -> int:
        return len(self._ids)

    def number(self, object_id: str) -> int:
        """The id's number, assigning the next one on first sight."""
        found = self._numbers.get(object_id)
        if found is None:
            found = len(self._ids)
            self._ids.append(object_id)
            self._numbers[object_id] = found
        return found

    def known(self, object_id: str) -> int | None:
        return self._numbers.get(object_id)

    def object_id(self, number: int) -> str:
        return self._ids[number]

    def numbers(self, object_ids: Sequence[str]) -> list[int]:
        """The ids' numbers, ascending and without repeats (assigning new ones as ``number`` does)."""
        return sorted(set(self.number_all(object_ids)))

    def number_all(self, object_ids: Sequence[str]) -> list[int]:
        """Each id's number, in order. A million memberships pass through here: the usual case, every id
        numbered already, is one lookup each."""
        get = self._numbers.get
        found = [get(oid) for oid in object_ids]
        if None not in found:
            return cast(list[int], found)
        return [self.number(oid) if n is None else n for n, oid in zip(found, object_ids, strict=True)]

    def ids(self, numbers: list[int]) -> list[str]:
        return [self._ids[n] for n in numbers]

    def release(self) -> None:
        """Let the table go: for a caller that has saved it and will not read it again (a full backup's last
        step, the catalog, holds a row per object and needs the room more). Empty afterwards."""
        self._ids, self._numbers, self._stored = [], {}, []

    def save(self, writer: BlobWriter) -> list[str]:
        chunks = list(self._stored)
        for start in range(len(chunks) * RANGE, len(self._ids), RANGE):
            part = self._ids[start : start + RANGE]
            blob = writer.add_blob(encode_range(start, part))
            if len(part) == RANGE:
                self._stored.append(blob)
            chunks.append(blob)
        return chunks
