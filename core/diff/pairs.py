"""Which objects of one type differ between two manifests, reading as little of either as possible.

Identical blob lists mean an identical type: nothing is read. With the same bucketing, a page shared by both
sides holds the same entries on both, so only pages that differ position by position are read, plus the
overlay deltas the two sides do not share; every id that could differ comes from those. Only then are
entries compared, by record blob: equal blob, equal object, and the record is never loaded.

Entries stay as the JSON the manifest stores (``{"id", "blob", "name", ...}``): building ``Entry`` objects
for whole pages would cost more than the comparison. An id looked up in a shared page is found in the page's
bytes and only its own entry is parsed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator
from typing import Any, NamedTuple

from core.snapshots import BlobRepository, TypeManifest, load_json
from core.snapshots.manifest import bucket_of

PAGE_CACHE = 8  # a walk reads each page once; lookups by id revisit a few
RawEntry = dict[str, Any]  # an entry as stored: "id", "blob", and "name", "principal", ... where known
_ENTRY_START = b'{"blob":'  # canonical JSON sorts keys: every stored entry starts with its blob
_DECODER = json.JSONDecoder()


class EntryPair(NamedTuple):
    """An object whose entries differ: its record blob on each side (None: absent) and its name."""

    id: str
    before: str | None
    after: str | None
    name: str | None


class ManifestSource:
    """Pages and deltas read once per diff: both sides usually share most of them."""

    def __init__(self, repo: BlobRepository) -> None:
        self.repo = repo
        self._deltas: dict[str, tuple[dict[str, RawEntry], list[str]]] = {}
        self._overlays: dict[tuple[str, ...], dict[str, RawEntry | None]] = {}
        self._raw: dict[str, bytes] = {}
        self._parsed: dict[str, dict[str, RawEntry]] = {}

    def raw_page(self, page_id: str) -> bytes:
        data = self._raw.get(page_id)
        if data is None:
            if len(self._raw) >= PAGE_CACHE:
                self._raw.pop(next(iter(self._raw)))
            data = self._raw[page_id] = self.repo.read_blob(page_id)
        return data

    def page(self, page_id: str) -> dict[str, RawEntry]:
        """Every entry of a page, by id."""
        found = self._parsed.get(page_id)
        if found is None:
            if len(self._parsed) >= PAGE_CACHE:
                self._parsed.pop(next(iter(self._parsed)))
            entries = load_json(self.raw_page(page_id))["entries"]
            found = self._parsed[page_id] = {e["id"]: e for e in entries}
        return found

    def page_entry(self, page_id: str, object_id: str) -> RawEntry | None:
        """One id's entry in a page, parsing only that entry when the page is not parsed already."""
        parsed = self._parsed.get(page_id)
        if parsed is not None:
            return parsed.get(object_id)
        data = self.raw_page(page_id)
        at = data.find(b'"id":' + json.dumps(object_id, ensure_ascii=False).encode())
        if at < 0:
            return None
        start = data.rfind(_ENTRY_START, 0, at)
        end = data.find(_ENTRY_START, at)
        try:
            entry, _ = _DECODER.raw_decode(data[start : end if end > 0 else len(data)].decode())
        except ValueError:
            entry = None
        if start < 0 or not isinstance(entry, dict) or entry.get("id") != object_id:
            return self.page(page_id).get(object_id)  # the bytes were not what they seemed: read it all
        return entry

    def delta(self, delta_id: str) -> tuple[dict[str, RawEntry], list[str]]:
        found = self._deltas.get(delta_id)
        if found is None:
            data = load_json(self.repo.read_blob(delta_id))
            found = self._deltas[delta_id] = ({e["id"]: e for e in data["entries"]}, list(data["deleted"]))
        return found

    def overlay(self, manifest: TypeManifest) -> dict[str, RawEntry | None]:
        key = tuple(manifest.overlay)
        merged = self._overlays.get(key)
        if merged is None:
            merged = {}
            for delta_id in manifest.overlay:  # oldest first: the newest delta wins
                entries, deleted = self.delta(delta_id)
                merged.update(entries)
                merged.update(dict.fromkeys(deleted))
            self._overlays[key] = merged
        return merged

    def delta_ids(self, delta_id: str) -> set[str]:
        entries, deleted = self.delta(delta_id)
        return set(entries) | set(deleted)

    def lookup(self, manifest: TypeManifest, object_id: str) -> RawEntry | None:
        overlay = self.overlay(manifest)
        if object_id in overlay:
            return overlay[object_id]
        if not manifest.pages:
            return None
        return self.page_entry(manifest.pages[bucket_of(object_id, manifest.bits)], object_id)

    def all_entries(self, manifest: TypeManifest) -> dict[str, RawEntry]:
        found: dict[str, RawEntry] = {}
        for page_id in manifest.pages:
            found.update((e["id"], e) for e in load_json(self.repo.read_blob(page_id))["entries"])
        for object_id, raw in self.overlay(manifest).items():
            if raw is None:
                found.pop(object_id, None)
            else:
                found[object_id] = raw
        return found


def differing(
    source: ManifestSource,
    before: TypeManifest,
    after: TypeManifest,
    ids: Collection[str] | None = None,
) -> Iterator[EntryPair]:
    """Every object whose entry differs (added, removed, or another record blob), in bucket order."""
    if before.blobs == after.blobs:
        return
    if ids is not None:
        for object_id in sorted(ids):
            pair = _pair(object_id, source.lookup(before, object_id), source.lookup(after, object_id))
            if pair is not None:
                yield pair
        return
    if before.bits != after.bits or len(before.pages) != len(after.pages) or not after.pages:
        yield from _full_scan(source, before, after)
        return
    yield from _by_bucket(source, before, after)


def _by_bucket(source: ManifestSource, before: TypeManifest, after: TypeManifest) -> Iterator[EntryPair]:
    bits = after.bits
    shared = 0  # deltas both overlays start with change nothing between the two sides
    for a, b in zip(before.overlay, after.overlay, strict=False):
        if a != b:
            break
        shared += 1
    buckets: dict[int, set[str]] = defaultdict(set)
    for delta_id in [*before.overlay[shared:], *after.overlay[shared:]]:
        for object_id in source.delta_ids(delta_id):
            buckets[bucket_of(object_id, bits)].add(object_id)
    for index, (a, b) in enumerate(zip(before.pages, after.pages, strict=True)):
        if a != b:
            buckets.setdefault(index, set())
    before_overlay, after_overlay = source.overlay(before), source.overlay(after)
    for index in sorted(buckets):
        page_a, page_b = before.pages[index], after.pages[index]
        candidates = buckets[index]
        if page_a != page_b:
            candidates |= source.page(page_a).keys() | source.page(page_b).keys()
        for object_id in sorted(candidates):
            old = (
                before_overlay[object_id]
                if object_id in before_overlay
                else source.page_entry(page_a, object_id)
            )
            new = (
                after_overlay[object_id]
                if object_id in after_overlay
                else source.page_entry(page_b, object_id)
            )
            pair = _pair(object_id, old, new)
            if pair is not None:
                yield pair


def _full_scan(source: ManifestSource, before: TypeManifest, after: TypeManifest) -> Iterator[EntryPair]:
    """Bucketing changed (or a side is empty): every entry of both sides, compared by id."""
    old = source.all_entries(before)
    new = source.all_entries(after)
    for object_id in sorted(old.keys() | new.keys()):
        pair = _pair(object_id, old.get(object_id), new.get(object_id))
        if pair is not None:
            yield pair


def _pair(object_id: str, before: RawEntry | None, after: RawEntry | None) -> EntryPair | None:
    if before is None:
        return None if after is None else EntryPair(object_id, None, after["blob"], after.get("name"))
    if after is None:
        return EntryPair(object_id, before["blob"], None, before.get("name"))
    if before["blob"] != after["blob"]:
        return EntryPair(object_id, before["blob"], after["blob"], after.get("name") or before.get("name"))
    return None
