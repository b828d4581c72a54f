"""The Slack app: slack-bolt's AsyncApp with Rewind's slash command, buttons and events.

Every listener acknowledges first (bolt answers Slack as soon as ``ack()`` is called, well inside Slack's
3 seconds) and then does the slow work (reading snapshots, planning, restoring) in the same task, which bolt
keeps running after the response. Signatures and timestamps are bolt's (401 for a forged or stale request,
before any listener runs). Retried deliveries (``X-Slack-Retry-Num``, the same body or ``event_id`` again)
are answered and dropped; double clicks are left to core's compare-and-set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import render
from adapters.slack.web import SlackConversation, SlackWeb
from bot import alert_actions, queries, restore_flow
from bot.commands import COMMAND, Invocation, UsageError, handle_command, parse, usage_reply
from bot.context import BotContext
from bot.conversation import MessageRef
from bot.identity import ChatUser
from bot.messages import Message, parse_action, parse_request_action
from bot.subscriptions import pause_channel

log = structlog.get_logger(__name__)
ACTIONS = re.compile(r"^(restore|diff|mute|all|drift|approve|reject):")
SEEN_LIMIT = 10_000
WORKERS = 8  # post-ack jobs at once (a running restore holds one); the rest wait their turn


class SlackAdapter:
    """Owns the bolt app, the Web API helper and the work still running after an ack."""

    def __init__(self, ctx: BotContext, web: SlackWeb, app: AsyncApp) -> None:
        self.ctx, self.web, self.app = ctx, web, app
        self._running: set[asyncio.Task[Any]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._slots = asyncio.Semaphore(WORKERS)

    async def idle(self) -> None:
        """Wait until every acknowledged request has finished its work (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def work(self, job: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            # A few jobs at a time: a burst of commands must not delay the acks Slack waits 3 s for.
            async with self._slots:
                await job()
        except Exception as exc:  # after the ack nobody waits for us: log it, never show a traceback
            log.exception("slack work failed", error=type(exc).__name__)
        finally:
            if task is not None:
                self._running.discard(task)

    def first_delivery(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def conversation(
        self,
        channel: str,
        *,
        team: str | None = None,
        user: str | None = None,
        response_url: str | None = None,
    ) -> SlackConversation:
        return SlackConversation(self.web, channel, team=team, user=user, response_url=response_url)

    def conversation_for(self, ref: MessageRef) -> SlackConversation:
        return self.conversation(ref.channel, team=ref.team)

    async def expire_requests(self) -> int:
        return await restore_flow.expire_due(self.ctx, self.conversation_for)


def build_app(
    ctx: BotContext, client: AsyncWebClient, signing_secret: str, *, web: SlackWeb | None = None
) -> SlackAdapter:
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    adapter = SlackAdapter(ctx, web or SlackWeb(client), app)
    _register(adapter)
    return adapter


def _delivery_key(body: dict[str, Any], raw: str) -> str:
    event_id = body.get("event_id")
    return f"event:{event_id}" if event_id else "body:" + hashlib.sha256(raw.encode()).hexdigest()


def _register(adapter: SlackAdapter) -> None:
    app, ctx = adapter.app, adapter.ctx

    async def drop_repeats(
        request: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[Any]]
    ) -> Any:
        # Runs after bolt's signature check. Slack retries an unacknowledged delivery with the same body
        # (or the same event_id): answer it and tell Slack not to retry again.
        if not adapter.first_delivery(_delivery_key(body, request.raw_body)):
            retry = request.headers.get("x-slack-retry-num", ["0"])
            log.info("repeated slack delivery dropped", retry=retry[0] if retry else "0")
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next()

    app.use(drop_repeats)

    @app.command(COMMAND)
    async def on_command(ack: Any, body: dict[str, Any]) -> None:
        text = str(body.get("text") or "")
        try:
            command = parse(text)
        except UsageError as exc:  # answered in the ack itself: no Web API call needed
            rendered = render(usage_reply(exc).message)
            await ack(response_type="ephemeral", text=rendered.text, blocks=rendered.blocks)
            return
        await ack()
        team, user = str(body.get("team_id") or ""), str(body.get("user_id") or "")
        account = ChatUser("slack", team, user, display=str(body.get("user_name") or ""))
        convo = adapter.conversation(
            str(body.get("channel_id") or ""), team=team, user=user, response_url=body.get("response_url")
        )
        invocation = Invocation(account, text, lambda: adapter.web.user(team, user))
        log.info("slack command", command=command.name, team=team, user=user)
        await adapter.work(lambda: handle_command(ctx, invocation, convo))

    @app.action(ACTIONS)
    async def on_action(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await adapter.work(lambda: _on_action(adapter, body))

    @app.event("channel_left")
    async def on_channel_left(event: dict[str, Any]) -> None:
        await adapter.work(
            lambda: _pause_channel(adapter, str(event.get("channel") or ""), "the bot was removed")
        )

    @app.event("channel_archive")
    async def on_channel_archive(event: dict[str, Any]) -> None:
        await adapter.work(
            lambda: _pause_channel(adapter, str(event.get("channel") or ""), "the channel was archived")
        )

    @app.error
    async def on_error(error: Exception) -> None:
        log.warning("slack listener failed", error=type(error).__name__)


async def _pause_channel(adapter: SlackAdapter, channel: str, why: str) -> None:
    if pause_channel(adapter.ctx.catalog, "slack", channel, f"Slack: {why}"):
        log.warning("slack channel subscription paused", channel=channel, reason=why)


async def _on_action(adapter: SlackAdapter, body: dict[str, Any]) -> None:
    ctx = adapter.ctx
    action = (body.get("actions") or [{}])[0]
    value = str(action.get("action_id") or "")
    user = body.get("user") or {}
    team = str(user.get("team_id") or (body.get("team") or {}).get("id") or "")
    user_id = str(user.get("id") or "")
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    )
    message_ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
    clicked = MessageRef("slack", channel, str(message_ts), team) if message_ts else None
    convo = adapter.conversation(channel, team=team, user=user_id, response_url=body.get("response_url"))
    verb = value.partition(":")[0]
    log.info("slack action", verb=verb, team=team, user=user_id)
    try:
        if verb in ("approve", "reject"):
            _verb, request_id = parse_request_action(value)
            account = await adapter.web.user(team, user_id)
            await restore_flow.decide(ctx, convo, account, verb, request_id, clicked=clicked)
            return
        verb, tenant_id, before_id, after_id = parse_action(value)
        if verb == "restore":
            account = await adapter.web.user(team, user_id)
            await restore_flow.restore_alert(ctx, convo, account, f"{tenant_id}:{before_id}:{after_id}")
        elif verb in ("diff", "all", "drift"):
            before = ctx.catalog.snapshot(tenant_id, before_id)
            after = ctx.catalog.snapshot(tenant_id, after_id)
            changes = await queries.changes_between(ctx, tenant_id, before, after)
            heading = "Drift from the baseline" if verb == "drift" else None
            reply = queries.diff_reply(ctx, tenant_id, before, after, changes, heading=heading)
            ref = await convo.post(reply.message, thread=clicked)
            if reply.attachment is not None:
                await convo.upload(reply.attachment, thread=clicked or ref)
        else:  # mute
            account = await adapter.web.user(team, user_id)
            await alert_actions.mute_alert(ctx, convo, account, f"{tenant_id}:{before_id}:{after_id}")
    except Exception as exc:
        await convo.tell(Message("🚫 Not done", "warning", [restore_flow.refusal_text(exc)]))
        if not isinstance(exc, ValueError):
            log.warning("slack action failed", verb=verb, error=type(exc).__name__)


def payload_of(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON inside an interactivity request's ``payload`` form field (for tests and tools)."""
    raw = body.get("payload")
    return json.loads(raw) if isinstance(raw, str) else body
