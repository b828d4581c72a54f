"""Manifest pages: a type's objects split into buckets by their object number, one tree blob per bucket.

Pages are content-addressed, so a bucket nobody touched costs nothing to write again, and a snapshot that
changes 0.5% of a tenant rewrites only the pages holding those objects. Every snapshot lists all its pages:
any snapshot reads as the whole tenant without replaying a chain.

A page is keyed by object numbers (``core.snapshots.numbers``), not ids: the number table already holds
every id once, and a GUID costs ~20 bytes wherever it is stored, a sorted number's difference one or two.
A page is columns rather than rows, so like values sit together and compress together::

    {"blobs": [record blob of each entry, ..., then the chunk blobs they refer to],
     "numbers": [first number, difference to the next, ...],
     "name": [...], "principal": [...], "parent": [...], "volatile": [...], "chunks": [[...], ...]}

Each optional column is present only when some entry has a value. ``blobs`` doubles as the tree blob's list
of children (the repository's reachability convention), so each record blob is written once per page. An
overlay delta is a page plus ``deleted`` (numbers, as differences) and ``ids``: the ids of its entries and
deletions, so that a diff of consecutive snapshots names what changed without reading the number table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import RewindError
from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.numbers import ObjectNumbers, differences, running_sum
from core.snapshots.port import BlobRepository, BlobWriter

ENTRIES_PER_PAGE = 512
MAX_BITS = 12
COLUMNS = ("name", "principal", "parent", "volatile", "chunks")
_GOLDEN = 0x9E3779B1  # Fibonacci hashing: consecutive numbers land in evenly spread buckets

Numbers = Callable[[], ObjectNumbers]  # the snapshot's number table, loaded when first needed


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


@dataclass
class TypeManifest:
    """Base pages plus an overlay: the changes since the pages were written, newest delta last.

    Objects change at random, so 0.5% of a tenant touches most buckets; rewriting those pages on every
    incremental would cost the whole manifest. Changes go into one small delta blob instead, and the pages
    are rewritten ("rebased") only once the overlay grows past ``rebase_threshold``. Readers apply the
    overlay themselves: a snapshot still reads as the whole tenant with no chain to replay by hand.
    """

    bits: int = 0
    pages: list[str] = field(default_factory=list)
    count: int = 0
    overlay: list[str] = field(default_factory=list)
    overlay_size: int = 0  # entries and deletions across the overlay's deltas
    # The number table the pages are keyed by (the snapshot record's "numbers"); not stored per type.
    numbers: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bits": self.bits, "pages": self.pages, "count": self.count}
        if self.overlay:
            out |= {"overlay": self.overlay, "overlay_size": self.overlay_size}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], numbers: str | None = None) -> TypeManifest:
        return cls(
            bits=data["bits"],
            pages=list(data["pages"]),
            count=data["count"],
            overlay=list(data.get("overlay", [])),
            overlay_size=data.get("overlay_size", 0),
            numbers=numbers,
        )

    @property
    def blobs(self) -> list[str]:
        return [*self.pages, *self.overlay]


def rebase_threshold(count: int) -> int:
    return max(2048, count // 16)


def bucket_of(number: int, bits: int) -> int:
    if bits == 0:
        return 0
    return ((number * _GOLDEN) & 0xFFFFFFFF) >> (32 - bits)


def bits_for(count: int, previous: int | None = None) -> int:
    ideal = (
        0 if count <= 2 * ENTRIES_PER_PAGE else min(MAX_BITS, math.ceil(math.log2(count / ENTRIES_PER_PAGE)))
    )
    # Hysteresis: re-bucketing rewrites every page, so only do it when the size really moved.
    if previous is not None and abs(previous - ideal) <= 1:
        return previous
    return ideal


class MalformedPage(RewindError):
    """A page or delta that parses as JSON but not as a page: the store was damaged or written by another
    tool."""


class Page:
    """A parsed page or overlay delta: its entries as columns, in number order. Entries are built on demand,
    so a walk that only compares record blobs never builds one."""

    __slots__ = ("_where", "blobs", "columns", "deleted", "ids", "numbers")

    def __init__(self, data: Any) -> None:
        try:
            self.numbers: list[int] = running_sum(data.get("numbers", []))
            size = len(self.numbers)
            blobs = data["blobs"]
            self.blobs: list[str] = blobs[:size]
            self.columns: dict[str, list[Any]] = {c: data[c] for c in COLUMNS if c in data}
            self.deleted: list[int] = running_sum(data.get("deleted", []))
            ids = data.get("ids")
            # A delta's ids, by number: its entries' and its deletions'.
            self.ids: dict[int, str] = (
                dict(zip([*self.numbers, *self.deleted], ids, strict=True)) if ids else {}
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            raise MalformedPage("a manifest page is malformed: run `rewind verify`") from None
        if len(self.blobs) != size or any(len(v) != size for v in self.columns.values()):
            raise MalformedPage("a manifest page's columns differ in length: run `rewind verify`")
        self._where: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.numbers)

    def position(self, number: int) -> int | None:
        if self._where is None:
            self._where = {n: i for i, n in enumerate(self.numbers)}
        return self._where.get(number)

    def value(self, index: int, column: str) -> Any:
        values = self.columns.get(column)
        return values[index] if values is not None else None

    def entry(self, index: int, object_id: str) -> Entry:
        chunks = self.value(index, "chunks")
        return Entry(
            id=object_id,
            blob=self.blobs[index],
            name=self.value(index, "name"),
            principal=self.value(index, "principal"),
            parent=self.value(index, "parent"),
            chunks=tuple(chunks) if chunks else (),
            volatile=self.value(index, "volatile"),
        )


def encode_page(
    entries: Sequence[tuple[int, Entry]], deleted: Sequence[tuple[int, str]] | None = None
) -> bytes:
    """A page of entries in ascending number order; with ``deleted`` (number, id), an overlay delta."""
    body: dict[str, Any] = {
        "numbers": differences([n for n, _ in entries]),
        "blobs": [e.blob for _, e in entries] + sorted({c for _, e in entries for c in e.chunks}),
    }
    for column in COLUMNS:
        if column == "chunks":
            chunks = [list(e.chunks) for _, e in entries]
            if any(chunks):
                body[column] = chunks
            continue
        values = [getattr(e, column) for _, e in entries]
        if any(v is not None for v in values):
            body[column] = values
    if deleted is not None:
        gone = sorted(deleted)
        body["deleted"] = differences([n for n, _ in gone])
        body["ids"] = [e.id for _, e in entries] + [oid for _, oid in gone]
    return canonical_json(body)


class PageCache:
    """Parsed pages, bounded: diff and restore look up many ids in the same few pages. Overlay deltas are
    kept apart and never evicted: they are small, and every lookup and walk of a manifest reads them."""

    def __init__(self, repo: BlobRepository, size: int = 64) -> None:
        self.repo = repo
        self.size = size
        self._pages: dict[str, Page] = {}
        self._kept: dict[str, Page] = {}

    def get(self, page_id: str) -> Page:
        cached = self._kept.get(page_id)
        if cached is None:
            cached = self._pages.get(page_id)
        if cached is None:
            if len(self._pages) >= self.size:
                self._pages.pop(next(iter(self._pages)))
            cached = self._pages[page_id] = self._load(page_id)
        return cached

    def keep(self, page_id: str) -> Page:
        """A page held as long as the cache is."""
        kept = self._kept.get(page_id)
        if kept is None:
            cached = self._pages.pop(page_id, None)  # a Page with no entries is falsy: no `or` here
            kept = self._kept[page_id] = cached if cached is not None else self._load(page_id)
        return kept

    def _load(self, page_id: str) -> Page:
        return Page(load_json(self.repo.read_blob(page_id)))


Slot = tuple[Page, int]  # where an entry is: the page or delta holding it, and its position there


class ManifestView:
    """Reads a manifest: overlay first (newest delta wins), then the base page of the number's bucket."""

    def __init__(
        self, repo: BlobRepository, manifest: TypeManifest, pages: PageCache, numbers: Numbers
    ) -> None:
        self.repo = repo
        self.manifest = manifest
        self.pages = pages
        self._numbers = numbers
        self._overlay: dict[int, Slot | None] | None = None

    @property
    def numbers(self) -> ObjectNumbers:
        return self._numbers()

    @property
    def overlay(self) -> dict[int, Slot | None]:
        """Object number -> its entry in the newest delta naming it (None: deleted there)."""
        if self._overlay is None:
            self._overlay = merge_overlay(self.pages.keep(d) for d in self.manifest.overlay)
        return self._overlay

    def slot(self, number: int) -> Slot | None:
        if number in self.overlay:
            return self.overlay[number]
        if not self.manifest.pages:
            return None
        page = self.pages.get(self.manifest.pages[bucket_of(number, self.manifest.bits)])
        index = page.position(number)
        return None if index is None else (page, index)

    def by_number(self, number: int) -> Entry | None:
        found = self.slot(number)
        return None if found is None else found[0].entry(found[1], self.numbers.object_id(number))

    def entry(self, object_id: str) -> Entry | None:
        number = self.numbers.known(object_id)
        return None if number is None else self.by_number(number)

    def slots(self) -> Iterator[tuple[int, Slot]]:
        """Every entry's number and slot: base pages in page order, then the overlay's live entries."""
        overlay = self.overlay
        for page_id in self.manifest.pages:
            page = self.pages.get(page_id)
            for index, number in enumerate(page.numbers):
                if number not in overlay:
                    yield number, (page, index)
        yield from ((n, s) for n, s in overlay.items() if s is not None)

    def entries(self) -> Iterator[Entry]:
        return (entry for _, entry in self.numbered_entries())

    def numbered_entries(self) -> Iterator[tuple[int, Entry]]:
        ids = self.numbers
        for number, (page, index) in self.slots():
            yield number, page.entry(index, ids.object_id(number))


def merge_overlay(deltas: Iterable[Page]) -> dict[int, Slot | None]:
    merged: dict[int, Slot | None] = {}
    for delta in deltas:  # oldest first: the newest delta wins
        merged.update((n, (delta, i)) for i, n in enumerate(delta.numbers))
        merged.update(dict.fromkeys(delta.deleted))
    return merged


def write_pages(
    writer: BlobWriter, entries: Mapping[int, Entry | None], previous_bits: int | None
) -> TypeManifest:
    """Every live entry of ``entries`` (number -> entry; None: deleted) into freshly bucketed pages."""
    live = [n for n, e in entries.items() if e is not None]
    bits = bits_for(len(live), previous_bits)
    buckets: dict[int, list[int]] = defaultdict(list)
    for number in live:
        buckets[bucket_of(number, bits)].append(number)
    pages = []
    for bucket in range(1 << bits):
        members = [(n, e) for n in sorted(buckets.pop(bucket, [])) if (e := entries[n]) is not None]
        pages.append(writer.add_blob(encode_page(members), kind="tree"))
    return TypeManifest(bits=bits, pages=pages, count=len(live))


def _number(item: tuple[int, Entry]) -> int:
    return item[0]


class TypeBuilder:
    """Builds one type's manifest: from scratch (full) or as changes over the parent's (incremental)."""

    def __init__(
        self,
        repo: BlobRepository,
        writer: BlobWriter,
        parent: TypeManifest | None,
        numbers: ObjectNumbers,
    ) -> None:
        self._writer = writer
        self._numbers = numbers
        self._parent = ManifestView(repo, parent, PageCache(repo), lambda: numbers) if parent else None
        self._changes: dict[int, Entry | None] = {}

    @property
    def incremental(self) -> bool:
        return self._parent is not None

    def put(self, entry: Entry, number: int | None = None) -> None:
        """``number``: the entry's, when the caller has it already."""
        self._changes[self._numbers.number(entry.id) if number is None else number] = entry

    def delete(self, object_id: str) -> None:
        number = self._numbers.known(object_id)
        if number is not None:  # never numbered: in no snapshot, nothing to delete
            self._changes[number] = None

    def entry(self, object_id: str) -> Entry | None:
        """The entry as this snapshot has it so far (its own change, else the parent's)."""
        number = self._numbers.known(object_id)
        if number is None:
            return None
        if number in self._changes:
            return self._changes[number]
        return self._parent.by_number(number) if self._parent else None

    def finish(self) -> TypeManifest:
        if self._parent is None:
            return write_pages(self._writer, self._changes, None)
        base = self._parent
        # Deleting what is absent, or putting back an identical entry, changes nothing.
        before = {n: base.by_number(n) for n in self._changes}
        changes = {n: e for n, e in self._changes.items() if before[n] != e}
        count = base.manifest.count + sum(
            (e is not None) - (before[n] is not None) for n, e in changes.items()
        )
        if not changes:
            return TypeManifest(
                bits=base.manifest.bits,
                pages=list(base.manifest.pages),
                count=count,
                overlay=list(base.manifest.overlay),
                overlay_size=base.manifest.overlay_size,
            )
        overlay_size = base.manifest.overlay_size + len(changes)
        if (
            overlay_size <= rebase_threshold(count)
            and bits_for(count, base.manifest.bits) == base.manifest.bits
        ):
            live = sorted(((n, e) for n, e in changes.items() if e is not None), key=_number)
            deleted = [(n, self._numbers.object_id(n)) for n, e in changes.items() if e is None]
            delta = self._writer.add_blob(encode_page(live, deleted), kind="tree")
            return TypeManifest(
                bits=base.manifest.bits,
                pages=list(base.manifest.pages),
                count=count,
                overlay=[*base.manifest.overlay, delta],
                overlay_size=overlay_size,
            )
        merged: dict[int, Entry | None] = dict(base.numbered_entries())
        merged.update(changes)
        return write_pages(self._writer, merged, base.manifest.bits)

    def drain(self) -> Iterator[Entry]:
        """The entries put, each let go once yielded (the builder is empty afterwards)."""
        changes, self._changes = self._changes, {}
        while changes:
            _, entry = changes.popitem()
            if entry is not None:
                yield entry

    def changed_ids(self) -> dict[str, Entry | None]:
        ids = self._numbers
        return {ids.object_id(n): e for n, e in self._changes.items()}
