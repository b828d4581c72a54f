"""The Slack part of ``make demo``: what Rewind posts in Slack, against a mock Slack Web API on loopback.

The lead's demo calls :func:`run_slack_demo` with the demo's environment (an emulated tenant) and a function
that stages an incident. Everything goes through the real path: the aiohttp server, requests signed as
Slack signs them, the bolt app, the bot, the restore workflow and the emulator; the mock Slack server only
records what Rewind would have posted, which is printed as a phone would show it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from rich.console import Console
from rich.panel import Panel

from adapters.slack.app import build_app
from adapters.slack.server import EVENTS_PATH, start_site, web_app
from adapters.slack.web import ChannelPacer, SlackNotifier, SlackWeb, make_client
from bot.notify import alert_after_backup
from core.alerts.rules import RuleBook
from core.logs import configure_logging
from core.settings import load_settings
from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.slack.signing import SignedClient
from rewind.cli_serve import bot_context
from rewind.wiring import catalog_session

CHANNEL = "CSECOPS"
SECRET = "demo-signing-secret"


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_slack_demo(
    env: Mapping[str, str],
    incident: Callable[[], Any],
    people: Sequence[tuple[str, str]],
    *,
    console: Console | None = None,
) -> None:
    """Subscribe #secops, back up, stage ``incident``, back up: the alert, Restore…, a refused self-approval,
    a colleague's approval, the restore and its result, each message printed as Slack would show it.

    ``people`` are (name, email) of the one on call and the approvers; their Slack accounts resolve through
    users.info to these emails, and from there to their Entra users."""
    configure_logging("WARNING", json=False)
    with _environment(env):
        asyncio.run(_demo(incident, people, console or Console()))


async def _demo(incident: Callable[[], Any], people: Sequence[tuple[str, str]], console: Console) -> None:
    settings = load_settings()
    async with MockSlack() as mock:
        slack_users = [f"U{n:02d}{name.split()[0].upper()}" for n, (name, _) in enumerate(people)]
        for user, (name, email) in zip(slack_users, people, strict=True):
            mock.add_user(user, team="T1", name=name, email=email)
        on_call, *approvers = slack_users
        first = people[0][0].split()[0]
        shown = 0

        def show(step: str) -> None:
            nonlocal shown
            console.rule(step)
            for call in mock.calls[shown:]:
                _print_call(console, call.method, call.params)
            for _name, body in mock.responses[getattr(show, "told", 0) :]:
                _print_call(console, "private reply", body)
            show.told = len(mock.responses)  # type: ignore[attr-defined]
            shown = len(mock.calls)

        with catalog_session(settings) as catalog:
            ctx = bot_context(settings, catalog)
            ctx.progress_interval = 0.0
            client = make_client(BOT_TOKEN, mock.base_url)
            web = SlackWeb(client, pacer=ChannelPacer(0.0))
            adapter = build_app(ctx, client, SECRET, web=web)
            runner, port = await start_site(web_app(adapter, expire_every=None), "127.0.0.1", 0)
            try:
                async with aiohttp.ClientSession() as session:
                    slack = SignedClient(
                        session, f"http://127.0.0.1:{port}{EVENTS_PATH}", SECRET, mock.response_url()
                    )
                    await slack.command("subscribe alerts", user=on_call, channel=CHANNEL)
                    await adapter.idle()
                    show(f"/rewind subscribe alerts ({first}, in #secops)")
                    assert ctx.backup is not None and ctx.default_tenant is not None
                    tenant = ctx.default_tenant
                    before = await ctx.backup(tenant)
                    incident()
                    after = await ctx.backup(tenant)
                    await alert_after_backup(
                        catalog,
                        ctx.repository_for(tenant),
                        tenant,
                        before.snapshot_id,
                        after.snapshot_id,
                        SlackNotifier(web, ctx),
                        RuleBook.from_environment(),
                        datetime.now(UTC),
                    )
                    show("The alert after the next scheduled backup")
                    alert = mock.of("chat.postMessage")[-1]
                    restore = _button(alert, "Restore…")
                    await slack.click(restore, message_ts=alert_ts(mock), user=on_call, channel=CHANNEL)
                    await adapter.idle()
                    show(f"{first} presses Restore…")
                    request_ts = alert_ts(mock)
                    approve = _button(mock.of("chat.postMessage")[-1], "Approve")
                    await slack.click(approve, message_ts=request_ts, user=on_call, channel=CHANNEL)
                    await adapter.idle()
                    show(f"{first} tries to approve the request they made")
                    for user, (name, _) in zip(approvers, people[1:], strict=True):
                        await slack.click(approve, message_ts=request_ts, user=user, channel=CHANNEL)
                        await adapter.idle()
                        show(f"{name} approves: the message is updated for everyone")
            finally:
                await runner.cleanup()


def alert_ts(mock: Any) -> str:
    return str(
        mock.of("chat.postMessage")[-1].get("ts") or f"1700000000.{len(mock.of('chat.postMessage')):06d}"
    )


def _button(payload: dict[str, Any], label: str) -> str:
    blocks = payload["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["text"]["text"] == label:
                return str(element["action_id"])
    raise RuntimeError(f"no {label!r} button in {payload.get('text')!r}")


def _print_call(console: Console, method: str, params: dict[str, Any]) -> None:
    if method in ("auth.test", "users.info", "files.getUploadURLExternal"):
        return
    if method == "files.completeUploadExternal":
        console.print(
            f"[dim]📎 file uploaded into the thread: {params.get('initial_comment') or 'attachment'}[/]"
        )
        return
    blocks = params.get("blocks") or []
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    lines = []
    for block in blocks:
        if block["type"] in ("header", "section") and "text" in block:
            lines.append(block["text"]["text"])
        for item in block.get("fields", []):
            lines.append(item["text"].replace("\n", ": "))
        if block["type"] == "actions":
            lines.append("  ".join(f"[{e['text']['text']}]" for e in block["elements"]))
        if block["type"] == "context":
            lines.append(" ".join(e.get("text", "") for e in block["elements"]))
    where = {"chat.postMessage": "posted", "chat.update": "updated", "private reply": "only you can see this"}
    title = f"{where.get(method, method)}" + (" in the thread" if params.get("thread_ts") else "")
    console.print(
        Panel("\n".join(lines) or str(params.get("text", "")), title=title, title_align="left", width=80)
    )
