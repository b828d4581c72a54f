"""The HTTP side of ``rewind serve``: one aiohttp application with Slack's request URL and a health check.

``POST /slack/events`` takes slash commands, interactivity and events (bolt verifies the signature on the raw
body); ``GET /healthz`` answers ``{"ok": true}`` for load balancers. Background loops (the scheduler, the
expiry of restore requests) start and stop with the application.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from adapters.slack.app import SlackAdapter

log = structlog.get_logger(__name__)
EVENTS_PATH = "/slack/events"
Lifecycle = Callable[[], Awaitable[None]]


def web_app(
    adapter: SlackAdapter,
    *,
    on_start: Lifecycle | None = None,
    on_stop: Lifecycle | None = None,
    expire_every: float | None = 60.0,
) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await adapter.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def background(_app: web.Application) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start()
        expiry = asyncio.create_task(_expire_loop(adapter, expire_every)) if expire_every else None
        try:
            yield
        finally:
            if expiry is not None:
                expiry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await expiry
            await adapter.idle()
            if on_stop is not None:
                await on_stop()

    application = web.Application(client_max_size=1024 * 1024)
    application.router.add_post(EVENTS_PATH, events)
    application.router.add_get("/healthz", healthz)
    application.cleanup_ctx.append(background)
    return application


async def _expire_loop(adapter: SlackAdapter, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await adapter.expire_requests()
        except Exception as exc:  # the loop must outlive one bad round
            log.warning("restore request expiry failed", error=type(exc).__name__)


async def start_site(application: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on ``host:port`` (0 picks a free port); returns the runner and the bound port."""
    runner = web.AppRunner(application, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return runner, bound
