"""Slack's Web API as Rewind uses it: paced posts, honoured 429s, uploads, and channels the bot lost.

- ``chat.postMessage`` is paced to about one message per second per channel (Slack's documented rate);
- a 429 is retried after exactly the ``Retry-After`` Slack sent (:class:`RetryAfter`);
- ``channel_not_found`` / ``not_in_channel`` / ``is_archived`` raise :class:`ChannelGone`, which the notifier
  turns into a paused subscription, reported once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import render
from bot.context import BotContext
from bot.conversation import Attachment, MessageRef
from bot.identity import ChatUser, IdentityRefused
from bot.messages import Message
from bot.subscriptions import DestinationRow, pause_gone
from core.errors import RewindError

log = structlog.get_logger(__name__)
CHANNEL_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
Sleep = Callable[[float], Awaitable[None]]


class ChannelGone(RewindError):
    """The bot cannot post in this channel any more (removed, archived, deleted)."""

    def __init__(self, channel: str, error: str) -> None:
        super().__init__(f"Slack channel {channel} cannot be reached ({error})")
        self.channel = channel
        self.error = error


class RetryAfter(AsyncRetryHandler):
    """Retry a 429 after the ``Retry-After`` seconds Slack asked for (capped), up to ``max_retry_count``."""

    def __init__(self, max_retry_count: int = 3, *, cap: float = 60.0, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.cap = cap
        self.sleep = sleep
        self.waited: list[float] = []

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        headers = {k.lower(): v for k, v in (response.headers if response else {}).items()}
        raw = headers.get("retry-after", ["1"])
        try:
            delay = float(raw[0] if isinstance(raw, list) else raw)
        except ValueError:
            delay = 1.0
        delay = min(max(delay, 0.0), self.cap)
        self.waited.append(delay)
        state.next_attempt_requested = True
        await self.sleep(delay)
        state.increment_current_attempt()


class ChannelPacer:
    """At most one post per ``interval`` seconds per channel; callers wait their turn."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str) -> None:
        async with self._locks.setdefault(channel, asyncio.Lock()):
            now = self.clock()
            due = self._next.get(channel, now)
            if due > now:
                await self.sleep(due - now)
                now = due
            self._next[channel] = now + self.interval


def make_client(
    token: str, base_url: str, *, retry: RetryAfter | None = None, timeout: int = 30
) -> AsyncWebClient:
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=timeout, retry_handlers=[retry or RetryAfter()]
    )


def _error_of(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


class SlackWeb:
    """The Web API calls Rewind makes, with pacing and error mapping; the client is bolt's own."""

    def __init__(self, client: AsyncWebClient, *, pacer: ChannelPacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or ChannelPacer()

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> str:
        rendered = render(message)
        await self.pacer.wait(channel)
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                text=rendered.text,
                blocks=rendered.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
            )
        except SlackApiError as exc:
            self._raise(channel, exc)
        ts = str(response["ts"])
        if rendered.overflow:  # never silently lost: the rest goes in a file in the message's thread
            content = "\n".join(line.replace("\n   ", "\n  ") for line in rendered.overflow) + "\n"
            await self.upload(
                channel,
                Attachment("rewind-more.txt", content, f"{len(rendered.overflow)} more"),
                thread_ts=thread_ts or ts,
            )
        return ts

    async def update(self, channel: str, ts: str, message: Message) -> None:
        rendered = render(message)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=rendered.text, blocks=rendered.blocks)
        except SlackApiError as exc:
            self._raise(channel, exc)

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        rendered = render(message)
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=rendered.text, blocks=rendered.blocks
            )
        except SlackApiError as exc:
            self._raise(channel, exc)

    async def respond(self, response_url: str, message: Message) -> None:
        """A private answer through the interaction's response_url (works in channels the bot is not in)."""
        rendered = render(message)
        webhook = AsyncWebhookClient(response_url, timeout=10)
        response = await webhook.send(
            text=rendered.text, blocks=rendered.blocks, response_type="ephemeral", replace_original=False
        )
        if response.status_code >= 400:
            raise RewindError(f"Slack refused the private reply (HTTP {response.status_code})")

    async def upload(self, channel: str, attachment: Attachment, *, thread_ts: str | None = None) -> None:
        try:
            await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                filename=attachment.filename,
                title=attachment.title,
                content=attachment.content,
            )
        except SlackApiError as exc:
            self._raise(channel, exc)

    async def user(self, team: str, user: str) -> ChatUser:
        """users.info: the email (users:read.email) and the flags that refuse an approval."""
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:  # fail closed: an account Slack will not describe cannot approve
            raise IdentityRefused(
                f"Slack could not look up your account ({_error_of(exc) or 'error'})"
            ) from None
        info: dict[str, Any] = response.get("user") or {}
        profile: dict[str, Any] = info.get("profile") or {}
        return ChatUser(
            platform="slack",
            team=str(info.get("team_id") or team),
            user=user,
            display=str(
                profile.get("real_name") or profile.get("display_name") or info.get("real_name") or user
            ),
            email=profile.get("email"),
            is_bot=bool(info.get("is_bot")),
            deleted=bool(info.get("deleted")),
            guest=bool(info.get("is_restricted") or info.get("is_ultra_restricted")),
        )

    @staticmethod
    def _raise(channel: str, exc: SlackApiError) -> Any:
        error = _error_of(exc)
        if error in CHANNEL_GONE:
            raise ChannelGone(channel, error) from None
        raise RewindError(f"Slack refused the call in {channel}: {error or 'unknown error'}") from None


class SlackConversation:
    """One channel, and the person who asked (for private replies), as a bot.conversation.Conversation."""

    platform = "slack"

    def __init__(
        self,
        web: SlackWeb,
        channel: str,
        *,
        team: str | None = None,
        user: str | None = None,
        response_url: str | None = None,
    ) -> None:
        self.web, self.channel, self.team, self.user, self.response_url = (
            web,
            channel,
            team,
            user,
            response_url,
        )

    async def post(self, message: Message, *, thread: MessageRef | None = None) -> MessageRef:
        ts = await self.web.post(self.channel, message, thread_ts=thread.message_id if thread else None)
        return MessageRef("slack", self.channel, ts, self.team)

    async def update(self, ref: MessageRef, message: Message) -> None:
        await self.web.update(ref.channel, ref.message_id, message)

    async def tell(self, message: Message) -> None:
        try:
            if self.response_url:
                await self.web.respond(self.response_url, message)
            elif self.user:
                await self.web.ephemeral(self.channel, self.user, message)
        except Exception as exc:  # a private note that cannot be delivered is logged, not raised
            log.warning("private reply not delivered", channel=self.channel, error=type(exc).__name__)

    async def upload(self, attachment: Attachment, *, thread: MessageRef | None = None) -> None:
        await self.web.upload(self.channel, attachment, thread_ts=thread.message_id if thread else None)


class SlackNotifier:
    """The scheduler's alerts and summaries into Slack channels (bot.destinations.Notifier).

    A channel the bot was removed from pauses its subscription, so it is reported once (in this run's
    error) and not attempted on every later backup; ``/rewind subscribe`` there again resumes it.
    """

    def __init__(self, web: SlackWeb, ctx: BotContext) -> None:
        self.web, self.ctx = web, ctx

    async def send(self, destination: DestinationRow, message: Message) -> None:
        if destination.platform != "slack":
            log.info("destination not on Slack; skipped", destination=destination.destination_id)
            return
        try:
            await self.web.post(destination.channel, message)
        except ChannelGone as exc:
            reason = f"Slack: {exc.error} (the bot was removed or the channel archived)"
            pause_gone(self.ctx.catalog, destination, reason)
            log.warning("slack channel gone; subscription paused", channel=exc.channel, error=exc.error)
            raise RewindError(
                f"Slack channel {exc.channel} is gone ({exc.error}): its subscription "
                f"{destination.destination_id} is paused until `/rewind subscribe` is run there again"
            ) from None
