"""A resolved selection: the snapshot to restore from and which of its objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC

from core.catalog import SnapshotRow
from core.registry import object_type
from core.repository import Repository
from core.restore.live import LiveObject, ObjectRef
from core.restore.model import PlanWarning
from core.snapshots import SnapshotReader


@dataclass
class Selection:
    """The chosen snapshot and the objects of it the selector names, with what was learnt on the way."""

    snapshot: SnapshotRow
    reader: SnapshotReader
    refs: list[ObjectRef]
    notes: list[PlanWarning] = field(default_factory=list)
    prefetched: dict[str, LiveObject] = field(default_factory=dict)  # live reads already done


def open_reader(repository: Repository, row: SnapshotRow) -> SnapshotReader:
    return snapshot_reader(repository, row.snapshot_id)


def snapshot_reader(repository: Repository, snapshot_id: str) -> SnapshotReader:
    return SnapshotReader(repository, {**repository.load_snapshot(snapshot_id), "id": snapshot_id})


def snapshot_label(row: SnapshotRow) -> str:
    """How messages name a snapshot: its short id and when it was taken."""
    return f"{row.snapshot_id[:8]} ({row.created_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')})"


def parents_of(reader: SnapshotReader, refs: Sequence[ObjectRef]) -> dict[str, str]:
    """``"type/id" -> parent id`` for the child objects among ``refs``, as the snapshot recorded them: a
    child is read live under its parent's path."""
    out: dict[str, str] = {}
    for ref in refs:
        if object_type(ref.object_type).parent:
            entry = reader.entry(ref.object_type, ref.object_id)
            if entry is not None and entry.parent:
                out[ref.key] = entry.parent
    return out
