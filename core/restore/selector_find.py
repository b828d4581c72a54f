"""One object by id, principal name or display name, current or past, and the snapshot that holds it."""

from __future__ import annotations

from core.catalog import Catalog, SnapshotRow, named_exactly
from core.catalog import ObjectRef as CatalogRef
from core.restore.errors import AmbiguousSelector, SelectorError
from core.restore.selection import snapshot_label

SHOWN_CANDIDATES = 5


def find_one(catalog: Catalog, tenant_id: str, text: str, type_name: str | None) -> CatalogRef:
    """The one object (current or past) whose id, principal name or display name is ``text``."""
    needle = text.strip()
    refs = catalog.find_objects(tenant_id, needle, object_type=type_name, limit=50)
    distinct = named_exactly(refs, needle)
    if len(distinct) == 1:
        return distinct[0]
    if distinct:
        candidates = [describe(r) for r in distinct]
        more = f"; and {len(distinct) - SHOWN_CANDIDATES} more" if len(distinct) > SHOWN_CANDIDATES else ""
        raise AmbiguousSelector(
            f"{len(distinct)} objects are named {needle!r}: "
            f"{'; '.join(candidates[:SHOWN_CANDIDATES])}{more}; pick one by its id "
            f"(e.g. `restore plan {distinct[0].object_id}`)",
            candidates,
        )
    scope = f"{type_name} " if type_name else ""
    similar = [describe(r) for r in refs[:3]]
    hint = f" (names starting so: {'; '.join(similar)})" if similar else ""
    raise SelectorError(
        f"no {scope}object called {needle!r} in tenant {tenant_id}{hint}: "
        f"try `rewind history {needle}` or an id"
    )


def describe(ref: CatalogRef) -> str:
    return " ".join(
        part for part in (ref.object_type, ref.object_id, ref.display_name or ref.principal_name) if part
    )


def snapshot_holding(
    catalog: Catalog, tenant_id: str, ref: CatalogRef, chosen: SnapshotRow
) -> SnapshotRow | None:
    """The newest snapshot not after ``chosen`` that holds the object; else the first one that does."""
    versions = catalog.versions(tenant_id, ref.object_type, ref.object_id)
    earlier = [v for v in versions if v.first_seen_at <= chosen.created_at]
    pick = (
        max(earlier, key=lambda v: v.last_seen_at).last_snapshot_id
        if earlier
        else (versions[0].first_snapshot_id if versions else None)
    )
    if pick is None:
        return None
    return catalog.snapshot(tenant_id, pick)


def not_in_snapshot(row: SnapshotRow, ref: CatalogRef, holder: SnapshotRow | None) -> str:
    """Why ``row`` cannot serve, and which snapshot to choose instead."""
    name = ref.display_name or ref.principal_name or ref.object_id
    message = f"snapshot {snapshot_label(row)} has no {ref.object_type} {name!r}"
    if holder is not None and holder.snapshot_id != row.snapshot_id:
        relation = "last" if holder.created_at <= row.created_at else "first"
        return (
            f"{message}: it is {relation} in snapshot {snapshot_label(holder)}; "
            f"use --from {holder.snapshot_id[:12]}"
        )
    return f"{message}: choose a snapshot that holds it with --from (see `rewind history {ref.object_id}`)"
