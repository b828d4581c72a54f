"""Writing and reading whole-tenant snapshots: object records, relationship lists, manifests, records.

An object record is the canonical JSON of ``{"object", "links"}``: the object without its volatile
properties, and its relationships as object numbers (``core.snapshots.numbers``): a single one (manager),
or a sorted list stored as its differences (``link_numbers`` reads either back). The type and id are the
manifest entry's; repeated in every record they would cost ~3% of its stored size. Lists longer than
``INLINE_LINKS`` are stored in chunks by number range (``{"numbers": differences}``), so adding one member
to an all-staff group rewrites one chunk, not the whole list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import RewindError
from core.registry import ObjectType
from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.manifest import Entry, ManifestView, PageCache, TypeBuilder, TypeManifest
from core.snapshots.numbers import ObjectNumbers, differences, running_sum
from core.snapshots.port import BlobRepository, BlobWriter

FORMAT_VERSION = 2  # 2: number-keyed column pages, records without type and id, lists as differences
INLINE_LINKS = 2048
LINK_RANGE = 4096  # numbers per stored chunk of a long relationship list

LinkValue = list[str] | str | None


@dataclass
class StoredObject:
    type: str
    id: str
    object: dict[str, Any]
    links: dict[str, LinkValue]
    volatile: dict[str, Any] | None = None

    def full(self) -> dict[str, Any]:
        """The object as Graph returned it: stable and volatile properties together."""
        return {**self.object, **(self.volatile or {})}


class SnapshotWriter:
    def __init__(
        self,
        repo: BlobRepository,
        writer: BlobWriter,
        *,
        tenant_id: str,
        parent: Mapping[str, Any] | None,
        numbers: ObjectNumbers,
    ) -> None:
        self._repo = repo
        self._writer = writer
        self.tenant_id = tenant_id
        self._parent = parent
        self.numbers = numbers
        self._types: dict[str, TypeBuilder] = {}
        self.stats: dict[str, int] = defaultdict(int)

    def builder(self, name: str, *, incremental: bool) -> TypeBuilder:
        """One builder per type; incremental builds start from the parent's pages of that type."""
        if name not in self._types:
            parent = parent_manifest(self._parent, name) if incremental else None
            self._types[name] = TypeBuilder(self._repo, self._writer, parent, self.numbers)
        return self._types[name]

    def deleted_ids(self, parent: SnapshotReader | None) -> dict[str, set[str]]:
        """Per type, the ids in the parent snapshot that this one no longer holds."""
        gone: dict[str, set[str]] = {}
        for name, builder in self._types.items():
            changes = builder.changed_ids()
            if builder.incremental:
                gone[name] = {oid for oid, entry in changes.items() if entry is None}
            elif parent is not None:
                gone[name] = {e.id for e in parent.entries(name)} - {oid for oid, e in changes.items() if e}
        return gone

    def restart(self, name: str) -> TypeBuilder:
        """Drop what this run wrote for a type so far and read it from scratch (an expired delta token)."""
        self._types[name] = TypeBuilder(self._repo, self._writer, None, self.numbers)
        return self._types[name]

    def put(
        self,
        t: ObjectType,
        obj: Mapping[str, Any],
        links: Mapping[str, LinkValue] | None = None,
        *,
        parent_id: str | None = None,
    ) -> Entry:
        # The number table's copy of the id: one string per id, however many entries and lists hold it.
        number = self.numbers.number(str(obj[t.id_field]))
        object_id = self.numbers.object_id(number)
        stable = dict(obj)
        for key in t.volatile:
            stable.pop(key, None)
        if "@delta" in "".join(stable):  # readers strip annotations already: one check, not one per key
            stable = {k: v for k, v in stable.items() if not k.endswith("@delta")}
        volatile = {k: obj[k] for k in t.volatile if obj.get(k) is not None} or None
        encoded_links, chunks = self._encode_links(links or {})
        record = {"object": stable, "links": encoded_links}
        entry = Entry(
            id=object_id,
            blob=self._writer.add_blob(canonical_json(record)),
            name=_text(obj.get(t.display_field)),
            principal=_text(obj.get(t.principal_field)) if t.principal_field else None,
            parent=parent_id,
            chunks=tuple(chunks),
            volatile=volatile,
        )
        self._types[t.name].put(entry, number)
        self.stats["objects_put"] += 1
        return entry

    def delete(self, t: ObjectType, object_id: str) -> None:
        self._types[t.name].delete(object_id)

    def _encode_links(self, links: Mapping[str, LinkValue]) -> tuple[dict[str, Any], list[str]]:
        encoded: dict[str, Any] = {}
        chunks: list[str] = []
        for name, value in sorted(links.items()):
            if value is None:
                continue
            if isinstance(value, str):
                encoded[name] = self.numbers.number(value)
                continue
            numbers = self.numbers.numbers(value)
            if len(numbers) <= INLINE_LINKS:
                encoded[name] = differences(numbers)
                continue
            ranges: dict[int, list[int]] = defaultdict(list)
            for n in numbers:
                ranges[n // LINK_RANGE].append(n)
            ids = [
                self._writer.add_blob(canonical_json({"numbers": differences(part)}))
                for _, part in sorted(ranges.items())
            ]
            chunks.extend(ids)
            encoded[name] = {"chunks": ids, "count": len(numbers)}
        return encoded, chunks

    def drain(self) -> Iterator[tuple[str, Entry]]:
        """Every entry this run put, by type, each let go once yielded: after ``finish`` and ``deleted_ids``
        only the catalog still needs them, and a full backup holds one per object."""
        for name in sorted(self._types):
            yield from ((name, entry) for entry in self._types[name].drain())

    def finish(
        self, *, kind: str, delta_tokens: Mapping[str, str], extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the remaining pages and the number table; return the snapshot record to save."""
        manifests = {name: builder.finish() for name, builder in sorted(self._types.items())}
        if self._parent:  # types this run did not touch are carried over unchanged
            for name, data in self._parent.get("types", {}).items():
                manifests.setdefault(name, TypeManifest.from_json(data))
        numbers = self.numbers.save(self._writer)
        misc = self._writer.add_blob(
            canonical_json({"blobs": sorted(set(numbers)), "numbers": numbers}), kind="tree"
        )
        roots = sorted({misc, *(b for m in manifests.values() for b in m.blobs)})
        return {
            "format": FORMAT_VERSION,
            "tenant_id": self.tenant_id,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "kind": kind,
            "parent": self._parent.get("id") if self._parent else None,
            "types": {name: m.to_json() for name, m in manifests.items()},
            "counts": {name: m.count for name, m in manifests.items()},
            "numbers": misc,
            "delta_tokens": dict(delta_tokens),
            "roots": roots,
            **extra,
        }


class SnapshotReader:
    """Reads one snapshot as the complete tenant state it recorded."""

    def __init__(self, repo: BlobRepository, record: Mapping[str, Any]) -> None:
        check_format(record)
        self.repo = repo
        self.record = record
        self._numbers: ObjectNumbers | None = None
        self._pages = PageCache(repo)
        self._views: dict[str, ManifestView] = {}

    @property
    def numbers(self) -> ObjectNumbers:
        if self._numbers is None:
            misc = load_json(self.repo.read_blob(self.record["numbers"]))
            self._numbers = ObjectNumbers.load(self.repo, misc["numbers"])
        return self._numbers

    def type_names(self) -> list[str]:
        return sorted(self.record.get("types", {}))

    def manifest(self, type_name: str) -> TypeManifest:
        return self.view(type_name).manifest

    def view(self, type_name: str) -> ManifestView:
        if type_name not in self._views:
            # A type this snapshot lacks reads as empty, numbered like the rest of the snapshot.
            numbers = self.record.get("numbers")
            manifest = parent_manifest(self.record, type_name) or TypeManifest(numbers=numbers)
            self._views[type_name] = ManifestView(self.repo, manifest, self._pages, lambda: self.numbers)
        return self._views[type_name]

    def entries(self, type_name: str) -> Iterator[Entry]:
        yield from self.view(type_name).entries()

    def entry(self, type_name: str, object_id: str) -> Entry | None:
        return self.view(type_name).entry(object_id)

    def load(self, type_name: str, entry: Entry) -> StoredObject:
        record = load_json(self.repo.read_blob(entry.blob))
        links: dict[str, LinkValue] = {}
        for name, value in record["links"].items():
            if isinstance(value, int):
                links[name] = self.numbers.object_id(value)
            else:
                links[name] = self.numbers.ids(link_numbers(self.repo, value))
        return StoredObject(type_name, entry.id, record["object"], links, entry.volatile)

    def get(self, type_name: str, object_id: str) -> StoredObject | None:
        entry = self.entry(type_name, object_id)
        return self.load(type_name, entry) if entry else None

    def objects(self, type_name: str) -> Iterator[StoredObject]:
        for entry in self.entries(type_name):
            yield self.load(type_name, entry)


class SnapshotFormatError(RewindError):
    """A snapshot record in a format this Rewind does not read."""


def check_format(record: Mapping[str, Any]) -> None:
    found = record.get("format")
    if found == FORMAT_VERSION:
        return
    name = f"snapshot {record['id']}" if record.get("id") else "a snapshot"
    if isinstance(found, int) and found > FORMAT_VERSION:
        raise SnapshotFormatError(f"{name} is in format {found}, newer than this Rewind reads: upgrade it")
    raise SnapshotFormatError(
        f"{name} is in format {found}, a pre-release format this Rewind no longer reads: "
        "back up into a new repository"
    )


def link_numbers(repo: BlobRepository, value: list[int] | dict[str, Any]) -> list[int]:
    """A stored relationship list's numbers, ascending: inline, or read from its chunks."""
    if isinstance(value, dict):
        return [n for chunk in value["chunks"] for n in chunk_numbers(repo, chunk)]
    return running_sum(value)


def chunk_numbers(repo: BlobRepository, chunk: str) -> list[int]:
    return running_sum(load_json(repo.read_blob(chunk))["numbers"])


def parent_manifest(record: Mapping[str, Any] | None, type_name: str) -> TypeManifest | None:
    data = (record or {}).get("types", {}).get(type_name)
    return TypeManifest.from_json(data, (record or {}).get("numbers")) if data else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
