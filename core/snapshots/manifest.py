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


@dataclass(slots=True)
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
    """Base pages plus an overlay: the changes since the pages were written, newest delta last.

    Objects change at random ids, so 0.5% of a tenant touches most hash buckets; rewriting those pages on
    every incremental would cost the whole manifest. Changes go into one small delta blob instead, and the
    pages are rewritten ("rebased") only once the overlay grows past ``rebase_threshold``. Readers apply the
    overlay themselves: a snapshot still reads as the whole tenant with no chain to replay by hand.
    """

    bits: int = 0
    pages: list[str] = field(default_factory=list)
    count: int = 0
    overlay: list[str] = field(default_factory=list)
    overlay_size: int = 0  # entries and deletions across the overlay's deltas

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bits": self.bits, "pages": self.pages, "count": self.count}
        if self.overlay:
            out |= {"overlay": self.overlay, "overlay_size": self.overlay_size}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TypeManifest:
        return cls(
            bits=data["bits"],
            pages=list(data["pages"]),
            count=data["count"],
            overlay=list(data.get("overlay", [])),
            overlay_size=data.get("overlay_size", 0),
        )

    @property
    def blobs(self) -> list[str]:
        return [*self.pages, *self.overlay]


def rebase_threshold(count: int) -> int:
    return max(2048, count // 16)


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


class ManifestView:
    """Reads a manifest: overlay first (newest delta wins), then the base page of the id's bucket."""

    def __init__(self, repo: BlobRepository, manifest: TypeManifest, pages: PageCache | None = None) -> None:
        self.repo = repo
        self.manifest = manifest
        self.pages = pages or PageCache(repo)
        self._overlay: dict[str, Entry | None] | None = None

    @property
    def overlay(self) -> dict[str, Entry | None]:
        if self._overlay is None:
            merged: dict[str, Entry | None] = {}
            for delta_id in self.manifest.overlay:
                delta = load_json(self.repo.read_blob(delta_id))
                merged.update({e["id"]: Entry.from_json(e) for e in delta["entries"]})
                merged.update(dict.fromkeys(delta["deleted"]))
            self._overlay = merged
        return self._overlay

    def entry(self, object_id: str) -> Entry | None:
        if object_id in self.overlay:
            return self.overlay[object_id]
        if not self.manifest.pages:
            return None
        return self.pages.get(self.manifest.pages[bucket_of(object_id, self.manifest.bits)]).get(object_id)

    def entries(self) -> Iterator[Entry]:
        overlay = self.overlay
        for page in self.manifest.pages:
            for entry in self.pages.get(page).values():
                if entry.id not in overlay:
                    yield entry
        yield from (e for e in overlay.values() if e is not None)


class PageCache:
    """Parsed pages, bounded: diff and restore look up many ids in the same few pages."""

    def __init__(self, repo: BlobRepository, size: int = 64) -> None:
        self.repo = repo
        self.size = size
        self._pages: dict[str, dict[str, Entry]] = {}

    def get(self, page_id: str) -> dict[str, Entry]:
        cached = self._pages.get(page_id)
        if cached is None:
            if len(self._pages) >= self.size:
                self._pages.pop(next(iter(self._pages)))
            cached = self._pages[page_id] = {e.id: e for e in read_page(self.repo, page_id)}
        return cached


def write_delta(writer: BlobWriter, changes: dict[str, Entry | None]) -> str:
    live = sorted((e for e in changes.values() if e is not None), key=lambda e: e.id)
    blobs = sorted({e.blob for e in live} | {c for e in live for c in e.chunks})
    delta = {
        "entries": [e.to_json() for e in live],
        "deleted": sorted(oid for oid, e in changes.items() if e is None),
        "blobs": blobs,
    }
    return writer.add_blob(canonical_json(delta), kind="tree")


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
        self._writer = writer
        self._parent = ManifestView(repo, parent) if parent else None
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
        return self._parent.entry(object_id) if self._parent else None

    def finish(self) -> TypeManifest:
        if self._parent is None:
            live = [e for e in self._changes.values() if e is not None]
            return write_pages(self._writer, live, len(live), None)
        base = self._parent
        # Deleting what is absent, or putting back an identical entry, changes nothing.
        changes = {oid: e for oid, e in self._changes.items() if base.entry(oid) != e}
        count = base.manifest.count + sum(
            (e is not None) - (base.entry(oid) is not None) for oid, e in changes.items()
        )
        if not changes:
            return TypeManifest(**{**base.manifest.__dict__, "count": count})
        overlay_size = base.manifest.overlay_size + len(changes)
        if (
            overlay_size <= rebase_threshold(count)
            and bits_for(count, base.manifest.bits) == base.manifest.bits
        ):
            return TypeManifest(
                bits=base.manifest.bits,
                pages=list(base.manifest.pages),
                count=count,
                overlay=[*base.manifest.overlay, write_delta(self._writer, changes)],
                overlay_size=overlay_size,
            )
        merged = {e.id: e for e in base.entries()}
        for oid, entry in changes.items():
            if entry is None:
                merged.pop(oid, None)
            else:
                merged[oid] = entry
        return write_pages(self._writer, merged.values(), len(merged), base.manifest.bits)

    def changed_ids(self) -> dict[str, Entry | None]:
        return dict(self._changes)
