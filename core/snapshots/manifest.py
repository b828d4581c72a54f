"""Manifest pages: a type's objects split into buckets by a hash of the id, one tree blob per bucket.

Pages are content-addressed, so a bucket nobody touched costs nothing to write again, and a snapshot that
changes 0.5% of a tenant rewrites only the pages holding those objects. Every snapshot lists all its pages:
any snapshot reads as the whole tenant without replaying a chain.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.port import BlobRepository, BlobWriter

ENTRIES_PER_PAGE = 512
MAX_BITS = 12


@dataclass
class Entry:
    """One object in a snapshot: where its record is, and what people call it."""

    id: str
    blob: str
    name: str | None = None
    principal: str | None = None
    parent: str | None = None  # owning object for child types (an assignment's service principal)
    chunks: tuple[str, ...] = ()  # blobs the record refers to (large relationship lists)
    volatile: dict[str, Any] | None = None  # kept here, not in the record, so churn doesn't defeat dedup

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "blob": self.blob}
        for key in ("name", "principal", "parent", "volatile"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.chunks:
            out["chunks"] = list(self.chunks)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            id=data["id"],
            blob=data["blob"],
            name=data.get("name"),
            principal=data.get("principal"),
            parent=data.get("parent"),
            chunks=tuple(data.get("chunks", ())),
            volatile=data.get("volatile"),
        )


@dataclass
class TypeManifest:
    bits: int = 0
    pages: list[str] = field(default_factory=list)
    count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"bits": self.bits, "pages": self.pages, "count": self.count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TypeManifest:
        return cls(bits=data["bits"], pages=list(data["pages"]), count=data["count"])


def bucket_of(object_id: str, bits: int) -> int:
    if bits == 0:
        return 0
    digest = hashlib.sha256(object_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - bits)


def bits_for(count: int, previous: int | None = None) -> int:
    ideal = (
        0 if count <= 2 * ENTRIES_PER_PAGE else min(MAX_BITS, math.ceil(math.log2(count / ENTRIES_PER_PAGE)))
    )
    # Hysteresis: re-bucketing rewrites every page, so only do it when the size really moved.
    if previous is not None and abs(previous - ideal) <= 1:
        return previous
    return ideal


def write_page(writer: BlobWriter, entries: Iterable[Entry]) -> str:
    ordered = sorted(entries, key=lambda e: e.id)
    blobs = sorted({e.blob for e in ordered} | {c for e in ordered for c in e.chunks})
    page = {"entries": [e.to_json() for e in ordered], "blobs": blobs}
    return writer.add_blob(canonical_json(page), kind="tree")


def read_page(repo: BlobRepository, page_id: str) -> list[Entry]:
    return [Entry.from_json(e) for e in load_json(repo.read_blob(page_id))["entries"]]


def iter_entries(repo: BlobRepository, manifest: TypeManifest) -> Iterator[Entry]:
    for page in manifest.pages:
        yield from read_page(repo, page)


def find_entry(repo: BlobRepository, manifest: TypeManifest, object_id: str) -> Entry | None:
    if not manifest.pages:
        return None
    page = manifest.pages[bucket_of(object_id, manifest.bits)]
    return next((e for e in read_page(repo, page) if e.id == object_id), None)


def write_pages(
    writer: BlobWriter, entries: Iterable[Entry], count: int, previous_bits: int | None
) -> TypeManifest:
    bits = bits_for(count, previous_bits)
    buckets: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        buckets[bucket_of(entry.id, bits)].append(entry)
    pages = [write_page(writer, buckets.get(b, [])) for b in range(1 << bits)]
    return TypeManifest(bits=bits, pages=pages, count=sum(len(v) for v in buckets.values()))


class TypeBuilder:
    """Builds one type's manifest: from scratch (full) or as changes over the parent's (incremental)."""

    def __init__(self, repo: BlobRepository, writer: BlobWriter, parent: TypeManifest | None) -> None:
        self._repo = repo
        self._writer = writer
        self._parent = parent
        self._changes: dict[str, Entry | None] = {}

    @property
    def incremental(self) -> bool:
        return self._parent is not None

    def put(self, entry: Entry) -> None:
        self._changes[entry.id] = entry

    def delete(self, object_id: str) -> None:
        self._changes[object_id] = None

    def entry(self, object_id: str) -> Entry | None:
        """The entry as this snapshot has it so far (its own change, else the parent's)."""
        if object_id in self._changes:
            return self._changes[object_id]
        return find_entry(self._repo, self._parent, object_id) if self._parent else None

    def finish(self) -> TypeManifest:
        if self._parent is None:
            live = [e for e in self._changes.values() if e is not None]
            return write_pages(self._writer, live, len(live), None)
        parent = self._parent
        touched: dict[int, dict[str, Entry | None]] = defaultdict(dict)
        for oid, entry in self._changes.items():
            touched[bucket_of(oid, parent.bits)][oid] = entry
        pages = list(parent.pages)
        count = parent.count
        for bucket, changes in touched.items():
            current = {e.id: e for e in read_page(self._repo, parent.pages[bucket])}
            before = len(current)
            for oid, entry in changes.items():
                if entry is None:
                    current.pop(oid, None)
                else:
                    current[oid] = entry
            count += len(current) - before
            pages[bucket] = write_page(self._writer, current.values())
        if bits_for(count, parent.bits) != parent.bits:
            merged = TypeManifest(parent.bits, pages, count)
            return write_pages(self._writer, list(iter_entries(self._repo, merged)), count, None)
        return TypeManifest(bits=parent.bits, pages=pages, count=count)

    def changed_ids(self) -> dict[str, Entry | None]:
        return dict(self._changes)
