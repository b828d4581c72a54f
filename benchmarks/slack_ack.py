"""Time to acknowledge 50 concurrent slash commands sent to ``rewind serve``, running as its own process.

Requests are signed as Slack signs them and sent at once over loopback; the Web API calls made after the
acknowledgement go to the Slack stand-in in this process. The figure is the time from sending a request to
its HTTP response (what Slack's 3-second limit measures); the target is a p99 under 300 ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import aiohttp

from adapters.slack.server import EVENTS_PATH
from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.slack.signing import command_body, signed_headers
from rewind.emulated import free_port

SECRET = "bench-signing-secret"
TENANT = "11111111-2222-3333-4444-555555555555"
TARGET_MS = 300.0


async def _serve(tmp: str, mock: MockSlack) -> tuple[asyncio.subprocess.Process, str]:
    """``rewind serve`` in its own process, as deployed (the scheduler off: nothing to back up here)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REWIND_", "SLACK_"))}
    env |= {
        "REWIND_DATA_DIR": tmp,
        "REWIND_TENANT_ID": TENANT,
        "REWIND_PORT": str(port),
        "REWIND_SLACK_API_URL": mock.base_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rewind.cli", "serve", "--no-scheduler",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return server, f"http://127.0.0.1:{port}"


async def _wait_healthy(
    session: aiohttp.ClientSession, base: str, server: asyncio.subprocess.Process
) -> None:
    for _ in range(300):
        if server.returncode is not None:
            raise RuntimeError("rewind serve exited during start-up")
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("rewind serve did not answer /healthz")


async def measure(concurrent: int = 50, rounds: int = 5) -> dict[str, Any]:
    timings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="rewind-slack-bench-") as tmp:
        async with MockSlack() as mock:
            server, base = await _serve(tmp, mock)
            try:
                async with aiohttp.ClientSession() as session:
                    await _wait_healthy(session, base, server)

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
                            f"{base}{EVENTS_PATH}", data=body.encode(), headers=signed_headers(SECRET, body)
                        ) as r:
                            await r.read()
                            assert r.status == 200, r.status
                        return (time.perf_counter() - started) * 1000

                    for n in range(3):  # connection set-up and first-use imports happen once per process
                        await one(-1 - n)
                    for round_ in range(rounds):
                        timings += await asyncio.gather(
                            *(one(round_ * concurrent + n) for n in range(concurrent))
                        )
                        await _replied(mock, 3 + (round_ + 1) * concurrent)
            finally:
                server.terminate()
                await server.wait()
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


async def _replied(mock: MockSlack, count: int) -> None:
    """Let the work after each round's acks finish, so rounds measure acks, not each other's leftovers."""
    for _ in range(600):
        if len(mock.responses) >= count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"only {len(mock.responses)} of {count} commands were answered")


def run() -> dict[str, Any]:
    return asyncio.run(measure())


def targets(result: dict[str, Any]) -> dict[str, bool]:
    return {
        f"p99 ack of {result['concurrent']} concurrent commands under 300 ms": result["p99_ms"] < TARGET_MS
    }
