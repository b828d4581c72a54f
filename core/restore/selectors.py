"""What a person asks to restore, as typed in the CLI or in chat, and the snapshot objects it stands for.

Grammar (case-insensitive keywords)::

    ID | UPN | NAME | TYPE:NAME | "NAME"   one object
    type TYPE | all TITLE                 every object of a type (``all conditional access policies``)
    deleted [since TIME]                  objects of the snapshot now deleted or gone
    objects TYPE/ID[,TYPE/ID...]          an explicit list (what an alert's button carries)
    alert FROM TO                         the objects an alert between two snapshots reported

Parsing is in ``selector_parse``; finding one object in ``selector_find``; the sets in ``selector_deleted``
and ``selector_alert``.
"""

from __future__ import annotations

from datetime import datetime

from core.catalog import Catalog
from core.repository import Repository
from core.restore.errors import NotInSnapshot
from core.restore.live import LiveTenant, ObjectRef
from core.restore.model import PlanWarning
from core.restore.selection import Selection, open_reader, parents_of, snapshot_label
from core.restore.selector_alert import alert_selection
from core.restore.selector_deleted import ListsIds, deletable, deleted_selection, snapshot_since
from core.restore.selector_find import SHOWN_CANDIDATES, describe, find_one, not_in_snapshot, snapshot_holding
from core.restore.selector_parse import (
    USAGE,
    Selector,
    SelectorKind,
    bad_syntax,
    parse_selector,
    type_from_words,
)
from core.timeref import resolve as resolve_snapshot

__all__ = [
    "SHOWN_CANDIDATES",
    "USAGE",
    "ListsIds",
    "Selection",
    "Selector",
    "SelectorKind",
    "bad_syntax",
    "deletable",
    "describe",
    "find_one",
    "open_reader",
    "parents_of",
    "parse_selector",
    "resolve_selection",
    "type_from_words",
]


async def resolve_selection(
    selector: Selector,
    *,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    live: LiveTenant,
    snapshot: str | None,
    now: datetime,
) -> Selection:
    """The snapshot to restore from and the objects of it that ``selector`` names."""
    if selector.kind == "alert":
        return await alert_selection(selector, tenant_id, catalog, repository, snapshot, now)
    if selector.kind == "deleted":
        notes: list[PlanWarning] = []
        if snapshot or not selector.since:
            row = resolve_snapshot(catalog, tenant_id, snapshot or "latest", now)
        else:
            row, notes = snapshot_since(catalog, tenant_id, selector.since, now)
        selection = await deleted_selection(open_reader(repository, row), row, live)
        selection.notes.extend(notes)
        return selection
    row = resolve_snapshot(catalog, tenant_id, snapshot or "latest", now)
    reader = open_reader(repository, row)
    if selector.kind == "type":
        refs = [ObjectRef(selector.text, e.id) for e in reader.entries(selector.text)]
        return Selection(row, reader, refs)
    if selector.kind == "objects":
        missing = [(t, i) for t, i in selector.refs if reader.entry(t, i) is None]
        if missing:
            shown = ", ".join(f"{t}/{i}" for t, i in missing[:SHOWN_CANDIDATES])
            raise NotInSnapshot(
                f"snapshot {snapshot_label(row)} does not hold {shown}: "
                "choose the snapshot they were in with --from"
            )
        return Selection(row, reader, [ObjectRef(t, i) for t, i in selector.refs])
    found = find_one(catalog, tenant_id, selector.text, selector.type_name)
    if reader.entry(found.object_type, found.object_id) is None:
        holder = snapshot_holding(catalog, tenant_id, found, row)
        if snapshot is not None or holder is None:
            raise NotInSnapshot(not_in_snapshot(row, found, holder))
        row = holder  # no snapshot was asked for: the last one the object was in
        reader = open_reader(repository, row)
        if reader.entry(found.object_type, found.object_id) is None:
            raise NotInSnapshot(not_in_snapshot(row, found, None))
    return Selection(row, reader, [ObjectRef(found.object_type, found.object_id)])
