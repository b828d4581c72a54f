"""The read-only commands' answers: status, snapshots, tenants, changes, diff and history, as messages.

They run the same core services the CLI does (catalog, snapshot readers, diff, history); blocking reads go to
a worker thread so an adapter's event loop stays free to acknowledge the next request.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import timedelta

from bot.context import BotContext
from bot.conversation import Attachment, Reply
from bot.messages import ICONS, MAX_ITEMS, Item, Message, MessageSeverity, ago, clock, cut, short
from core.alerts.labels import type_title
from core.catalog import SnapshotRow
from core.diff import Change, HistoryEntry, diff, history, removed_between, type_order
from core.scheduling.plan import summary_destinations
from core.scheduling.status import tenant_status
from core.snapshots import SnapshotReader
from core.timeref import TimeRefError, resolve

_KIND_ICON = {"added": "🆕", "removed": "🗑️", "modified": "✏️"}
_KIND_ORDER = {"removed": 0, "added": 1, "modified": 2}


# --- status, snapshots, tenants ----------------------------------------------------------------------------


def status_reply(ctx: BotContext, tenant_id: str) -> Reply:
    now = ctx.clock()
    state = tenant_status(
        ctx.catalog, tenant_id, ctx.schedule, now, summaries=summary_destinations(ctx.catalog, tenant_id)
    )
    last = state.last_snapshot
    if last is None:
        return Reply(
            Message(f"🟠 No backup of {cut(tenant_id, 60)} yet", "warning", ["Run `/rewind backup`"])
        )
    overdue = state.overdue(ctx.schedule.interval_minutes)
    severity: MessageSeverity = (
        "critical" if state.last_failures and overdue else "warning" if overdue else "ok"
    )
    key = f"Last backup {ago(last.created_at, now)}: {last.snapshot_id[:12]} ({last.kind})"
    facts = [(f"Next {name}", clock(when, ctx.timezone)) for name, when in sorted(state.next_runs.items())]
    items = [
        Item(cut(f"{ICONS['critical']} {f.job} failed {ago(f.slot, now)}"), cut(f.error or "", 150) or None)
        for f in state.last_failures[:MAX_ITEMS]
    ]
    title = f"{ICONS[severity]} Rewind status for {cut(tenant_id, 50)}"
    return Reply(
        Message(
            title,
            severity,
            [key, "Backups are overdue" if overdue else "Backups are on time"],
            facts=facts,
            items=items,
        )
    )


def snapshots_reply(ctx: BotContext, tenant_id: str, limit: int = 10) -> Reply:
    rows = ctx.catalog.snapshots(tenant_id, limit=limit + 1)
    now = ctx.clock()
    if not rows:
        return Reply(Message(f"No snapshots of {cut(tenant_id, 60)} yet", "info", ["Run `/rewind backup`"]))
    items = [
        Item(
            f"{r.snapshot_id[:12]} · {r.kind} · {ago(r.created_at, now)}",
            f"{sum(r.counts.values()):,} objects, {clock(r.created_at, ctx.timezone)}",
        )
        for r in rows[:limit]
    ]
    title = f"Snapshots of {cut(tenant_id, 60)}"
    return Reply(
        Message(
            title,
            "info",
            [f"Newest {ago(rows[0].created_at, now)}"],
            items=items[:MAX_ITEMS],
            more=max(0, len(items) - MAX_ITEMS) + (len(rows) > limit),
        )
    )


def tenants_reply(ctx: BotContext) -> Reply:
    now = ctx.clock()
    items = []
    for row in ctx.catalog.tenants():
        latest = ctx.catalog.snapshots(row.tenant_id, limit=1)
        when = f"last backup {ago(latest[0].created_at, now)}" if latest else "no backup yet"
        items.append(
            Item(cut(f"{row.display_name or row.domain or row.tenant_id}"), f"{row.tenant_id} · {when}")
        )
    if not items:
        return Reply(Message("No tenants yet", "info", ["Rewind has not backed up any tenant yet"]))
    summary = [f"{len(items)} tenant{'s' * (len(items) != 1)}"]
    return Reply(
        Message("Tenants", "info", summary, items=items[:MAX_ITEMS], more=max(0, len(items) - MAX_ITEMS))
    )


# --- changes and diff --------------------------------------------------------------------------------------


def snapshot_since(ctx: BotContext, tenant_id: str, since: timedelta) -> SnapshotRow:
    """The snapshot the tenant was in ``since`` ago; the oldest one when history is shorter than that."""
    moment = ctx.clock() - since
    found = ctx.catalog.snapshot_at(tenant_id, moment)
    if found is not None:
        return found
    oldest = ctx.catalog.snapshots(tenant_id)[-1:]
    if not oldest:
        raise TimeRefError(f"tenant {tenant_id} has no snapshots yet: run `/rewind backup` first")
    return oldest[0]


def resolve_snapshot(ctx: BotContext, tenant_id: str, ref: str) -> SnapshotRow:
    return resolve(ctx.catalog, tenant_id, ref, ctx.clock())


async def changes_between(
    ctx: BotContext, tenant_id: str, before: SnapshotRow, after: SnapshotRow
) -> list[Change]:
    def run() -> list[Change]:
        repo = ctx.repository_for(tenant_id)
        readers = [
            SnapshotReader(repo, {**repo.load_snapshot(r.snapshot_id), "id": r.snapshot_id})
            for r in (before, after)
        ]
        reasons = removed_between(repo, ctx.catalog, tenant_id, before, after)
        return list(diff(readers[0], readers[1], removed_reasons=reasons))

    return await asyncio.to_thread(run)


def diff_reply(
    ctx: BotContext,
    tenant_id: str,
    before: SnapshotRow,
    after: SnapshotRow,
    changes: list[Change],
    *,
    heading: str | None = None,
) -> Reply:
    tz = ctx.timezone
    window = (
        f"{before.snapshot_id[:8]} ({clock(before.created_at, tz)}) → {after.snapshot_id[:8]} "
        f"({clock(after.created_at, tz)})"
    )
    title = heading or f"Changes in {cut(tenant_id, 50)}"
    if not changes:
        return Reply(Message(f"🟢 {title}: none", "ok", [f"No differences {window}"]), private=False)
    ordered = sorted(changes, key=_rank)
    kinds = Counter(c.change for c in changes)
    key = f"{len(changes):,} change{'s' * (len(changes) != 1)}: " + ", ".join(
        f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda kv: _KIND_ORDER[kv[0]])
    )
    per_type: dict[str, Counter[str]] = defaultdict(Counter)
    for change in changes:
        per_type[change.type][change.change] += 1
    facts = [
        (type_title(name).capitalize(), ", ".join(f"{n:,} {k}" for k, n in per_type[name].items()))
        for name in type_order(per_type)
    ][:8]
    items = [Item(change_line(c), change_detail(c)) for c in ordered[:MAX_ITEMS]]
    more = len(ordered) - len(items)
    attachment = None
    if more:
        lines = [f"{title}: {window}", key, ""]
        lines += [change_line(c) + (f"\n    {d}" if (d := change_detail(c, 2000)) else "") for c in ordered]
        attachment = Attachment(
            f"rewind-diff-{before.snapshot_id[:8]}-{after.snapshot_id[:8]}.txt",
            "\n".join(lines) + "\n",
            f"All {len(changes):,} changes",
        )
    severity: MessageSeverity = "warning" if kinds.get("removed") else "info"
    message = Message(
        cut(f"{ICONS[severity]} {title}", 90),
        severity,
        [key, window],
        facts=facts,
        items=items,
        more=more,
        footer="The full list is in the thread" if attachment else None,
    )
    return Reply(message, private=False, attachment=attachment)


def _rank(change: Change) -> tuple[int, int, str, str]:
    order = type_order([change.type, *_SIGNIFICANT])
    return (
        order.index(change.type),
        _KIND_ORDER[change.change],
        (change.display_name or "").lower(),
        change.id,
    )


_SIGNIFICANT = ("conditionalAccessPolicy", "unifiedRoleAssignment", "application", "group", "user")


def change_line(change: Change) -> str:
    name = change.display_name or change.id
    what: str = change.change
    if change.removed_reason:
        what += " (restorable)" if change.removed_reason == "soft_deleted" else " (hard-deleted)"
    if change.link is not None:
        what = f"{change.link.relationship} changed"
    return cut(f"{_KIND_ICON[change.change]} {type_title(change.type)} '{name}' {what}", 150)


def change_detail(change: Change, limit: int = 150) -> str | None:
    if change.link is not None:
        names = change.link.names
        parts = [f"+{names.get(i) or i}" for i in change.link.added] + [
            f"-{names.get(i) or i}" for i in change.link.removed
        ]
        return cut(", ".join(parts), limit)
    if change.fields:
        return cut("; ".join(f"{f.path}: {short(f.old)} → {short(f.new)}" for f in change.fields), limit)
    return None


# --- history -----------------------------------------------------------------------------------------------


async def history_reply(ctx: BotContext, tenant_id: str, text: str) -> Reply:
    repo = ctx.repository_for(tenant_id)
    entries: list[HistoryEntry] = await asyncio.to_thread(history, ctx.catalog, repo, tenant_id, text)
    if not entries:
        return Reply(Message(f"No versions of {cut(text, 60)}", "info", ["Nothing recorded"]), private=False)
    last = entries[-1]
    now = ctx.clock()
    state = "current" if last.current else ("gone" if last.event == "removed" else "not current")
    name = last.display_name or last.principal_name or last.id
    versions = f"{len(entries)} version{'s' * (len(entries) != 1)}"
    key = f"{type_title(last.type).capitalize()} '{name}' ({state}): {versions}"
    newest_first = list(reversed(entries))
    items = [
        Item(cut(f"{e.event} {ago(e.at, now)} in {e.snapshot_id[:12]}"), _history_detail(e))
        for e in newest_first[:MAX_ITEMS]
    ]
    attachment = None
    if len(entries) > MAX_ITEMS:
        lines = [key, ""] + [
            f"{e.at:%Y-%m-%d %H:%M} {e.snapshot_id[:12]} {e.event}: {_history_detail(e, 4000) or ''}"
            for e in newest_first
        ]
        attachment = Attachment(f"rewind-history-{last.id[:12]}.txt", "\n".join(lines) + "\n", "Full history")
    message = Message(
        cut(f"History of {name}", 90),
        "info",
        [key, last.id],
        items=items,
        more=max(0, len(entries) - MAX_ITEMS),
    )
    return Reply(message, private=False, attachment=attachment)


def _history_detail(entry: HistoryEntry, limit: int = 150) -> str | None:
    parts = [f"{f.path}: {short(f.old)} → {short(f.new)}" for f in entry.fields]
    for link in entry.links:
        names = [f"+{link.names.get(i) or i}" for i in link.added]
        names += [f"-{link.names.get(i) or i}" for i in link.removed]
        parts.append(f"{link.relationship}: " + ", ".join(names))
    return cut("; ".join(parts), limit) if parts else None
