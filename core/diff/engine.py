"""Diff two snapshots into ``Change`` entries, reading only what differs between them.

For each type, ``core.diff.pairs`` finds the objects whose record blobs differ without loading a record.
Their records are then read in large batches (see ``_read_batches``) and compared field by field
(``core.diff.fields``) and relationship by relationship (``core.diff.links``). Each relationship change is
its own ``Change`` with ``link`` set. The cost follows the size of the change, not the size of the tenant.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any, Protocol, runtime_checkable

from core.diff.fields import compare_objects
from core.diff.links import LinkComparer, LinkDelta
from core.diff.model import Change, FieldChange, LinkChange
from core.diff.pairs import EntryPair, ManifestSource, differing
from core.diff.reasons import RemovedMaps, removed_reason
from core.registry import OBJECT_TYPES, ObjectType, UnknownType, object_type
from core.snapshots import BlobRepository, SnapshotReader, TypeManifest
from core.snapshots.snapshot import parent_manifest

BATCH = 8192  # object pairs whose records are read together
_REGISTRY_ORDER = {t.name: n for n, t in enumerate(OBJECT_TYPES)}


@runtime_checkable
class BatchReader(Protocol):
    def read_blobs(self, blob_ids: Iterable[str]) -> Iterator[tuple[str, bytes]]: ...


def diff(
    before: SnapshotReader,
    after: SnapshotReader,
    *,
    types: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    removed_reasons: RemovedMaps | None = None,
) -> Iterator[Change]:
    """What changed from ``before`` to ``after`` (two snapshots of one repository), type by type.

    ``types`` and ``ids`` narrow the diff (type names as the registry spells them, or as people do: "users").
    ``removed_reasons``: the ``removed`` maps of every snapshot after ``before`` up to ``after``, merged
    (``core.diff.reasons``); by default the ``after`` snapshot's own map. Unknown removals fall back to the
    registry: types without a recycle bin are hard-deleted.

    Each change carries the stored object (volatile properties aside) as ``before`` and ``after``; values the
    two have in common are one shared copy, so treat them as read-only. Changes come type by type, in
    registry order; within a type, in no particular order.
    """
    reasons = removed_reasons if removed_reasons is not None else after.record.get("removed", {})
    run = _DiffRun(before, after, reasons)
    wanted = {_type_name(name) for name in types} if types is not None else None
    id_set = set(ids) if ids is not None else None
    for name in type_order(set(before.type_names()) | set(after.type_names())):
        if wanted is None or name in wanted:
            yield from run.type_changes(name, id_set)


def type_order(names: Iterable[str]) -> list[str]:
    """Registry order (dependencies first), then types this version does not know, by name."""
    return sorted(names, key=lambda n: (_REGISTRY_ORDER.get(n, len(_REGISTRY_ORDER)), n))


def _type_name(name: str) -> str:
    try:
        return object_type(name).name
    except UnknownType:
        return name


class _DiffRun:
    def __init__(self, before: SnapshotReader, after: SnapshotReader, reasons: RemovedMaps) -> None:
        self.before = before
        self.after = after
        self.reasons = reasons
        self.source = ManifestSource(after.repo)
        self._manifests: dict[tuple[int, str], TypeManifest] = {}
        self.links = LinkComparer(
            after.repo,
            self.source.table(before.record.get("numbers")),  # shared with the manifest walks
            self.source.table(after.record.get("numbers")),
        )

    def type_changes(self, name: str, ids: set[str] | None) -> Iterator[Change]:
        t = registered(name)
        old = parent_manifest(self.before.record, name) or TypeManifest()
        new = parent_manifest(self.after.record, name) or TypeManifest()
        with _collector_paused():
            pairs = list(differing(self.source, old, new, ids))
        for chunk, raw in _read_batches(self.after.repo, pairs):
            with _collector_paused():
                records = _parse(raw)
                changes = [
                    change
                    for p in chunk
                    for change in self._compare(
                        name, t, p, _record(records, p.before), _record(records, p.after)
                    )
                ]
                del records  # the newer records' unchanged parts are freed before the collector runs again
            yield from changes

    def _compare(
        self,
        name: str,
        t: ObjectType | None,
        pair: EntryPair,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> Iterator[Change]:
        display = _display_name(t, pair, old, new)
        if old is None:
            assert new is not None
            yield Change(name, pair.id, display, "added", after=new["object"])
            return
        if new is None:
            reason = removed_reason(name, pair.id, self.reasons)
            yield Change(name, pair.id, display, "removed", removed_reason=reason, before=old["object"])
            return
        before_obj = old["object"]
        fields, after_obj = compare_objects(before_obj, new["object"])
        if fields:
            yield Change(
                name, pair.id, display, "modified", tuple(fields), before=before_obj, after=after_obj
            )
        for delta in self.links.compare(old.get("links", {}), new.get("links", {})):
            yield Change(
                name,
                pair.id,
                display,
                "modified",
                (FieldChange(delta.relationship, delta.old, delta.new),) if delta.single else (),
                link=LinkChange(delta.relationship, delta.added, delta.removed, self._names(t, delta)),
                before=before_obj,
                after=after_obj,
            )

    def _names(self, t: ObjectType | None, delta: LinkDelta) -> dict[str, str]:
        return linked_names(t, delta, self.name_of)

    def name_of(self, type_name: str, object_id: str) -> str | None:
        """An object's display name as the newer snapshot has it, else the older one."""
        for reader in (self.after, self.before):
            manifest = self._manifest(reader, type_name)
            entry = self.source.lookup(manifest, object_id) if manifest.blobs else None
            if entry is not None:
                name = entry.get("name")
                return name if isinstance(name, str) else None
        return None

    def _manifest(self, reader: SnapshotReader, type_name: str) -> TypeManifest:
        key = (id(reader), type_name)
        if key not in self._manifests:
            self._manifests[key] = parent_manifest(reader.record, type_name) or TypeManifest()
        return self._manifests[key]


def linked_names(
    t: ObjectType | None, delta: LinkDelta, name_of: Callable[[str, str], str | None]
) -> dict[str, str]:
    """Display names of the objects a relationship change links, where the snapshots know them."""
    rel = next((r for r in t.relationships if r.name == delta.relationship), None) if t else None
    targets = rel.targets if rel else tuple(x.name for x in OBJECT_TYPES)
    names: dict[str, str] = {}
    for object_id in (*delta.added, *delta.removed):
        name = next((n for target in targets if (n := name_of(target, object_id))), None)
        if name:
            names[object_id] = name
    return names


def registered(name: str) -> ObjectType | None:
    try:
        return object_type(name)
    except UnknownType:
        return None


def _display_name(
    t: ObjectType | None, pair: EntryPair, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> str | None:
    if isinstance(pair.name, str):
        return pair.name
    field = t.display_field if t else "displayName"
    for record in (new, old):
        value = record["object"].get(field) if record else None
        if isinstance(value, str):
            return value
    return None


Record = dict[str, Any]


def _read_batches(
    repo: BlobRepository, pairs: list[EntryPair]
) -> Iterator[tuple[list[EntryPair], dict[str, bytes]]]:
    """The pairs a batch at a time, with the raw records of both sides.

    A large diff reads the newer records in the repository's storage order (``read_blobs`` goes segment by
    segment) and, per batch, the older records of the same objects: backups write objects in the order
    Graph lists them, so those sit in the same order in their own packs and each segment is decompressed
    about once. Read in id order instead, every batch would touch nearly every segment again.
    """
    if isinstance(repo, BatchReader) and len(pairs) > BATCH:
        by_after = {p.after: p for p in pairs if p.after is not None}
        stream = iter(repo.read_blobs(by_after))
        while newer := dict(islice(stream, BATCH)):
            chosen = [by_after[blob_id] for blob_id in newer]
            yield chosen, newer | _read(repo, {p.before for p in chosen if p.before is not None})
        pairs = [p for p in pairs if p.after is None]  # removed objects: only older records to read
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        yield chunk, _read(repo, {blob for p in chunk for blob in (p.before, p.after) if blob is not None})


def _record(records: dict[str, Record], blob_id: str | None) -> Record | None:
    return None if blob_id is None else records[blob_id]


def _read(repo: BlobRepository, blob_ids: set[str]) -> dict[str, bytes]:
    if isinstance(repo, BatchReader):  # the repository reads a batch segment by segment
        return dict(repo.read_blobs(blob_ids))
    return {blob_id: repo.read_blob(blob_id) for blob_id in blob_ids}


def _parse(raw: dict[str, bytes]) -> dict[str, Record]:
    """Records by blob id, parsed in one call: the parser then shares the keys all records repeat."""
    parsed = json.loads(b"[" + b",".join(raw.values()) + b"]")
    return dict(zip(raw, parsed, strict=True))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsed records are trees (never cycles) and are kept until the batch is compared: the cyclic
    collector would only re-scan them, again and again, tripling the time. It runs again after the batch,
    before anything is handed to the caller."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
