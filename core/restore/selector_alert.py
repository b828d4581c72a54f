"""``alert FROM TO``: the objects an alert between two snapshots reported, as they were before it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from core.catalog import Catalog
from core.repository import Repository
from core.restore.live import ObjectRef
from core.restore.model import PlanWarning
from core.restore.selection import Selection, open_reader
from core.restore.selector_parse import Selector, bad_syntax
from core.timeref import resolve as resolve_snapshot


async def alert_selection(
    selector: Selector,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    snapshot: str | None,
    now: datetime,
) -> Selection:
    from core.alerts.analysis import analyse  # the alert machinery is only needed for this selector
    from core.alerts.rules import RuleBook

    assert selector.window is not None
    before = resolve_snapshot(catalog, tenant_id, selector.window[0], now)
    after = resolve_snapshot(catalog, tenant_id, selector.window[1], now)
    if after.created_at < before.created_at:
        raise bad_syntax(f"alert {selector.window[0]} {selector.window[1]}: FROM must be the older snapshot")
    analysis = await asyncio.to_thread(
        analyse, catalog, repository, tenant_id, before, after, RuleBook.from_environment().current
    )
    objects: dict[tuple[str, str], Any] = {}
    for finding in analysis.findings:
        for change in finding.changes:
            objects.setdefault((change.type, change.id), change)
    row = resolve_snapshot(catalog, tenant_id, snapshot, now) if snapshot else before
    reader = open_reader(repository, row)
    refs: list[ObjectRef] = []
    created = 0
    for (type_name, object_id), _change in sorted(objects.items()):
        if reader.entry(type_name, object_id) is None:
            created += 1
            continue
        refs.append(ObjectRef(type_name, object_id))
    notes: list[PlanWarning] = []
    if created:
        notes.append(
            PlanWarning(
                "created_since",
                f"{created} object(s) in the alert were created after snapshot {row.snapshot_id[:8]}: "
                "restore puts objects back, it does not delete new ones",
            )
        )
    if not objects:
        notes.append(
            PlanWarning("empty_alert", "the alert's window holds no findings under the current rules")
        )
    return Selection(row, reader, refs, notes)
