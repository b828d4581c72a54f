"""What an alert's buttons act on: the alert exactly as this channel received it, and "Mute 24h".

An alert is not stored; its button carries the tenant and the two snapshots, and the findings are worked out
again with the channel's own minimum severity, so a button acts on what that channel was shown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from bot.context import BotContext
from bot.conversation import Conversation
from bot.identity import ChatUser
from bot.messages import Message
from core.alerts.aggregate import Alert, aggregate
from core.alerts.analysis import analyse
from core.alerts.rules import RuleBook
from core.catalog.notify import DestinationRow, list_destinations, mute
from core.errors import RewindError

MUTE_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class ChannelAlert:
    alert: Alert | None
    destination: DestinationRow | None  # the subscription that delivered it, if the channel has one


def alert_for_channel(
    ctx: BotContext, tenant_id: str, before_id: str, after_id: str, convo: Conversation
) -> ChannelAlert:
    """Blocking (diff and rules): call it in a worker thread."""
    before = ctx.catalog.snapshot(tenant_id, before_id)
    after = ctx.catalog.snapshot(tenant_id, after_id)
    book = RuleBook.from_environment()
    book.refresh()
    analysis = analyse(ctx.catalog, ctx.repository_for(tenant_id), tenant_id, before, after, book.current)
    subscription = next(
        (
            row
            for row in list_destinations(ctx.catalog, tenant_id)
            if row.platform == convo.platform and row.channel == convo.channel and row.alerts
        ),
        None,
    )
    alert = aggregate(
        analysis.findings,
        tenant_id=tenant_id,
        before=analysis.before,
        after=analysis.after,
        min_severity=subscription.min_severity if subscription else "warning",
    )
    return ChannelAlert(alert, subscription)


async def mute_alert(ctx: BotContext, convo: Conversation, account: ChatUser, reference: str) -> None:
    """Keep this alert's findings quiet in this channel for 24 hours; other channels still get them."""
    tenant_id, before_id, after_id = reference.split(":")
    found = await asyncio.to_thread(alert_for_channel, ctx, tenant_id, before_id, after_id, convo)
    if found.destination is None:
        raise RewindError("no alert subscription here to mute: `/rewind subscribe alerts` adds one")
    if found.alert is None:
        raise RewindError("this alert's changes no longer match any rule at this channel's severity")
    until = ctx.clock() + MUTE_FOR
    count = mute(
        ctx.catalog,
        found.destination.destination_id,
        tenant_id,
        (finding.fingerprint for finding in found.alert.findings),
        until=until,
        muted_by=f"{account.platform}:{account.team}:{account.user}",
    )
    local = until.astimezone(ctx.timezone).strftime("%Y-%m-%d %H:%M %Z")
    await convo.post(
        Message(
            "🔕 Muted for 24 h",
            "info",
            [
                f"{account.label} muted {count} finding{'s' if count != 1 else ''} of this alert here "
                f"until {local}; other channels still get them",
                "`/rewind unsubscribe alerts` stops every alert in this channel",
            ],
        )
    )
