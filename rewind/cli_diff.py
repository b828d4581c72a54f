"""``rewind diff`` and ``rewind history``: what changed between two moments, and one object through time."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from core.backup.engine import BackupEngine, BackupResult
from core.catalog import SnapshotRow
from core.diff import Change, HistoryEntry, LinkChange, diff, history, removed_between
from core.errors import RewindError
from core.registry import UnknownType, object_type
from core.settings import RewindSettings, load_settings
from core.snapshots import SnapshotReader
from core.timeref import is_live, resolve, split_references
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json
from rewind.cli_repository import progress_reporter, tenant_context
from rewind.wiring import TenantContext, resolve_tenant_id, tenant_graph

NOW_VARIABLE = "REWIND_NOW"  # pins "now" for relative times: reproducible reports, and tests
ROWS_PER_TYPE = 50
VALUE_WIDTH = 60
# Most significant first: who can sign in and with which rights, then apps, then directory objects.
SIGNIFICANCE = (
    "conditionalAccessPolicy",
    "authenticationMethodsPolicy",
    "authorizationPolicy",
    "unifiedRoleAssignment",
    "unifiedRoleEligibilitySchedule",
    "unifiedRoleDefinition",
    "namedLocation",
    "authenticationStrengthPolicy",
    "crossTenantAccessPolicy",
    "crossTenantAccessPolicyConfigurationDefault",
    "crossTenantAccessPolicyConfigurationPartner",
    "domain",
    "application",
    "servicePrincipal",
    "oauth2PermissionGrant",
    "appRoleAssignment",
    "group",
    "administrativeUnit",
    "user",
    "organization",
)
_KIND_ORDER = {"removed": 0, "added": 1, "modified": 2}
_KIND_STYLE = {"removed": "red", "added": "green", "modified": "yellow"}

FromTo = Annotated[
    list[str],
    typer.Argument(
        metavar="FROM TO",
        help="Two snapshots: an id or prefix, 'latest', a time ('2h ago', 'yesterday', ISO), or 'live'.",
        show_default=False,
    ),
]
TypeOption = Annotated[
    list[str] | None, typer.Option("--type", help="Only this object type (repeat, or comma-separate).")
]
IdOption = Annotated[
    list[str] | None, typer.Option("--id", help="Only this object id (repeat, or comma-separate).")
]


@dataclass
class DiffReport:
    before: SnapshotRow
    after: SnapshotRow
    changes: list[Change]
    live: BackupResult | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        after = _snapshot_json(self.after, live=self.live is not None)
        if self.live is not None:  # types the live backup could not read are missing from the diff
            after["failures"] = self.live.failures
        return {
            "from": _snapshot_json(self.before, live=False),
            "to": after,
            "changes": [c.to_json() for c in self.changes],
            "counts": self.counts,
        }


@app.command("diff")
def diff_command(
    refs: FromTo,
    types: TypeOption = None,
    ids: IdOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what changed between two snapshots (or between a snapshot and the tenant now: 'live')."""
    settings = load_settings()
    now = reference_now()
    words = split_references(refs)
    if len(words) != 2:
        raise RewindError(
            f"diff takes two snapshots, FROM and TO, not {len(words)} ({', '.join(words) or 'none'}): "
            "e.g. `rewind diff yesterday latest` or `rewind diff latest live`"
        )
    wanted_types, wanted_ids = _split(types), _split(ids)
    if wanted_types:
        wanted_types = [object_type(t).name for t in wanted_types]
    if any(is_live(w) for w in words):
        report = asyncio.run(_live_diff(settings, tenant, words, now, wanted_types, wanted_ids))
    else:
        with tenant_context(settings, tenant) as ctx:
            rows = {w: resolve(ctx.catalog, ctx.tenant_id, w, now) for w in words}
            report = _diff(ctx, rows[words[0]], rows[words[1]], wanted_types, wanted_ids)
    if as_json:
        print_json(report.to_json())
    else:
        render_diff(report)


async def _live_diff(
    settings: RewindSettings,
    tenant: str | None,
    words: list[str],
    now: datetime,
    types: list[str] | None,
    ids: list[str] | None,
) -> DiffReport:
    """Resolve the stored side first (so 'latest' is the snapshot before this one), back up, then diff."""
    _config, graph = tenant_graph(settings, tenant)
    async with graph:
        tenant_id = await resolve_tenant_id(graph, tenant or settings.tenant_id or "")
        with tenant_context(settings, tenant_id, create=True) as ctx:
            rows = {w: resolve(ctx.catalog, tenant_id, w, now) for w in words if not is_live(w)}
            with progress_reporter() as progress:
                result = await BackupEngine(
                    graph, ctx.repository, ctx.catalog, tenant_id, progress=progress
                ).run()
            taken = ctx.catalog.snapshot(tenant_id, result.snapshot_id)
            before, after = (rows.get(w, taken) for w in words)
            return _diff(ctx, before, after, types, ids, live=result)


def _diff(
    ctx: TenantContext,
    before: SnapshotRow,
    after: SnapshotRow,
    types: list[str] | None,
    ids: list[str] | None,
    live: BackupResult | None = None,
) -> DiffReport:
    repo = ctx.repository
    readers = [
        SnapshotReader(repo, {**repo.load_snapshot(r.snapshot_id), "id": r.snapshot_id})
        for r in (before, after)
    ]
    reasons = removed_between(repo, ctx.catalog, ctx.tenant_id, before, after)
    changes = list(diff(readers[0], readers[1], types=types, ids=ids, removed_reasons=reasons))
    return DiffReport(before, after, changes, live, counts(changes))


def counts(changes: Iterable[Change]) -> dict[str, dict[str, int]]:
    """Objects per type and kind of change; an object with several relationship entries counts once."""
    seen: dict[str, dict[str, set[str]]] = defaultdict(
        lambda: {"added": set(), "removed": set(), "modified": set()}
    )
    for change in changes:
        seen[change.type][change.change].add(change.id)
    return {name: {kind: len(ids) for kind, ids in kinds.items()} for name, kinds in seen.items()}


def reference_now() -> datetime:
    pinned = os.environ.get(NOW_VARIABLE)
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
    except ValueError:
        raise RewindError(
            f"{NOW_VARIABLE}={pinned!r} is not an ISO time such as 2026-11-27T09:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- rendering -----------------------------------------------------------------------------------------


def render_diff(report: DiffReport) -> None:
    b, a = report.before, report.after
    total = len(report.changes)
    out.print(
        f"[bold]diff[/] {b.snapshot_id[:12]} ({_when(b.created_at)}) -> {a.snapshot_id[:12]} "
        f"({_when(a.created_at)}): {total:,} change{'s' if total != 1 else ''}",
        highlight=False,
    )
    if report.live is not None:
        live = report.live
        read = sum(live.changed.values())
        out.print(
            f"took a live {live.kind} snapshot {live.snapshot_id[:12]} of the tenant just now "
            f"({read:,} objects read or changed)",
            highlight=False,
        )
        for name, error in live.failures.items():
            out.print(f"[red]not in the live snapshot[/] {name}: {escape(error)}", highlight=False)
    if not report.changes:
        out.print("no differences")
        return
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in report.changes:
        grouped[change.type].append(change)
    for name in sorted(grouped, key=_significance):
        rows = sorted(
            grouped[name], key=lambda c: (_KIND_ORDER[c.change], (c.display_name or "").lower(), c.id)
        )
        kinds = Counter(c.change for c in rows)
        title = f"{_title(name)}: " + ", ".join(
            f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda i: _KIND_ORDER[i[0]])
        )
        table = Table("change", "object", "what changed", title=title, title_justify="left", show_lines=False)
        for change in rows[:ROWS_PER_TYPE]:
            table.add_row(*_row(change))
        out.print(table)
        if len(rows) > ROWS_PER_TYPE:
            out.print(f"  ... and {len(rows) - ROWS_PER_TYPE:,} more: narrow with --type/--id, or use --json")


def _row(change: Change) -> tuple[str, str, str]:
    label: str = change.change
    if change.removed_reason:
        label += " (soft-deleted)" if change.removed_reason == "soft_deleted" else " (hard-deleted)"
    kind = f"[{_KIND_STYLE[change.change]}]{label}[/]"
    who = f"{escape(change.display_name or '')}\n[dim]{change.id}[/]"
    lines: list[str] = []
    if change.link is not None:
        lines.append(_truncate(_link_text(change.link), 3 * VALUE_WIDTH))
    else:
        lines.extend(f"{f.path}: {_value(f.old)} -> {_value(f.new)}" for f in change.fields[:12])
        if len(change.fields) > 12:
            lines.append(f"... {len(change.fields) - 12} more fields")
    return kind, who, escape("\n".join(lines))


def _link_text(link: LinkChange) -> str:
    """``members: +Alice, -Bob``: names where the snapshots know them, else ids."""
    names = link.names
    parts = [f"+{names.get(i) or i}" for i in link.added] + [f"-{names.get(i) or i}" for i in link.removed]
    return f"{link.relationship}: " + ", ".join(parts)


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _truncate(repr(text) if isinstance(value, str) else text, VALUE_WIDTH)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _significance(name: str) -> tuple[int, str]:
    return (SIGNIFICANCE.index(name) if name in SIGNIFICANCE else len(SIGNIFICANCE), name)


def _title(name: str) -> str:
    try:
        return object_type(name).title
    except UnknownType:
        return name


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _snapshot_json(row: SnapshotRow, *, live: bool) -> dict[str, Any]:
    return {"id": row.snapshot_id, "created_at": row.created_at.isoformat(), "kind": row.kind, "live": live}


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# --- history -------------------------------------------------------------------------------------------


@app.command("history")
def history_command(
    text: Annotated[
        list[str],
        typer.Argument(metavar="OBJECT", help="An object id, UPN, or display name.", show_default=False),
    ],
    type_name: Annotated[
        str | None, typer.Option("--type", help="Only objects of this type, e.g. user.")
    ] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one object's versions across snapshots, what changed each time, and when it disappeared."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        entries = history(ctx.catalog, ctx.repository, ctx.tenant_id, " ".join(text), type_name=type_name)
    if as_json:
        last = entries[-1]
        identity = {"type": last.type, "id": last.id}
        names = {"display_name": last.display_name, "principal_name": last.principal_name}
        print_json({"object": identity | names, "versions": [e.to_json() for e in entries]})
    else:
        render_history(entries)


def render_history(entries: list[HistoryEntry]) -> None:
    if not entries:
        out.print("no versions recorded")
        return
    last = entries[-1]
    names = ", ".join(n for n in (last.display_name, last.principal_name) if n)
    state = "current" if last.current else ("gone" if last.event == "removed" else "not current")
    out.print(f"[bold]{last.type}[/] {escape(names)}  [dim]{last.id}[/]  ({state})", highlight=False)
    table = Table("when", "snapshot", "event", "what changed")
    for entry in entries:
        lines = [f"{f.path}: {_value(f.old)} -> {_value(f.new)}" for f in entry.fields[:12]]
        lines += [_link_text(c) for c in entry.links]
        event: str = entry.event
        if entry.removed_reason:
            event += " (soft-deleted)" if entry.removed_reason == "soft_deleted" else " (hard-deleted)"
        style = _KIND_STYLE.get(entry.event, "")
        table.add_row(
            _when(entry.at),
            entry.snapshot_id[:12],
            f"[{style}]{event}[/]" if style else event,
            escape(_truncate("\n".join(lines), 20 * VALUE_WIDTH)),
        )
    out.print(table)
