"""From a selection and the live tenant to a plan: per object restore, recreate, patch, relink or skip.

The planner only reads. It compares each selected object of the snapshot with the live tenant (read in
batches), decides what brings it back (``plan_decide``), follows what pointed at every object that comes back
with a new id (``plan_follow``: memberships, policies, assignments) and orders the actions by the registry's
dependency edges (``plan_order``), with ``depends_on`` filled so the executor can run independent steps
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.catalog import Catalog
from core.repository import Repository
from core.restore.live import LiveTenant, fingerprint
from core.restore.model import Plan
from core.restore.plan_decide import decide
from core.restore.plan_draft import FETCH_CHUNK, SCOPED_ROLE_REASON, SECRET_REASON, PlanDraft, display
from core.restore.plan_follow import follow_recreated
from core.restore.plan_links import check_link_targets
from core.restore.plan_order import ordered_actions, warning_order
from core.restore.plan_safety import break_glass_ids, check_names
from core.restore.selectors import parse_selector, resolve_selection
from core.timeref import utc_iso

__all__ = [
    "FETCH_CHUNK",
    "SCOPED_ROLE_REASON",
    "SECRET_REASON",
    "PlanOptions",
    "display",
    "plan_restore",
]


@dataclass(frozen=True)
class PlanOptions:
    break_glass: tuple[str, ...] = ()  # UPNs or object ids never removed from a CA policy's exclusions
    ca_report_only: bool = True  # recreated CA policies come back as enabledForReportingButNotEnforced


async def plan_restore(
    *,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    live: LiveTenant,
    selector: str,
    snapshot: str | None = None,
    options: PlanOptions = PlanOptions(),
    now: datetime | None = None,
) -> Plan:
    """The plan that brings the objects ``selector`` names back to the snapshot (default: the latest)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    parsed = parse_selector(selector)
    selection = await resolve_selection(
        parsed,
        tenant_id=tenant_id,
        catalog=catalog,
        repository=repository,
        live=live,
        snapshot=snapshot,
        now=moment,
    )
    draft = PlanDraft(
        tenant_id,
        catalog,
        selection,
        live,
        break_glass=break_glass_ids(catalog, tenant_id, options.break_glass),
        report_only=options.ca_report_only,
    )
    await draft.fetch(selection.refs)
    await check_names(draft, selection.refs)
    for ref in selection.refs:
        decide(draft, ref)
    await follow_recreated(draft)
    await check_link_targets(draft)
    return _plan(draft, options, " ".join(selector.split()), moment)


def _plan(draft: PlanDraft, options: PlanOptions, selector: str, now: datetime) -> Plan:
    recorded: dict[str, Any] = {
        "ca_report_only": options.ca_report_only,
        "break_glass": sorted(draft.break_glass),
        "unchanged": draft.unchanged,
    }
    snapshot = draft.selection.snapshot
    return Plan(
        tenant_id=draft.tenant_id,
        snapshot_id=snapshot.snapshot_id,
        snapshot_created_at=utc_iso(snapshot.created_at),
        selector=selector,
        created_at=utc_iso(now),
        actions=tuple(ordered_actions(draft)),
        warnings=tuple(sorted(draft.warnings.values(), key=warning_order)),
        live_state={key: fingerprint(draft.seen[key]) for key in sorted(draft.seen)},
        options=recorded,
    )
