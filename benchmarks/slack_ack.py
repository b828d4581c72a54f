"""Time to acknowledge 50 concurrent slash commands through ``rewind serve``'s real aiohttp server.

Requests are signed as Slack signs them and sent at once over loopback; the Web API calls made after the
acknowledgement go to the mock Slack server. The figure is the time from sending a request to its HTTP
response (what Slack's 3-second limit measures); the target is a p99 under 300 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from adapters.slack.app import build_app
from adapters.slack.server import EVENTS_PATH, start_site, web_app
from adapters.slack.web import ChannelPacer, SlackWeb, make_client
from bot.context import BotContext
from core.catalog import Catalog
from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.slack.signing import command_body, signed_headers

SECRET = "bench-signing-secret"
TARGET_MS = 300.0


def _no_repository(_tenant: str) -> Any:
    raise RuntimeError("the ack benchmark reads no snapshots")


async def measure(concurrent: int = 50, rounds: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rewind-slack-bench-") as tmp:
        catalog = Catalog(f"sqlite:///{Path(tmp) / 'catalog.db'}")
        try:
            async with MockSlack() as mock:
                client = make_client(BOT_TOKEN, mock.base_url)
                ctx = BotContext(
                    catalog=catalog, repository_for=_no_repository, default_tenant="bench-tenant"
                )
                adapter = build_app(ctx, client, SECRET, web=SlackWeb(client, pacer=ChannelPacer(0.0)))
                runner, port = await start_site(web_app(adapter, expire_every=None), "127.0.0.1", 0)
                url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
                timings: list[float] = []
                try:
                    async with aiohttp.ClientSession() as session:

                        async def one(n: int) -> float:
                            body = command_body(
                                "status",
                                user=f"U{n:04d}",
                                team="T1",
                                channel=f"C{n % 5}",
                                response_url=mock.response_url(f"r{n}"),
                            )
                            started = time.perf_counter()
                            async with session.post(
                                url, data=body.encode(), headers=signed_headers(SECRET, body)
                            ) as r:
                                await r.read()
                                assert r.status == 200, r.status
                            return (time.perf_counter() - started) * 1000

                        await one(-1)  # auth.test and connection set-up happen once per process
                        await adapter.idle()
                        for round_ in range(rounds):
                            timings += await asyncio.gather(
                                *(one(round_ * concurrent + n) for n in range(concurrent))
                            )
                            await adapter.idle()
                finally:
                    await runner.cleanup()
        finally:
            catalog.close()
    ordered = sorted(timings)
    p99 = ordered[max(0, round(0.99 * len(ordered)) - 1)]
    return {
        "concurrent": concurrent,
        "requests": len(timings),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(ordered[-1], 1),
        "target_p99_ms": TARGET_MS,
    }


def run() -> dict[str, Any]:
    return asyncio.run(measure())


def targets(result: dict[str, Any]) -> dict[str, bool]:
    return {
        f"p99 ack of {result['concurrent']} concurrent commands under 300 ms": result["p99_ms"] < TARGET_MS
    }
