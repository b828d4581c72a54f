"""Which objects of one type differ between two manifests, reading as little of either as possible.

Identical blob lists mean an identical type: nothing is read. Pages are keyed by object number, and every
snapshot of a repository extends one numbering, so with the same bucketing a page shared by both sides holds
the same entries on both; only pages that differ position by position are read, plus the overlay deltas the
two sides do not share, and every number that could differ comes from those. Entries are compared by record
blob straight from the pages' columns (equal blob, equal object: the record is never loaded), and only the
numbers that differ are turned back into ids: from the overlay deltas, which carry the ids they name, else
from the number table, one range at a time.

Two snapshots numbered apart (a repository started afresh) or bucketed apart are compared entry by entry,
by id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from typing import Any, NamedTuple

from core.diff.links import NumberTable, id_of_either, same_numbering
from core.snapshots import BlobRepository, ObjectNumbers, TypeManifest
from core.snapshots.manifest import ManifestView, Page, PageCache, Slot, bucket_of

PAGE_CACHE = 8  # a walk reads each page once; lookups by id revisit a few
RawEntry = dict[str, Any]  # an entry as plain values: "blob", and "name", "principal", ... where known


class EntryPair(NamedTuple):
    """An object whose entries differ: its record blob on each side (None: absent) and its name."""

    id: str
    before: str | None
    after: str | None
    name: str | None


class ManifestSource:
    """Pages, deltas and number tables read once per diff: both sides usually share most of them."""

    def __init__(self, repo: BlobRepository) -> None:
        self.repo = repo
        self.pages = PageCache(repo, PAGE_CACHE)
        self._views: dict[tuple[str | None, ...], ManifestView] = {}
        self._tables: dict[str | None, NumberTable] = {}
        self._reverse: dict[str | None, ObjectNumbers] = {}

    def table(self, numbers: str | None) -> NumberTable:
        """Number -> id for a snapshot's number table (its record's ``numbers``), a range at a time."""
        found = self._tables.get(numbers)
        if found is None:
            found = self._tables[numbers] = NumberTable(self.repo, numbers)
        return found

    def numbering(self, manifest: TypeManifest) -> ObjectNumbers:
        """Id -> number: the whole table, read once for lookups by id."""
        found = self._reverse.get(manifest.numbers)
        if found is None:
            table = self.table(manifest.numbers)
            ids = [oid for index in range(len(table.chunks)) for oid in table.range_ids(index)]
            found = self._reverse[manifest.numbers] = ObjectNumbers(ids)
        return found

    def delta(self, delta_id: str) -> Page:
        return self.pages.keep(delta_id)

    def view(self, manifest: TypeManifest) -> ManifestView:
        """The manifest's reader, sharing this diff's page cache and number tables."""
        key = (*manifest.blobs, manifest.numbers)
        found = self._views.get(key)
        if found is None:
            found = self._views[key] = ManifestView(
                self.repo, manifest, self.pages, lambda: self.numbering(manifest)
            )
        return found

    def lookup(self, manifest: TypeManifest, object_id: str) -> RawEntry | None:
        if not manifest.blobs:
            return None
        view = self.view(manifest)
        number = view.numbers.known(object_id)
        found = None if number is None else view.slot(number)
        return None if found is None else raw_entry(found)


def raw_entry(slot: Slot) -> RawEntry:
    page, index = slot
    entry: RawEntry = {"blob": page.blobs[index]}
    for column, values in page.columns.items():
        if values[index] is not None:
            entry[column] = values[index]
    return entry


def differing(
    source: ManifestSource,
    before: TypeManifest,
    after: TypeManifest,
    ids: Collection[str] | None = None,
) -> Iterator[EntryPair]:
    """Every object whose entry differs (added, removed, or another record blob)."""
    if before.blobs == after.blobs:
        return
    if ids is not None:
        for object_id in sorted(ids):
            old, new = source.lookup(before, object_id), source.lookup(after, object_id)
            if _blob(old) != _blob(new):
                name = (new or {}).get("name") or (old or {}).get("name")
                yield EntryPair(object_id, _blob(old), _blob(new), name)
        return
    comparable = (
        before.bits == after.bits
        and len(before.pages) == len(after.pages)
        and bool(after.pages)
        and same_numbering(source.table(before.numbers), source.table(after.numbers))
    )
    if comparable:
        yield from _by_bucket(source, before, after)
    else:
        yield from _full_scan(source, before, after)


def _by_bucket(source: ManifestSource, before: TypeManifest, after: TypeManifest) -> Iterator[EntryPair]:
    bits = after.bits
    shared = 0  # deltas both overlays start with change nothing between the two sides
    for a, b in zip(before.overlay, after.overlay, strict=False):
        if a != b:
            break
        shared += 1
    buckets: dict[int, set[int]] = defaultdict(set)
    for delta_id in [*before.overlay[shared:], *after.overlay[shared:]]:
        delta = source.delta(delta_id)
        for number in (*delta.numbers, *delta.deleted):
            buckets[bucket_of(number, bits)].add(number)
    for index, (a, b) in enumerate(zip(before.pages, after.pages, strict=True)):
        if a != b:
            buckets.setdefault(index, set())
    old_table, new_table = source.table(before.numbers), source.table(after.numbers)
    named = {n: oid for d in [*before.overlay, *after.overlay] for n, oid in source.delta(d).ids.items()}

    def resolve(number: int) -> str:
        return named[number] if number in named else id_of_either(old_table, new_table, number)

    old_view, new_view = source.view(before), source.view(after)
    for index in sorted(buckets):
        page_a, page_b = before.pages[index], after.pages[index]
        candidates = buckets[index]
        if page_a != page_b:
            candidates |= {*source.pages.get(page_a).numbers, *source.pages.get(page_b).numbers}
        for number in sorted(candidates):
            pair = _pair(number, old_view.slot(number), new_view.slot(number), resolve)
            if pair is not None:
                yield pair


def _full_scan(source: ManifestSource, before: TypeManifest, after: TypeManifest) -> Iterator[EntryPair]:
    """Bucketing or numbering differs (or a side is empty): every entry of both sides, compared by id."""
    old_table, new_table = source.table(before.numbers), source.table(after.numbers)
    old = {old_table.id_of(n): slot for n, slot in source.view(before).slots()}
    new = {new_table.id_of(n): slot for n, slot in source.view(after).slots()}
    for object_id in sorted(old.keys() | new.keys()):
        pair = _pair(object_id, old.get(object_id), new.get(object_id), str)
        if pair is not None:
            yield pair


def _pair(
    key: Any, before: Slot | None, after: Slot | None, resolve: Callable[[Any], str]
) -> EntryPair | None:
    old = before[0].blobs[before[1]] if before else None
    new = after[0].blobs[after[1]] if after else None
    if old == new:
        return None
    name = _name(after) or _name(before)
    return EntryPair(resolve(key), old, new, name)


def _name(slot: Slot | None) -> str | None:
    if slot is None:
        return None
    value = slot[0].value(slot[1], "name")
    return value if isinstance(value, str) else None


def _blob(entry: RawEntry | None) -> str | None:
    return None if entry is None else str(entry["blob"])
