"""``rewind serve``: the Slack app (HTTP or Socket Mode), the health check and the scheduler, one process."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
import typer
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import SlackAdapter, build_app
from adapters.slack.server import start_site, web_app
from adapters.slack.web import SlackNotifier, SlackWeb, make_client
from bot.context import BotContext
from core.backup.engine import BackupEngine, BackupResult
from core.catalog import Catalog
from core.errors import ConfigurationError, RewindError
from core.graph import GraphError
from core.restore.identity import is_object_id
from core.scheduling.plan import ScheduleConfig
from core.scheduling.scheduler import Scheduler
from core.settings import RewindSettings, load_settings
from rewind.cli_common import app, out
from rewind.cli_schedule import build_jobs, notification_hooks, scheduled_tenants
from rewind.wiring import catalog_session, open_repository, restore_service, tenant_graph

log = structlog.get_logger("rewind.serve")


@app.command()
def serve(
    socket_mode: Annotated[
        bool,
        typer.Option("--slack-socket-mode", help="Connect out to Slack (SLACK_APP_TOKEN): no public URL."),
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to bind (REWIND_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (REWIND_PORT).")] = None,
    scheduler: Annotated[bool, typer.Option(help="Run backups, alerts and summaries on schedule.")] = True,
) -> None:
    """Serve the Slack app on POST /slack/events (or Socket Mode), GET /healthz, and the scheduler."""
    settings = load_settings()
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
            ("SLACK_APP_TOKEN", settings.slack_app_token if socket_mode else "unused"),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"set {', '.join(missing)}: the README's Slack section shows where Slack shows them"
        )
    asyncio.run(
        run_server(
            settings,
            socket_mode=socket_mode,
            host=host or settings.host,
            port=settings.port if port is None else port,
            scheduler=scheduler,
        )
    )


def bot_context(settings: RewindSettings, catalog: Catalog) -> BotContext:
    """The bot over the real services: each tenant's repository, backups, and the restore workflow."""
    restore = restore_service(settings, catalog)  # also opens each tenant's repository once for the bot

    async def backup(tenant_id: str) -> BackupResult:
        _config, graph = tenant_graph(settings, tenant_id)
        async with graph:
            repo = open_repository(settings, tenant_id, create=True)
            return await BackupEngine(graph, repo, catalog, tenant_id).run()

    default = settings.tenant_id if settings.tenant_id and is_object_id(settings.tenant_id) else None
    return BotContext(
        catalog=catalog,
        repository_for=restore.repository,
        restore=restore,
        backup=backup,
        default_tenant=default.lower() if default else None,
        schedule=ScheduleConfig.from_settings(settings),
    )


async def run_server(
    settings: RewindSettings,
    *,
    socket_mode: bool,
    host: str,
    port: int,
    scheduler: bool = True,
    stop: asyncio.Event | None = None,
    ready: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    with catalog_session(settings) as catalog:
        ctx = bot_context(settings, catalog)
        client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        web = SlackWeb(client)
        adapter = build_app(ctx, client, settings.slack_signing_secret.get_secret_value(), web=web)
        background = await _scheduler(settings, catalog, SlackNotifier(web, ctx)) if scheduler else None

        async def on_start() -> None:
            if background is not None:
                await background.start()

        async def on_stop() -> None:
            if background is not None:
                await background.stop(wait=False)

        runner, bound = await start_site(web_app(adapter, on_start=on_start, on_stop=on_stop), host, port)
        socket = await _socket_mode(adapter, settings, client) if socket_mode else None
        stopping = stop or asyncio.Event()
        if stop is None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stopping.set)
        where = "Socket Mode" if socket_mode else f"http://{host}:{bound}/slack/events"
        out.print(f"Rewind serving Slack on {where}; health at http://{host}:{bound}/healthz (Ctrl-C stops)")
        if ready is not None:
            await ready(bound)
        try:
            await stopping.wait()
        finally:
            if socket is not None:
                await socket.close_async()  # type: ignore[no-untyped-call]
            await runner.cleanup()


async def _scheduler(settings: RewindSettings, catalog: Catalog, notifier: SlackNotifier) -> Scheduler | None:
    try:
        configured = await scheduled_tenants(settings, catalog)
    except (RewindError, GraphError) as exc:
        log.warning("no scheduler: no tenant to back up yet", error=str(exc))
        out.print(f"[yellow]scheduler off:[/] {exc}", highlight=False)
        return None
    after_backup, summary = notification_hooks(settings, catalog, notifier)
    jobs = build_jobs(settings, catalog, after_backup=after_backup, summary=summary)

    def tenants() -> list[str]:
        return list(dict.fromkeys([*configured, *(row.tenant_id for row in catalog.tenants())]))

    return Scheduler(catalog, jobs, ScheduleConfig.from_settings(settings), tenants=tenants)


async def _socket_mode(
    adapter: SlackAdapter, settings: RewindSettings, client: AsyncWebClient
) -> AsyncSocketModeHandler:
    """Socket Mode: Slack delivers over a WebSocket this process opens (bolt skips signatures there)."""
    assert settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(
        adapter.app, settings.slack_app_token.get_secret_value(), web_client=client
    )
    await handler.connect_async()  # type: ignore[no-untyped-call]
    return handler
