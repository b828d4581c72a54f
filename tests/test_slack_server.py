"""The Slack adapter through its real aiohttp server over a socket, with requests signed as Slack signs them
and a mock Slack Web API that records every call: each subcommand, forged and stale requests, retries,
429s, channels the bot lost, and Block Kit on a phone."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.models.blocks import Block

from adapters.slack.app import SlackAdapter, build_app
from adapters.slack.blocks import MAX_BLOCKS, MAX_SECTION, render
from adapters.slack.server import EVENTS_PATH, start_site, web_app
from adapters.slack.web import ChannelPacer, RetryAfter, SlackNotifier, SlackWeb, make_client
from bot.context import BotContext
from bot.messages import Button, Item, Message
from core.catalog import Catalog
from core.catalog.notify import add_destination, list_destinations
from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.slack.signing import SignedClient, command_body, signed_headers
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import rig

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


async def no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Slack:
    mock: MockSlack
    adapter: SlackAdapter
    client: SignedClient
    retry: RetryAfter
    base: str

    async def settle(self) -> None:
        await self.adapter.idle()

    def private(self) -> list[str]:
        """Texts of the private answers (response_url posts), in order."""
        return [str(body.get("text", "")) for _name, body in self.mock.responses]

    def posted(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.mock.of("chat.postMessage")]


@asynccontextmanager
async def serve(ctx: BotContext, mock: MockSlack) -> AsyncIterator[Slack]:
    retry = RetryAfter(sleep=no_sleep)
    client = make_client(BOT_TOKEN, mock.base_url, retry=retry)
    web = SlackWeb(client, pacer=ChannelPacer(0.0))
    adapter = build_app(ctx, client, SECRET, web=web)
    runner, port = await start_site(web_app(adapter, expire_every=None), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            client_ = SignedClient(session, base + EVENTS_PATH, SECRET, mock.response_url())
            yield Slack(mock, adapter, client_, retry, base)
    finally:
        await runner.cleanup()


def valid_blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Blocks as Slack would accept them: slack_sdk's models enforce the per-element limits."""
    raw_blocks = payload["blocks"]
    blocks: list[dict[str, Any]] = json.loads(raw_blocks) if isinstance(raw_blocks, str) else raw_blocks
    assert payload["text"], "the notification text is always set"
    assert len(blocks) <= MAX_BLOCKS
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
        if raw["type"] == "section" and "text" in raw:
            assert len(raw["text"]["text"]) <= MAX_SECTION
        if raw["type"] == "actions":
            assert len(raw["elements"]) <= 3
            for element in raw["elements"]:
                if element.get("style") == "danger":
                    assert element["confirm"]["text"]["text"]
    return blocks


# --- without a tenant: a catalog only ----------------------------------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as opened:
        yield opened


def no_repository(_tenant: str) -> Any:
    raise AssertionError("no repository in this test")


def bare_context(catalog: Catalog) -> BotContext:
    return BotContext(catalog=catalog, repository_for=no_repository, default_tenant="contoso-tenant")


async def test_health_and_forged_or_stale_requests_change_nothing(catalog: Catalog) -> None:
    async with MockSlack() as mock, serve(bare_context(catalog), mock) as slack:
        async with aiohttp.ClientSession() as session, session.get(slack.base + "/healthz") as health:
            assert health.status == 200 and (await health.json()) == {"ok": True}
        body = command_body(
            "subscribe alerts", user="UMAL", team="T1", channel="CSEC", response_url=mock.response_url()
        )
        forged = signed_headers("not-the-secret", body)
        stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 6 * 60)
        missing = {"Content-Type": "application/x-www-form-urlencoded"}
        tampered = signed_headers(SECRET, body)
        for headers, sent in ((forged, body), (stale, body), (missing, body), (tampered, body + "&x=1")):
            status, _text = await slack.client.post(sent, headers)
            assert status == 401
        await slack.settle()
        assert mock.calls == [] and mock.responses == []
        assert list_destinations(catalog) == []


async def test_retries_and_repeated_events_run_once(catalog: Catalog) -> None:
    async with MockSlack() as mock, serve(bare_context(catalog), mock) as slack:
        body = command_body(
            "subscribe alerts critical",
            user="UALICE",
            team="T1",
            channel="CSEC",
            response_url=mock.response_url(),
        )
        assert (await slack.client.post(body, signed_headers(SECRET, body)))[0] == 200
        status, _ = await slack.client.post(body, signed_headers(SECRET, body, retry=1))
        assert status == 200
        await slack.settle()
        assert len(mock.of("chat.postMessage")) == 1
        rows = list_destinations(catalog)
        assert [(r.channel, r.alerts, r.summary, r.min_severity) for r in rows] == [
            ("CSEC", True, False, "critical")
        ]
        # the bot is removed from the channel: the event pauses it; Slack's retry of the event changes nothing
        for retry in (None, 1):
            await slack.client.event({"type": "channel_left", "channel": "CSEC"}, event_id="Ev1", retry=retry)
        await slack.settle()
        assert list_destinations(catalog)[0].paused


async def test_usage_lines_are_private_and_never_a_traceback(catalog: Catalog) -> None:
    async with MockSlack() as mock, serve(bare_context(catalog), mock) as slack:
        status, text = await slack.client.command("frobnicate")
        assert status == 200
        ack = json.loads(text)
        assert ack["response_type"] == "ephemeral" and "Commands:" in ack["text"] + json.dumps(ack["blocks"])
        cases = [
            ("diff yesterday", "/rewind diff A B"),
            ("subscribe nothing", "/rewind subscribe"),
            ("history", "/rewind history OBJECT"),
            ("changes lately", "/rewind changes"),
            ("restore deleted since forever", "/rewind restore"),
        ]
        for typed, usage in cases:
            status, text = await slack.client.command(typed)
            assert status == 200
            assert usage in json.dumps(json.loads(text)["blocks"]), typed
        await slack.settle()
        assert mock.web_calls() == []
        # a failure after the ack is one private line too
        await slack.client.command("status --tenant nowhere")
        await slack.settle()
        assert any("no tenant 'nowhere'" in json.dumps(body) for _n, body in mock.responses)
        assert all("Traceback" not in json.dumps(body) for _n, body in mock.responses)


async def test_rate_limits_are_honoured_and_a_lost_channel_is_paused_once(catalog: Catalog) -> None:
    async with MockSlack() as mock:
        retry = RetryAfter(sleep=no_sleep)
        web = SlackWeb(make_client(BOT_TOKEN, mock.base_url, retry=retry), pacer=ChannelPacer(0.0))
        notifier = SlackNotifier(web, bare_context(catalog))
        row, _ = add_destination(catalog, platform="slack", channel="CSEC", tenant_id="*")
        gone, _ = add_destination(catalog, platform="slack", channel="COLD", tenant_id="*")
        mock.rate_limit("chat.postMessage", 7, 2)
        await notifier.send(row, Message("🔴 Critical: test", "critical", ["key line"]))
        assert retry.waited == [7.0, 2.0]
        assert len(mock.of("chat.postMessage")) == 3  # two 429s, then the post
        mock.gone["COLD"] = "not_in_channel"
        with pytest.raises(Exception, match="paused"):
            await notifier.send(gone, Message("🔴 Critical: test", "critical", ["key line"]))
        paused = {r.channel: r for r in list_destinations(catalog)}
        assert paused["COLD"].paused and "not_in_channel" in (paused["COLD"].paused_reason or "")
        assert not paused["CSEC"].paused


async def test_posts_are_paced_per_channel() -> None:
    moments: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = ChannelPacer(1.0, clock=lambda: now[0], sleep=sleep)
    for channel in ("A", "A", "B", "A"):
        await pacer.wait(channel)
        moments.append(now[0])
    assert moments == [0.0, 1.0, 1.0, 2.0]


def test_block_kit_limits_on_a_huge_message() -> None:
    items = [Item(f"🗑️ User 'user {n:05d}' removed" + " x" * 40, f"detail {n}") for n in range(5000)]
    buttons = [
        Button("Approve", "approve:req1", "danger", "Write 5,000 changes?"),
        Button("Reject", "reject:req1"),
    ]
    message = Message(
        "🟠 Restore awaiting approval",
        "warning",
        ["key line " * 500],
        facts=[("A", "b")] * 12,
        items=items,
        more=3,
        buttons=buttons,
        footer="Rewind",
        more_action="all:t:a:b",
    )
    rendered = render(message)
    blocks = valid_blocks({"text": rendered.text, "blocks": rendered.blocks})
    assert blocks[0]["type"] == "header"
    shown = sum(b["text"]["text"].count("• ") for b in blocks if b["type"] == "section" and "text" in b)
    assert shown + len(rendered.overflow) == 5000 and rendered.overflow
    assert f"…and {3 + len(rendered.overflow):,} more" in json.dumps(blocks, ensure_ascii=False)


# --- every subcommand against an emulated tenant ------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=60, seed=11) as handle:
        yield handle


async def test_every_subcommand(tenant: EmulatorHandle, tmp_path: Path) -> None:
    async with rig(tenant, tmp_path) as r, MockSlack() as mock:
        first = await r.backup()
        victim = sorted(tenant.dump()["objects"]["users"].values(), key=lambda u: u["id"])[5]
        assert tenant.act("DELETE", f"/users/{victim['id']}")[0] == 204
        ctx = BotContext(
            catalog=r.catalog,
            repository_for=lambda _t: r.repo,
            backup=lambda _t: r.backup(),
            default_tenant=tenant.tenant_id,
        )
        async with serve(ctx, mock) as slack:

            async def run(text: str) -> None:
                status, _ = await slack.client.command(text)
                assert status == 200, text
                await slack.settle()

            await run("backup")
            assert slack.posted()[-1].startswith("🟢 Backup done")
            second = r.catalog.snapshots(tenant.tenant_id)[0]
            await run("help")
            await run("status")
            assert "Rewind status for" in slack.private()[-1]
            await run("snapshots")
            assert "Snapshots of" in slack.private()[-1] and second.snapshot_id[:12] in json.dumps(
                mock.responses[-1]
            )
            await run("tenants")
            assert tenant.tenant_id in json.dumps(mock.responses[-1])
            await run("changes since 24h")
            assert victim["displayName"] in json.dumps(mock.of("chat.postMessage")[-1], ensure_ascii=False)
            await run(f"diff {first.snapshot_id[:12]} latest")
            diff_post = mock.of("chat.postMessage")[-1]
            assert "1 removed" in diff_post["text"] and victim["displayName"] in json.dumps(
                diff_post, ensure_ascii=False
            )
            upload = mock.uploads()[-1]  # the full list, in the reply's thread
            assert upload["thread_ts"] and victim["displayName"] in upload["content"]
            await run(f"history {victim['id']}")
            assert "History of" in slack.posted()[-1]
            await run(f"subscribe summary {tenant.tenant_id} critical")
            await run("subscribe alerts")
            rows = {(d.tenant_id, d.alerts, d.summary, d.min_severity) for d in list_destinations(r.catalog)}
            assert rows == {(tenant.tenant_id, False, True, "critical"), ("*", True, False, "warning")}
            await run("unsubscribe summary")
            assert {(d.tenant_id, d.summary) for d in list_destinations(r.catalog)} == {("*", False)}
            await run("restore deleted since 1h")  # no restore service here: one private line
            assert "not configured" in json.dumps(mock.responses[-1])
            for payload in mock.of("chat.postMessage"):
                valid_blocks(payload)
            for _name, body in mock.responses:
                assert body["response_type"] == "ephemeral"
                valid_blocks(body)
