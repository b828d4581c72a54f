"""Ask, approve, reject and run restores from a chat: one request message, updated for everyone.

The request message is posted in the channel and its place (channel + message id) stored as the request's
origin, so every later click, the execution and the expiry update that same message; progress and the
per-object result go into its thread. Core's compare-and-set state machine decides; this module only
presents. A refusal (own request, not an approver, expired, drifted...) is told privately to the clicker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from bot.alert_actions import alert_for_channel
from bot.context import BotContext, RequestLike, RestoreServicePort
from bot.conversation import Conversation, MessageRef
from bot.identity import ChatUser, IdentityRefused, resolve_person
from bot.messages import MAX_ITEMS, Message, cut
from bot.restore_messages import (
    action_line,
    plan_attachment,
    progress_message,
    refusal_message,
    request_message,
    result_message,
    state_of,
)
from core.errors import RewindError
from core.restore.approval import RequestState
from core.restore.model import Action

log = structlog.get_logger(__name__)
OPEN_STATES = ("pending", "approved", "executing")
ConversationFor = Callable[[MessageRef], Conversation]


class RestoreUnavailable(RewindError):
    """This deployment has no restore service (no restore credential or catalog)."""


def service_of(ctx: BotContext) -> RestoreServicePort:
    """The restore service, or RestoreUnavailable when this server has none."""
    if ctx.restore is None:
        raise RestoreUnavailable("restores are not configured on this Rewind server")
    return ctx.restore


def refusal_text(exc: Exception) -> str:
    """One line for people; only Rewind's own errors are known to be free of secrets."""
    if isinstance(exc, RewindError) and str(exc):
        return cut(str(exc), 300)
    return f"something went wrong ({type(exc).__name__}); the Rewind log has the details"


async def open_request(
    ctx: BotContext,
    convo: Conversation,
    account: ChatUser,
    tenant_id: str,
    selector: str,
    *,
    snapshot: str | None = None,
    alert: str | None = None,
) -> RequestLike | None:
    """Plan, record the request, post it with Approve/Reject, and put the full plan in its thread."""
    service = service_of(ctx)
    person = await resolve_person(account, tenant_id=tenant_id, entra=ctx.entra)
    count = selector.count(",") + 1
    asked = selector
    if alert:
        asked = f"the {count} objects of the alert" if count > 1 else "the object of the alert"
    await convo.tell(Message("⏳ Planning the restore…", "info", [cut(f"{asked} in {tenant_id}")]))
    origin: dict[str, Any] = {"platform": convo.platform, "channel": convo.channel, "team": account.team}
    if alert:
        origin["alert"] = alert
    view: RequestLike = await service.request(
        tenant_id, selector, requester=person, snapshot=snapshot, origin=origin
    )
    try:
        ref = await convo.post(request_message(view, now=ctx.clock(), tz=ctx.timezone))
    except Exception as exc:
        log.warning("restore request not posted", channel=convo.channel, error=type(exc).__name__)
        await _withdraw(service, view, person)
        await convo.tell(
            refusal_message(
                "I cannot post in this channel, so nobody could approve the request: invite me "
                "(`/invite @Rewind`) and ask again. The request was cancelled."
            )
        )
        return None
    service.set_origin(view.request_id, {**origin, **ref.to_origin()})
    if len(view.plan.writes()) > MAX_ITEMS or view.plan.warnings:
        await convo.upload(plan_attachment(view), thread=ref)
    return view


async def _withdraw(service: RestoreServicePort, view: RequestLike, person: Any) -> None:
    with contextlib.suppress(RewindError):
        await service.cancel(view.request_id, person=person)


async def restore_alert(ctx: BotContext, convo: Conversation, account: ChatUser, reference: str) -> None:
    """The alert's Restore…: a request for exactly the objects of the alert this channel was sent.

    A second click (the same person twice, or a colleague) while a request for this alert is open points
    at that request instead of opening another.
    """
    tenant_id, before_id, after_id = reference.split(":")
    async with ctx.lock(f"alert:{convo.channel}:{reference}"):
        service = service_of(ctx)
        for open_view in service.requests(tenant_id, states=[RequestState(s) for s in OPEN_STATES]):
            origin = open_view.origin or {}
            if origin.get("alert") == reference and origin.get("channel") == convo.channel:
                await convo.tell(
                    Message(
                        "A restore for this alert is already open",
                        "info",
                        [f"Request {open_view.request_id[:12]} is {state_of(open_view)}: see it above"],
                    )
                )
                return
        selector = await asyncio.to_thread(alert_selector, ctx, tenant_id, before_id, after_id, convo)
        await open_request(ctx, convo, account, tenant_id, selector, snapshot=before_id, alert=reference)


def alert_selector(
    ctx: BotContext, tenant_id: str, before_id: str, after_id: str, convo: Conversation
) -> str:
    """``objects type/id,...``: the objects the alert sent to this channel listed (its minimum severity)."""
    alert = alert_for_channel(ctx, tenant_id, before_id, after_id, convo).alert
    objects = alert.restore_hint["objects"] if alert is not None else []
    if not objects:
        raise RewindError("this alert names no object a restore could put back")
    return "objects " + ",".join(f"{o['type']}/{o['id']}" for o in objects)


async def decide(
    ctx: BotContext,
    convo: Conversation,
    account: ChatUser,
    verb: str,
    request_id: str,
    *,
    clicked: MessageRef | None = None,
) -> None:
    """Approve or reject; a refusal is private. Enough approvals start the restore, exactly once."""
    service = service_of(ctx)
    current: RequestLike = service.get(request_id)
    try:
        person = await resolve_person(account, tenant_id=current.tenant_id, entra=ctx.entra)
        if verb == "approve":
            view: RequestLike = await service.approve(request_id, approver=person)
        else:
            view = await service.reject(request_id, person=person)
    except (IdentityRefused, RewindError) as exc:
        await convo.tell(refusal_message(refusal_text(exc)))
        await _refresh(ctx, convo, service.get(request_id), clicked)  # e.g. it expired meanwhile
        return
    ref = await _refresh(ctx, convo, view, clicked)
    if state_of(view) == "approved":
        await run_approved(ctx, convo, request_id, ref)


async def _refresh(
    ctx: BotContext, convo: Conversation, view: RequestLike, fallback: MessageRef | None
) -> MessageRef | None:
    ref = MessageRef.from_origin(view.origin) or fallback
    if ref is not None:
        await convo.update(ref, request_message(view, now=ctx.clock(), tz=ctx.timezone))
    return ref


async def run_approved(ctx: BotContext, convo: Conversation, request_id: str, ref: MessageRef | None) -> None:
    """Run an approved request, progress in the request's thread; a concurrent second run is a no-op."""
    service = service_of(ctx)
    async with ctx.lock(f"execute:{request_id}"):
        view: RequestLike = service.get(request_id)
        if state_of(view) != "approved":
            return  # another click (or replica) already ran it
        total = len(view.plan.writes())
        progress = _Progress(ctx, convo, ref, total)
        await progress.start()
        try:
            final: RequestLike = await service.execute(request_id, progress=progress.step)
        except RewindError as exc:
            if getattr(exc, "reason", None) == "not_approved":
                return
            final = service.get(request_id)
            await convo.post(refusal_message(refusal_text(exc)), thread=ref) if ref else await convo.tell(
                refusal_message(refusal_text(exc))
            )
        await progress.finish()
        await _refresh(ctx, convo, final, ref)
        message, attachment = result_message(final)
        if ref is not None:
            await convo.post(message, thread=ref)
            if attachment is not None:
                await convo.upload(attachment, thread=ref)


class _Progress:
    """One line in the thread, edited at most every ``progress_interval`` seconds (chat.update is rate-limited
    too): a 5,000-step restore must not post 5,000 messages."""

    def __init__(self, ctx: BotContext, convo: Conversation, thread: MessageRef | None, total: int) -> None:
        self.ctx, self.convo, self.thread, self.total = ctx, convo, thread, total
        self.done = self.failed = 0
        self.last: str | None = None
        self.line: MessageRef | None = None
        self.edited = 0.0

    async def start(self) -> None:
        if self.thread is not None:
            self.line = await self.convo.post(progress_message(0, 0, self.total, None), thread=self.thread)
            self.edited = time.monotonic()

    async def step(self, event: Any) -> None:
        state = getattr(event, "state", "")
        if state == "started":
            return
        if state == "failed":
            self.failed += 1
        else:
            self.done += 1
        action = getattr(event, "action", None)
        self.last = f"{state}: {action_line(action)}" if isinstance(action, Action) else state
        if self.line is not None and time.monotonic() - self.edited >= self.ctx.progress_interval:
            self.edited = time.monotonic()
            try:
                await self.convo.update(
                    self.line, progress_message(self.done, self.failed, self.total, self.last)
                )
            except Exception as exc:  # progress is a courtesy; the restore goes on
                log.warning("progress not updated", error=type(exc).__name__)

    async def finish(self) -> None:
        if self.line is not None:
            await self.convo.update(
                self.line, progress_message(self.done, self.failed, self.total, self.last)
            )


async def expire_due(ctx: BotContext, conversation_for: ConversationFor) -> int:
    """Expire overdue requests and update their messages (the serve loop calls this every minute)."""
    if ctx.restore is None:
        return 0
    expired = ctx.restore.expire_due()
    for view in expired:
        ref = MessageRef.from_origin(view.origin)
        if ref is None:
            continue
        try:
            await conversation_for(ref).update(ref, request_message(view, now=ctx.clock(), tz=ctx.timezone))
        except Exception as exc:
            log.warning("expired request not updated", request=view.request_id, error=type(exc).__name__)
    return len(expired)
