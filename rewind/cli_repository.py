"""Commands over backups and the repository: backup, snapshots, show, export, verify, prune, catalog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core import maintenance
from core.backup.engine import BackupEngine, BackupResult
from core.retention import RetentionPolicy, parse_duration
from core.settings import RewindSettings, load_settings
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json
from rewind.wiring import (
    TenantContext,
    catalog_session,
    open_catalog,
    open_repository,
    resolve_tenant_id,
    tenant_graph,
)

catalog_app = typer.Typer(
    help="The SQL catalog: a cache of the store, rebuildable from it.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@contextmanager
def tenant_context(
    settings: RewindSettings, tenant: str | None, *, create: bool = False
) -> Iterator[TenantContext]:
    tenant_id = tenant or settings.tenant_id
    if not tenant_id:
        from core.errors import ConfigurationError

        raise ConfigurationError(
            "no tenant: set REWIND_TENANT_ID to the tenant's GUID or domain (or pass --tenant)"
        )
    catalog = open_catalog(settings)
    try:
        yield TenantContext(tenant_id, open_repository(settings, tenant_id, create=create), catalog)
    finally:
        catalog.close()


@app.command()
def backup(
    full: Annotated[
        bool, typer.Option("--full", help="Read everything again instead of only what changed.")
    ] = False,
    types: Annotated[
        str | None, typer.Option("--types", help="Comma-separated object types, e.g. user,group.")
    ] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a snapshot of the tenant: the first is full, later ones read only what changed."""
    settings = load_settings()
    result = asyncio.run(_backup(settings, tenant, full, [t for t in (types or "").split(",") if t.strip()]))
    if as_json:
        print_json(result.to_json())
    else:
        render_backup(result)
    raise typer.Exit(1 if result.failures else 0)


async def _backup(settings: RewindSettings, tenant: str | None, full: bool, types: list[str]) -> BackupResult:
    _config, graph = tenant_graph(settings, tenant)
    async with graph:
        tenant_id = await resolve_tenant_id(graph, tenant or settings.tenant_id or "")
        with tenant_context(settings, tenant_id, create=True) as ctx, progress_reporter() as progress:
            engine = BackupEngine(graph, ctx.repository, ctx.catalog, tenant_id, progress=progress)
            return await engine.run(full=full, types=types or None)


@contextmanager
def progress_reporter() -> Iterator[Callable[[str, int], None] | None]:
    """Progress bars on a terminal; elsewhere the structured log says enough."""
    if not out.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:>8,.0f}"))
    with Progress(*columns, TimeElapsedColumn(), console=out, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def report(name: str, count: int) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(name, total=None)
            bars.update(tasks[name], completed=count)

        yield report


def render_backup(result: BackupResult) -> None:
    changed = sum(result.changed.values())
    out.print(
        f"[bold]{result.kind} snapshot[/] {result.snapshot_id}  {sum(result.counts.values()):,} objects, "
        f"{changed:,} read or changed, {result.bytes_written:,} bytes written, {result.duration_s:.1f} s",
        highlight=False,
    )
    table = Table("type", "objects", "changed", "how")
    for name in sorted(result.counts):
        table.add_row(
            name, f"{result.counts[name]:,}", f"{result.changed.get(name, 0):,}", result.modes.get(name, "-")
        )
    out.print(table)
    for name, error in result.failures.items():
        out.print(f"[red]not backed up[/] {name}: {error}", highlight=False)


@app.command()
def snapshots(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """List the tenant's snapshots, newest first."""
    settings = load_settings()
    tenant_id = tenant or settings.tenant_id or ""
    with catalog_session(settings) as catalog:  # the catalog alone answers: no store round trip
        rows = catalog.snapshots(tenant_id)
    items: list[dict[str, Any]] = [
        {"id": r.snapshot_id, "created_at": r.created_at.isoformat(), "kind": r.kind, "counts": r.counts}
        for r in rows
    ]
    if as_json:
        print_json(items)
        return
    table = Table("id", "created", "kind", "objects")
    for item in items:
        table.add_row(item["id"][:12], item["created_at"], item["kind"], f"{sum(item['counts'].values()):,}")
    out.print(table)


@app.command()
def show(
    snapshot: Annotated[str, typer.Argument(help="Snapshot id, unique prefix, or 'latest'.")],
    object_type: Annotated[str | None, typer.Argument(metavar="TYPE", help="e.g. user, group.")] = None,
    object_id: Annotated[str | None, typer.Argument(metavar="ID")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a snapshot, the objects of one type in it, or one object."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        snap = maintenance.open_snapshot(ctx.repository, ctx.catalog, ctx.tenant_id, snapshot)
        payload: Any
        if object_type is None:
            payload = maintenance.snapshot_summary(snap)
        elif object_id is None:
            payload = maintenance.list_entries(snap, object_type)
        else:
            payload = maintenance.show_object(snap, object_type, object_id)
    if as_json or object_id is not None:
        print_json(payload)
    elif object_type is None:
        out.print(
            f"[bold]{payload['kind']} snapshot[/] {payload['id']} at {payload['created_at']}", highlight=False
        )
        table = Table("type", "objects")
        for name, count in sorted(payload["counts"].items()):
            table.add_row(name, f"{count:,}")
        out.print(table)
    else:
        table = Table("display name", "principal", "id")
        for item in payload:
            table.add_row(item["display_name"] or "", item["principal_name"] or "", item["id"])
        out.print(table)


@app.command()
def export(
    snapshot: Annotated[str, typer.Argument(help="Snapshot id, unique prefix, or 'latest'.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Directory to write NDJSON files into.")
    ] = Path("rewind-export"),
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a snapshot as plain NDJSON per type, readable without Rewind."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        snap = maintenance.open_snapshot(ctx.repository, ctx.catalog, ctx.tenant_id, snapshot)
        written = maintenance.export_snapshot(snap, output)
    if as_json:
        print_json({"output": str(output), "files": written})
    else:
        out.print(
            f"wrote {sum(written.values()):,} records in {len(written)} files to {output}", highlight=False
        )


@app.command()
def verify(
    read_data: Annotated[bool, typer.Option("--read-data", help="Re-read and check every pack.")] = False,
    read_data_subset: Annotated[
        float | None, typer.Option(help="Re-read this share of packs (0-1), e.g. 0.05 daily.")
    ] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the repository's structure, and optionally its data."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        report = ctx.repository.verify(
            read_data=read_data_subset if read_data_subset is not None else read_data
        )
    payload = asdict(report)
    ok = report.ok
    if as_json:
        print_json({"ok": ok, **payload})
    else:
        out.print(("[green]ok[/] " if ok else "[red]FAILED[/] ") + _one_line(payload), highlight=False)
    raise typer.Exit(0 if ok else 1)


@app.command()
def prune(
    keep_within: Annotated[
        str | None, typer.Option(help="Keep every snapshot this recent, e.g. 30d.")
    ] = None,
    keep_daily: Annotated[int, typer.Option(help="Keep the newest snapshot of this many days.")] = 0,
    keep_monthly: Annotated[int, typer.Option(help="Keep the newest snapshot of this many months.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forget snapshots outside the policy and delete data nothing references (never what is locked)."""
    policy = RetentionPolicy(
        keep_within=parse_duration(keep_within) if keep_within else None,
        keep_daily=keep_daily,
        keep_monthly=keep_monthly,
    )
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        result = maintenance.prune(ctx.repository, ctx.catalog, ctx.tenant_id, policy, dry_run=dry_run)
    if as_json:
        print_json(result)
    else:
        if dry_run:
            out.print(f"keep {len(result['keep'])} snapshots; would forget {len(result['forget'])}")
        else:
            locked = f" ({len(result['locked'])} still locked, kept)" if result["locked"] else ""
            out.print(f"keep {len(result['keep'])} snapshots; forgot {len(result['deleted'])}{locked}")


@catalog_app.command("rebuild")
def catalog_rebuild(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Recreate the tenant's catalog from the store alone."""
    settings = load_settings()
    with tenant_context(settings, tenant) as ctx:
        result = maintenance.rebuild_catalog(ctx.repository, ctx.catalog, ctx.tenant_id)
    if as_json:
        print_json(result)
    else:
        out.print(f"catalog rebuilt: {result['snapshots']} snapshots, {result['versions']:,} object versions")


def _one_line(payload: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in payload.items() if not isinstance(v, list | dict))
