"""One object's history across snapshots: each version, what changed from the one before, when it went.

The catalog knows every version of an object as an interval of snapshots, so no snapshot is walked: the
object is found by id, UPN or display name (ambiguous names are listed, never guessed), its versions come
from the catalog, and only the records of those versions are read to say what changed between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from core.catalog import Catalog, ObjectRef, ObjectVersionRow, SnapshotRow, named_exactly
from core.diff.engine import linked_names, registered
from core.diff.fields import field_changes
from core.diff.links import LinkComparer, NumberTable
from core.diff.model import FieldChange, LinkChange, RemovedReason
from core.diff.reasons import removed_reason
from core.errors import RewindError
from core.registry import object_type
from core.snapshots import BlobRepository, SnapshotReader, load_json

HistoryEvent = Literal["existing", "added", "modified", "removed"]


class ObjectNotFound(RewindError):
    pass


class AmbiguousObject(RewindError):
    """Several objects answer to the name; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: list[ObjectRef]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class HistoryEntry:
    """One event in an object's life. ``existing``: already there in the tenant's first snapshot."""

    type: str
    id: str
    event: HistoryEvent
    snapshot_id: str  # first snapshot with this version; for "removed", the first snapshot without it
    at: datetime
    display_name: str | None = None
    principal_name: str | None = None
    until_snapshot_id: str | None = None  # last snapshot holding this version
    until: datetime | None = None
    current: bool = False
    fields: tuple[FieldChange, ...] = ()  # from the previous version
    links: tuple[LinkChange, ...] = ()
    removed_reason: RemovedReason | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "event": self.event,
            "snapshot_id": self.snapshot_id,
            "at": self.at.isoformat(),
            "display_name": self.display_name,
            "principal_name": self.principal_name,
            "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in self.fields],
            "relationships": [
                {"name": c.relationship, "added": list(c.added), "removed": list(c.removed), "names": c.names}
                for c in self.links
            ],
        }
        if self.event != "removed":
            out |= {
                "until_snapshot_id": self.until_snapshot_id,
                "until": self.until.isoformat() if self.until else None,
                "current": self.current,
            }
        if self.removed_reason:
            out["removed_reason"] = self.removed_reason
        return out


def find_object(catalog: Catalog, tenant: str, text: str, *, type_name: str | None = None) -> ObjectRef:
    """The one object, current or past, whose id, principal name or display name is ``text``."""
    needle = text.strip()
    wanted = object_type(type_name).name if type_name else None
    refs = catalog.find_objects(tenant, needle, object_type=wanted, limit=50)
    distinct = named_exactly(refs, needle)
    if len(distinct) == 1:
        return distinct[0]
    if distinct:
        shown = "; ".join(_describe(r) for r in distinct[:8])
        more = f"; and {len(distinct) - 8} more" if len(distinct) > 8 else ""
        raise AmbiguousObject(
            f"{needle!r} matches {len(distinct)} objects: {shown}{more}; give the id (or --type)",
            distinct,
        )
    similar = list({(r.object_type, r.object_id): r for r in refs}.values())
    hint = f"; did you mean {'; '.join(_describe(r) for r in similar[:5])}" if similar else ""
    scope = f"{wanted} " if wanted else ""
    raise ObjectNotFound(f"no {scope}object of tenant {tenant} has the id, UPN or name {needle!r}{hint}")


def history(
    catalog: Catalog, repo: BlobRepository, tenant: str, text: str, *, type_name: str | None = None
) -> list[HistoryEntry]:
    """The object's versions oldest first, each with its changes from the one before, and its removals."""
    ref = find_object(catalog, tenant, text, type_name=type_name)
    versions = catalog.versions(tenant, ref.object_type, ref.object_id)
    snapshots = list(reversed(catalog.snapshots(tenant)))  # oldest first
    position = {s.snapshot_id: n for n, s in enumerate(snapshots)}
    trace = _Trace(repo, ref.object_type)
    entries: list[HistoryEntry] = []
    previous: ObjectVersionRow | None = None
    for version in versions:
        start = position.get(version.first_snapshot_id, 0)
        gone = _following(snapshots, position, previous) if previous else None
        if previous is not None and gone is not None and position[gone.snapshot_id] < start:
            entries.append(trace.removal(ref, previous, gone))
        event: HistoryEvent
        if previous is None:
            event = "existing" if start == 0 else "added"
        else:
            event = "modified" if gone is not None and position[gone.snapshot_id] == start else "added"
        fields, links = trace.changes(previous, version) if previous else ((), ())
        entries.append(
            HistoryEntry(
                type=ref.object_type,
                id=ref.object_id,
                event=event,
                snapshot_id=version.first_snapshot_id,
                at=version.first_seen_at,
                display_name=version.display_name,
                principal_name=version.principal_name,
                until_snapshot_id=version.last_snapshot_id,
                until=version.last_seen_at,
                current=version.current,
                fields=fields,
                links=links,
            )
        )
        previous = version
    if previous is not None and not previous.current:
        gone = _following(snapshots, position, previous)
        if gone is not None:
            entries.append(trace.removal(ref, previous, gone))
    return entries


def _following(
    snapshots: list[SnapshotRow], position: dict[str, int], version: ObjectVersionRow
) -> SnapshotRow | None:
    """The first snapshot after the version's last one: where the object was first seen changed or gone."""
    index = position.get(version.last_snapshot_id)
    return snapshots[index + 1] if index is not None and index + 1 < len(snapshots) else None


class _Trace:
    """Reads version records and the snapshots around them, each once."""

    def __init__(self, repo: BlobRepository, type_name: str) -> None:
        self.repo = repo
        self.type_name = type_name
        self.t = registered(type_name)
        self._readers: dict[str, SnapshotReader] = {}

    def reader(self, snapshot_id: str) -> SnapshotReader:
        if snapshot_id not in self._readers:
            record = {**self.repo.load_snapshot(snapshot_id), "id": snapshot_id}
            self._readers[snapshot_id] = SnapshotReader(self.repo, record)
        return self._readers[snapshot_id]

    def changes(
        self, old: ObjectVersionRow, new: ObjectVersionRow
    ) -> tuple[tuple[FieldChange, ...], tuple[LinkChange, ...]]:
        before, after = self.reader(old.last_snapshot_id), self.reader(new.first_snapshot_id)
        old_record = load_json(self.repo.read_blob(old.blob_id))
        new_record = load_json(self.repo.read_blob(new.blob_id))
        fields = tuple(field_changes(old_record["object"], new_record["object"]))
        comparer = LinkComparer(
            self.repo,
            NumberTable(self.repo, before.record.get("numbers")),
            NumberTable(self.repo, after.record.get("numbers")),
        )

        def name_of(type_name: str, object_id: str) -> str | None:
            for reader in (after, before):
                entry = reader.entry(type_name, object_id)
                if entry is not None:
                    return entry.name
            return None

        links = tuple(
            LinkChange(d.relationship, d.added, d.removed, linked_names(self.t, d, name_of))
            for d in comparer.compare(old_record.get("links", {}), new_record.get("links", {}))
        )
        return fields, links

    def removal(self, ref: ObjectRef, last: ObjectVersionRow, gone: SnapshotRow) -> HistoryEntry:
        removed = self.reader(gone.snapshot_id).record.get("removed", {})
        return HistoryEntry(
            type=ref.object_type,
            id=ref.object_id,
            event="removed",
            snapshot_id=gone.snapshot_id,
            at=gone.created_at,
            display_name=last.display_name,
            principal_name=last.principal_name,
            removed_reason=removed_reason(self.type_name, ref.object_id, removed),
        )


def _describe(ref: ObjectRef) -> str:
    names = ", ".join(n for n in (ref.display_name, ref.principal_name) if n)
    return f"{ref.object_type} {ref.object_id}" + (f" ({names})" if names else "")
