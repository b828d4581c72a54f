"""``rewind serve`` as an operator runs it: one process with the Slack endpoint, the health check and the
scheduler, against the emulated tenant and the Slack stand-in, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.slack.signing import SignedClient, command_body, signed_headers
from emulator.testing import running_emulator
from tests.cli_helpers import as_json, env_for, rewind

SECRET = "serve-test-signing-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[bool]], what: str, attempts: int = 600) -> None:
    """Poll (the server and its scheduler start in another process); fails with ``what`` if it never holds."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_serve_runs_slack_health_and_the_scheduler_in_one_process(tmp_path: Path) -> None:
    with running_emulator(users=30, seed=2) as tenant:
        async with MockSlack() as mock:
            mock.add_user("UALICE", team="T1", name="Alice", email="alice@example.org")
            port = free_port()
            env = env_for(
                tenant,
                tmp_path,
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SECRET,
                REWIND_SLACK_API_URL=mock.base_url,
                REWIND_PORT=str(port),
            )
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "rewind.cli",
                "serve",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as session:

                    async def healthy() -> bool:
                        try:
                            async with session.get(f"{base}/healthz") as response:
                                return response.status == 200
                        except aiohttp.ClientError:
                            assert server.returncode is None, "rewind serve exited before it listened"
                            return False

                    await eventually(healthy, "GET /healthz answers 200")

                    async def backed_up() -> bool:
                        status = await asyncio.to_thread(as_json, env, "status")
                        return bool(status["tenants"] and status["tenants"][0]["last_snapshot"])

                    # The slot that was due when the process started runs once, without waiting an interval.
                    await eventually(backed_up, "the scheduler's first backup")

                    slack = SignedClient(session, f"{base}/slack/events", SECRET, mock.response_url())
                    status, _ = await slack.command("snapshots")
                    assert status == 200

                    async def answered() -> bool:
                        return bool(mock.responses)

                    await eventually(answered, "the private answer to /rewind snapshots")
                    snapshot = as_json(env, "snapshots")[0]["id"]
                    assert snapshot[:8] in json.dumps(mock.responses[-1][1], ensure_ascii=False)

                    forged = command_body("status", user="UALICE", team="T1", channel="CSEC", response_url="")
                    headers = signed_headers("not-the-secret", forged)
                    async with session.post(f"{base}/slack/events", data=forged, headers=headers) as response:
                        assert response.status == 401
            finally:
                server.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(server.communicate(), timeout=60)
    stdout, stderr = out.decode(), err.decode()
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"http://127.0.0.1:{port}/slack/events" in stdout


def test_serve_names_the_missing_slack_settings(tmp_path: Path) -> None:
    with running_emulator(users=10, seed=2) as tenant:
        env = env_for(tenant, tmp_path, SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None)
        env.pop("SLACK_BOT_TOKEN", None)
        env.pop("SLACK_SIGNING_SECRET", None)
        result = rewind(env, "serve", check=False)
        socket_mode = rewind({**env, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "serve",
                             "--slack-socket-mode", check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: "
        "the README's Slack section shows where Slack shows them"
    ]
    assert socket_mode.returncode == 2 and "set SLACK_APP_TOKEN" in socket_mode.stderr
