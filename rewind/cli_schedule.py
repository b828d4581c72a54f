"""``rewind scheduler`` and ``rewind status``: run the schedule in the foreground; see how it is kept."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
import typer
from rich.table import Table

from bot.destinations import ConsoleNotifier, Notifier
from bot.notify import alert_after_backup, send_daily_summary
from core.alerts.rules import RuleBook
from core.backup.engine import BackupEngine
from core.catalog import Catalog
from core.catalog.notify import destination
from core.errors import ConfigurationError, RewindError
from core.graph import GraphError
from core.scheduling import runs
from core.scheduling.jobs import (
    AfterBackup,
    JobResult,
    Jobs,
    SummaryJob,
    prune_snapshots,
    retention_policy,
    run_backup,
)
from core.scheduling.plan import ScheduleConfig, summary_destinations
from core.scheduling.scheduler import RunReport, Scheduler
from core.scheduling.status import TenantStatus, tenant_status
from core.settings import RewindSettings, load_settings
from rewind.cli_common import JsonOption, TenantOption, app, out, print_json
from rewind.wiring import catalog_session, open_repository, resolve_tenant_id, tenant_graph

log = structlog.get_logger("rewind.scheduler")


def notification_hooks(
    settings: RewindSettings, catalog: Catalog, notifier: Notifier
) -> tuple[AfterBackup, SummaryJob]:
    """Alerts after every backup and daily summaries, through ``notifier`` (the chat adapters' port)."""
    rules = RuleBook.from_environment()

    async def after_backup(tenant_id: str, before: str, after: str) -> object:
        rules.refresh()  # an edited rule file applies from the next backup; a broken one keeps the old rules
        repo = open_repository(settings, tenant_id, create=False)
        return await alert_after_backup(
            catalog, repo, tenant_id, before, after, notifier, rules, datetime.now(UTC)
        )

    async def summary(tenant_id: str, destination_id: str) -> object:
        repo = open_repository(settings, tenant_id, create=False)
        target = destination(catalog, destination_id)
        return await send_daily_summary(
            catalog, repo, tenant_id, target, notifier, datetime.now(UTC), rules=rules
        )

    return after_backup, summary


def _jobs(settings: RewindSettings, catalog: Catalog) -> Jobs:
    # Until the Slack and Teams adapters deliver them, alerts and summaries are printed for every destination.
    after_backup, summary = notification_hooks(settings, catalog, ConsoleNotifier())
    return build_jobs(settings, catalog, after_backup=after_backup, summary=summary)


def build_jobs(
    settings: RewindSettings,
    catalog: Catalog,
    *,
    after_backup: AfterBackup | None = None,
    summary: SummaryJob | None = None,
) -> Jobs:
    """The scheduled jobs over the real backup service; ``rewind serve`` adds alerts and summaries."""

    def backup(full: bool) -> Callable[[str], Awaitable[JobResult]]:
        async def run(tenant_id: str) -> JobResult:
            _config, graph = tenant_graph(settings, tenant_id)
            async with graph:
                repo = open_repository(settings, tenant_id, create=True)
                return await run_backup(BackupEngine(graph, repo, catalog, tenant_id), full=full)

        return run

    policy = retention_policy(settings)

    async def prune(tenant_id: str) -> JobResult | None:
        assert policy is not None
        opener = lambda: open_repository(settings, tenant_id, create=False)  # noqa: E731
        return prune_snapshots(opener, catalog, tenant_id, policy)

    return Jobs(
        incremental=backup(full=False),
        full=backup(full=True),
        prune=prune if policy is not None else None,
        after_backup=after_backup,
        summary=summary,
    )


async def scheduled_tenants(settings: RewindSettings, catalog: Catalog) -> list[str]:
    """``REWIND_TENANT_ID`` (as its GUID: repositories are keyed by it) and every tenant in the catalog."""
    known = [row.tenant_id for row in catalog.tenants()]
    configured = settings.tenant_id
    if configured and not _is_guid(configured):
        try:
            _config, graph = tenant_graph(settings, configured)
            async with graph:
                configured = await resolve_tenant_id(graph, configured)
        except (GraphError, RewindError) as exc:
            if not known:
                raise
            log.warning("cannot resolve REWIND_TENANT_ID; scheduling the catalog's tenants", error=str(exc))
            configured = None
    tenants = list(dict.fromkeys([*([configured] if configured else []), *known]))
    if not tenants:
        raise ConfigurationError("no tenant: set REWIND_TENANT_ID to the tenant's GUID or domain")
    return tenants


@app.command()
def scheduler(
    once: Annotated[
        bool, typer.Option("--once", help="Run every due slot once and exit (for cron and tests).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up every tenant on schedule: incrementals, a daily full, prune (Ctrl-C stops)."""
    settings = load_settings()
    config = ScheduleConfig.from_settings(settings)
    if not once:
        asyncio.run(_run_forever(settings, config))
        return
    reports = asyncio.run(_run_once(settings, config))
    if as_json:
        print_json({"runs": [report.to_json() for report in reports]})
    else:
        render_runs(reports)
    raise typer.Exit(1 if any(report.status == "failed" for report in reports) else 0)


async def _run_once(settings: RewindSettings, config: ScheduleConfig) -> list[RunReport]:
    with catalog_session(settings) as catalog:
        tenants = await scheduled_tenants(settings, catalog)
        runs.expire_stale(catalog, stale_after=config.stale_after)
        once = Scheduler(catalog, _jobs(settings, catalog), config, tenants=lambda: tenants)
        return await once.run_due()


async def _run_forever(settings: RewindSettings, config: ScheduleConfig) -> None:
    with catalog_session(settings) as catalog:
        configured = await scheduled_tenants(settings, catalog)

        def tenants() -> list[str]:  # tenants added to the catalog later are picked up on refresh
            return list(dict.fromkeys([*configured, *(row.tenant_id for row in catalog.tenants())]))

        foreground = Scheduler(catalog, _jobs(settings, catalog), config, tenants=tenants)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await foreground.start()
        render_next(foreground.next_fire_times())
        try:
            await stopping.wait()
        finally:
            # Runs in flight are interrupted and recorded as failed: backups are crash-safe, and a service
            # manager would not wait minutes for one to end anyway.
            await foreground.stop(wait=False)


@app.command()
def status(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Per tenant: the last good snapshot, its age (your real RPO), next runs and recent failures."""
    settings = load_settings()
    config = ScheduleConfig.from_settings(settings)
    with catalog_session(settings) as catalog:
        jobs = build_jobs(settings, catalog)
        now = catalog.clock()
        items = [
            tenant_status(
                catalog,
                tenant_id,
                config,
                now,
                prune=jobs.prune is not None,
                summaries=summary_destinations(catalog, tenant_id) if jobs.summary else (),
            )
            for tenant_id in ([tenant] if tenant else _status_tenants(settings, catalog))
        ]
    if as_json:
        print_json({"tenants": [item.to_json() for item in items]})
        return
    if not items:
        out.print("no tenants yet: set REWIND_TENANT_ID and run `rewind backup` or `rewind scheduler`")
    for item in items:
        render_status(item, config)


def _status_tenants(settings: RewindSettings, catalog: Catalog) -> list[str]:
    """Offline, so a domain in REWIND_TENANT_ID cannot be resolved: it is shown only while the catalog is
    empty (its GUID appears once the first backup is recorded)."""
    known = [row.tenant_id for row in catalog.tenants()]
    configured = settings.tenant_id
    if configured and (_is_guid(configured) or not known):
        return list(dict.fromkeys([configured, *known]))
    return known


def render_status(item: TenantStatus, config: ScheduleConfig) -> None:
    table = Table(title=f"tenant {item.tenant_id}", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    snapshot = item.last_snapshot
    if snapshot is None:
        table.add_row("last snapshot", "[red]none yet[/]")
    else:
        table.add_row(
            "last snapshot", f"{snapshot.snapshot_id[:12]} {snapshot.kind} at {_when(snapshot.created_at)}"
        )
        colour = "red" if item.overdue(config.interval_minutes) else "green"
        table.add_row("RPO", f"[{colour}]{_age(item.rpo_seconds or 0.0)}[/]")
    for name, when in item.next_runs.items():
        table.add_row(f"next {name}", _when(when))
    for failure in item.last_failures:
        table.add_row(f"[red]failed {failure.job}[/]", f"{_when(failure.slot)}: {failure.error or ''}")
    out.print(table)


def render_runs(reports: list[RunReport]) -> None:
    if not reports:
        out.print("nothing due: every slot has run")
        return
    several = len({report.tenant_id for report in reports}) > 1
    table = Table(*(["tenant"] if several else []), "job", "slot (UTC)", "status", "snapshot / why")
    for report in reports:
        colour = {"succeeded": "green", "failed": "red"}.get(report.status, "yellow")
        detail = report.error or (report.snapshot_id or "")[:12]
        cells = [f"{report.job} {report.target}".strip(), report.slot.strftime("%Y-%m-%d %H:%M")]
        cells += [f"[{colour}]{report.status}[/]", detail]
        table.add_row(*([report.tenant_id] if several else []), *cells)
    if not several:
        table.title, table.title_justify = f"tenant {reports[0].tenant_id}", "left"
    out.print(table)


def render_next(fire_times: dict[str, datetime]) -> None:
    table = Table("job", "next run", title="scheduler running (Ctrl-C stops)", title_justify="left")
    for job_id, when in sorted(fire_times.items(), key=lambda item: item[1]):
        table.add_row(job_id.replace("|", " "), _when(when))
    out.print(table)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _age(seconds: float) -> str:
    minutes, hours, days = int(seconds // 60), int(seconds // 3600), int(seconds // 86400)
    if days:
        return f"{days} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes % 60} min"
    if minutes:
        return f"{minutes} min"
    return f"{int(seconds)} s"


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36
