"""``deleted [since TIME]``: the objects of a snapshot that are not live now."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from core.catalog import Catalog, SnapshotRow
from core.registry import ObjectType, RestoreMode, object_type
from core.restore.live import LiveObject, LiveTenant, ObjectRef, Presence
from core.restore.model import PlanWarning
from core.restore.selection import Selection, parents_of, snapshot_label
from core.snapshots import SnapshotReader
from core.timeref import TimeRefError
from core.timeref import resolve as resolve_snapshot

_DURATION = re.compile(r"^\d+\s*[a-z]+$", re.IGNORECASE)
_LIVE_CHECK_CHUNK = 500  # objects read live per round, so memory stays bounded on large tenants


class ListsIds(Protocol):
    async def live_ids(self, type_name: str) -> set[str]: ...


def deletable(t: ObjectType) -> bool:
    return t.restore is not RestoreMode.READ_ONLY and not t.singleton and t.restore is not RestoreMode.PATCH


def snapshot_since(
    catalog: Catalog, tenant_id: str, since: str, now: datetime
) -> tuple[SnapshotRow, list[PlanWarning]]:
    """The snapshot "since" names; when the tenant's first snapshot is younger, that one (and say so)."""
    text = since.strip()
    ref = f"{text} ago" if _DURATION.match(text) else text
    try:
        return resolve_snapshot(catalog, tenant_id, ref, now), []
    except TimeRefError:
        oldest = catalog.snapshots(tenant_id)[-1:]
        if not oldest:
            raise
    note = PlanWarning(
        "snapshot_after_since",
        f"no snapshot is as old as {since!r}: "
        f"the tenant's first snapshot {snapshot_label(oldest[0])} is used",
    )
    return oldest[0], [note]


async def deleted_selection(reader: SnapshotReader, row: SnapshotRow, live: LiveTenant) -> Selection:
    """Objects of the snapshot that are not live now: listed ids where the port can list, else read."""
    candidates: list[ObjectRef] = []
    for name in reader.type_names():
        t = object_type(name)
        if not deletable(t):
            continue
        ids = [e.id for e in reader.entries(name)]
        # Child types have no list of their own, and Conditional Access lists cost a second each:
        # the batched read below settles those.
        if t.parent is None and t.throttle_class != "conditional_access" and hasattr(live, "live_ids"):
            lister: ListsIds = live  # type: ignore[assignment]
            present = await lister.live_ids(name)
            ids = [i for i in ids if i not in present]
        candidates.extend(ObjectRef(name, i) for i in ids)
    remember = getattr(live, "remember_parents", None)
    if remember is not None:
        remember(parents_of(reader, candidates))
    prefetched: dict[str, LiveObject] = {}
    refs: list[ObjectRef] = []
    for start in range(0, len(candidates), _LIVE_CHECK_CHUNK):
        for found in await live.fetch_many(candidates[start : start + _LIVE_CHECK_CHUNK]):
            if found.presence is not Presence.PRESENT:
                prefetched[found.ref.key] = found
                refs.append(found.ref)
    return Selection(row, reader, refs, prefetched=prefetched)
