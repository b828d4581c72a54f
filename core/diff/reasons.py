"""Why an object is gone: soft-deleted (in a recycle bin, restorable with its id) or hard-deleted.

Each backup's record says what its own run saw removed (``removed``: type -> id -> "changed" | "deleted", as
Graph's delta ``@removed.reason`` puts it). A diff spanning several snapshots merges those maps oldest first,
so a purge after a soft delete wins. Where no run saw the removal (types read whole, full backups), the
registry decides: types without a recycle bin are hard-deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from core.catalog import Catalog, SnapshotRow
from core.diff.model import RemovedReason
from core.registry import OBJECT_TYPES, RestoreMode
from core.snapshots import BlobRepository

_RAW: dict[str, RemovedReason] = {
    "changed": "soft_deleted",
    "deleted": "hard_deleted",
    "soft_deleted": "soft_deleted",
    "hard_deleted": "hard_deleted",
}
_RECYCLED = {
    t.name for t in OBJECT_TYPES if t.restore in (RestoreMode.RECYCLE_BIN, RestoreMode.CA_DELETED_ITEMS)
}

RemovedMaps = Mapping[str, Mapping[str, str]]


def merge_removed(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The ``removed`` maps of snapshot records, given oldest first, merged: later runs win."""
    merged: dict[str, dict[str, str]] = {}
    for record in records:
        for type_name, removed in (record.get("removed") or {}).items():
            merged.setdefault(type_name, {}).update(removed)
    return merged


def removed_reason(type_name: str, object_id: str, known: RemovedMaps | None) -> RemovedReason:
    raw = (known or {}).get(type_name, {}).get(object_id)
    if raw in _RAW:
        return _RAW[raw]
    return "soft_deleted" if type_name in _RECYCLED else "hard_deleted"


class LazyRemovedMaps(Mapping[str, Mapping[str, str]]):
    """Merged removed maps loaded on first use: most diffs remove nothing and never pay for the records."""

    def __init__(self, load: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._load = load
        self._merged: dict[str, dict[str, str]] | None = None

    def _maps(self) -> dict[str, dict[str, str]]:
        if self._merged is None:
            self._merged = merge_removed(self._load())
        return self._merged

    def __getitem__(self, key: str) -> Mapping[str, str]:
        return self._maps()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps())

    def __len__(self) -> int:
        return len(self._maps())


def removed_between(
    repo: BlobRepository, catalog: Catalog, tenant_id: str, before: SnapshotRow, after: SnapshotRow
) -> LazyRemovedMaps:
    """What the runs after ``before`` up to ``after`` saw removed, read only if the diff removes something."""

    def load() -> list[Mapping[str, Any]]:
        if before.seq is None or after.seq is None or after.seq <= before.seq:
            return []
        rows = [
            r for r in catalog.snapshots(tenant_id) if r.seq is not None and before.seq < r.seq <= after.seq
        ]
        return [repo.load_snapshot(r.snapshot_id) for r in sorted(rows, key=lambda r: r.seq or 0)]

    return LazyRemovedMaps(load)
