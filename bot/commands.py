"""The chat command (``/rewind ...``): parsing, the usage line of every subcommand, and the handlers.

Platform-neutral: an adapter hands over the text and who typed it (an :class:`Invocation`) and a
:class:`~bot.conversation.Conversation` to answer in. Unknown or malformed input answers privately with the
usage line of that subcommand; a failure answers with one line, never a stack trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from bot import queries, restore_flow, subscriptions
from bot.context import BotContext
from bot.conversation import Conversation, Reply
from bot.identity import ChatUser, IdentityRefused
from bot.messages import Item, Message, MessageSeverity, cut
from core.catalog.notify import ALL_TENANTS, SEVERITIES
from core.errors import RewindError
from core.retention import parse_duration

log = structlog.get_logger(__name__)

COMMAND = "/rewind"
USAGE = {
    "help": "`/rewind help`: what Rewind can do here",
    "status": "`/rewind status`: the last backup (your RPO), next runs, recent failures",
    "backup": "`/rewind backup`: take a snapshot of the tenant now",
    "snapshots": "`/rewind snapshots`: the newest snapshots",
    "changes": "`/rewind changes [since 24h]`: what changed recently",
    "diff": "`/rewind diff A B`: what changed between two snapshots or times, e.g. `diff yesterday latest`",
    "history": "`/rewind history OBJECT`: one object (id, UPN or name) through time",
    "restore": "`/rewind restore OBJECT [from SNAPSHOT|TIME]` or `/rewind restore deleted [since 1h]`",
    "subscribe": "`/rewind subscribe alerts|summary [TENANT] [critical|warning|info]`",
    "unsubscribe": "`/rewind unsubscribe [alerts|summary] [TENANT]`",
    "tenants": "`/rewind tenants`: the tenants Rewind backs up",
}
TENANT_OPTION = "--tenant"


class UsageError(RewindError):
    """Input a subcommand cannot read; ``usage`` is its usage line."""

    def __init__(self, command: str | None, problem: str) -> None:
        super().__init__(problem)
        self.command = command
        self.problem = problem

    @property
    def usage(self) -> str:
        if self.command in USAGE:
            return f"Usage: {USAGE[self.command]}"
        return "Commands: " + ", ".join(f"`{name}`" for name in USAGE) + " (`/rewind help` explains them)"


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    tenant: str | None = None


@dataclass(frozen=True)
class Invocation:
    """Who typed what, where. ``account`` comes from the platform's signed request (team and user ids);
    ``lookup`` fetches the rest of the profile (email, flags) only when a restore needs it."""

    account: ChatUser
    text: str
    lookup: Callable[[], Awaitable[ChatUser]] | None = field(default=None, compare=False)

    async def person_account(self) -> ChatUser:
        return await self.lookup() if self.lookup is not None else self.account


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Command("help")
    name, rest = words[0].lower(), words[1:]
    if name not in USAGE:
        raise UsageError(None, f"unknown command {cut(words[0], 30)!r}")
    tenant = None
    if TENANT_OPTION in rest:
        at = rest.index(TENANT_OPTION)
        if at + 1 >= len(rest):
            raise UsageError(name, f"{TENANT_OPTION} needs a tenant id or domain")
        tenant = rest[at + 1]
        rest = rest[:at] + rest[at + 2 :]
    args = tuple(rest)
    arity = {
        "help": (0, 1),
        "status": (0, 0),
        "backup": (0, 0),
        "snapshots": (0, 0),
        "tenants": (0, 0),
        "changes": (0, 2),
        "diff": (2, 8),
        "history": (1, 50),
        "restore": (1, 50),
        "subscribe": (1, 3),
        "unsubscribe": (0, 2),
    }[name]
    if not arity[0] <= len(args) <= arity[1]:
        raise UsageError(name, f"`{name}` takes {'no' if arity[1] == 0 else 'other'} arguments")
    if name == "changes" and args and (args[0].lower() != "since" or len(args) != 2):
        raise UsageError(name, "write `changes` or `changes since 24h`")
    if name == "subscribe" and args[0].lower() not in subscriptions.KINDS:
        raise UsageError(name, "subscribe to `alerts` or `summary`")
    if name == "restore":
        restore_selector(args)  # malformed input is answered at once, with the usage line
    return Command(name, args, tenant)


def _since(args: tuple[str, ...], default: timedelta, command: str) -> timedelta:
    if not args:
        return default
    try:
        return parse_duration(args[-1])
    except RewindError as exc:
        raise UsageError(command, str(exc)) from None


def resolve_tenant(ctx: BotContext, wanted: str | None, command: str) -> str:
    """A tenant by id, domain or name; by default REWIND_TENANT_ID, or the only tenant there is."""
    rows = ctx.catalog.tenants()
    if wanted:
        needle = wanted.lower()
        for row in rows:
            if needle in {
                row.tenant_id.lower(),
                (row.domain or "").lower(),
                (row.display_name or "").lower(),
            }:
                return row.tenant_id
        raise UsageError(command, f"no tenant {cut(wanted, 60)!r}: `/rewind tenants` lists them")
    if ctx.default_tenant:
        return ctx.default_tenant
    if len(rows) == 1:
        return rows[0].tenant_id
    if not rows:
        raise RewindError("no tenant has been backed up yet")
    raise UsageError(command, f"Rewind backs up {len(rows)} tenants: add `{TENANT_OPTION} TENANT`")


def help_reply() -> Reply:
    items = [Item(line) for line in USAGE.values()]
    return Reply(
        Message(
            "Rewind: backups, change alerts and approved restores for Entra ID",
            "info",
            [f"Every command takes `{TENANT_OPTION} TENANT` when Rewind backs up several"],
            items=items[:5],
            more=0,
            footer=None,
        ),
        thread=(),
    )


def usage_reply(error: UsageError) -> Reply:
    return Reply(Message("🤔 Not understood", "info", [cut(error.problem), error.usage]))


async def handle_command(ctx: BotContext, invocation: Invocation, convo: Conversation) -> None:
    """Run one command and answer it; every failure becomes a private one-line answer."""
    try:
        command = parse(invocation.text)
        await _run(ctx, command, invocation, convo)
    except UsageError as exc:
        await convo.tell(usage_reply(exc).message)
    except (IdentityRefused, RewindError) as exc:
        await convo.tell(Message("🚫 Not done", "warning", [restore_flow.refusal_text(exc)]))
    except Exception as exc:  # the last line of defence: a reference to the log, never a traceback
        reference = uuid.uuid4().hex[:8]
        log.exception("command failed", reference=reference, error=type(exc).__name__)
        await convo.tell(
            Message(
                "🚫 Something went wrong",
                "warning",
                [f"{type(exc).__name__}; the Rewind log has the details (ref {reference})"],
            )
        )


async def answer(convo: Conversation, reply: Reply) -> None:
    """Post a reply where it belongs: private, or in the channel with its thread and file."""
    if reply.private:
        await convo.tell(reply.message)
        return
    try:
        ref = await convo.post(reply.message)
    except Exception as exc:
        log.info("channel reply fell back to a private one", channel=convo.channel, error=type(exc).__name__)
        await convo.tell(reply.message)
        await convo.tell(
            Message(
                "💬 I am not in this channel",
                "info",
                ["Invite me (`/invite @Rewind`) to share answers and threads here"],
            )
        )
        return
    for follow_up in reply.thread:
        await convo.post(follow_up, thread=ref)
    if reply.attachment is not None:
        await convo.upload(reply.attachment, thread=ref)


async def _run(ctx: BotContext, command: Command, invocation: Invocation, convo: Conversation) -> None:
    name, args = command.name, command.args
    if name == "help":
        if args and args[0].lower() in USAGE:
            await convo.tell(Message(f"/rewind {args[0].lower()}", "info", [USAGE[args[0].lower()]]))
            return
        await answer(convo, help_reply())
        return
    if name == "tenants":
        await answer(convo, queries.tenants_reply(ctx))
        return
    if name in ("subscribe", "unsubscribe"):
        await _subscription(ctx, command, invocation, convo)
        return
    tenant_id = resolve_tenant(ctx, command.tenant, name)
    if name == "status":
        await answer(convo, queries.status_reply(ctx, tenant_id))
    elif name == "snapshots":
        await answer(convo, queries.snapshots_reply(ctx, tenant_id))
    elif name == "changes":
        since = _since(args, timedelta(hours=24), name)
        before = queries.snapshot_since(ctx, tenant_id, since)
        after = queries.resolve_snapshot(ctx, tenant_id, "latest")
        changes = await queries.changes_between(ctx, tenant_id, before, after)
        heading = f"Changes in {cut(tenant_id, 40)} (last {args[-1] if args else '24h'})"
        await answer(convo, queries.diff_reply(ctx, tenant_id, before, after, changes, heading=heading))
    elif name == "diff":
        refs = _two_refs(args)
        before, after = (queries.resolve_snapshot(ctx, tenant_id, ref) for ref in refs)
        changes = await queries.changes_between(ctx, tenant_id, before, after)
        await answer(convo, queries.diff_reply(ctx, tenant_id, before, after, changes))
    elif name == "history":
        await answer(convo, await queries.history_reply(ctx, tenant_id, " ".join(args)))
    elif name == "backup":
        await _backup(ctx, tenant_id, invocation, convo)
    elif name == "restore":
        selector, snapshot = restore_selector(args)
        restore_flow.service_of(ctx)  # say so before looking the person up
        account = await invocation.person_account()
        await restore_flow.open_request(ctx, convo, account, tenant_id, selector, snapshot=snapshot)


def _two_refs(args: tuple[str, ...]) -> list[str]:
    from core.timeref import split_references

    refs = split_references(list(args))
    if len(refs) != 2:
        raise UsageError("diff", f"diff takes two snapshots or times, not {len(refs)}")
    return refs


def restore_selector(args: tuple[str, ...]) -> tuple[str, str | None]:
    """``restore OBJECT [from SNAPSHOT|TIME]`` -> (selector, snapshot); ``restore deleted [since 1h]``."""
    words = list(args)
    if words[0].lower() == "deleted":
        if len(words) == 1:
            return "deleted since 1h", None
        if len(words) == 3 and words[1].lower() == "since":
            _since((words[2],), timedelta(hours=1), "restore")
            return f"deleted since {words[2]}", None
        raise UsageError("restore", "write `restore deleted` or `restore deleted since 2h`")
    lowered = [w.lower() for w in words]
    if "from" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("from")
        selector, snapshot = " ".join(words[:at]), " ".join(words[at + 1 :])
        if not selector or not snapshot:
            raise UsageError("restore", "name the object, and the snapshot or time after `from`")
        return selector, snapshot
    return " ".join(words), None


async def _backup(ctx: BotContext, tenant_id: str, invocation: Invocation, convo: Conversation) -> None:
    if ctx.backup is None:
        raise RewindError("on-demand backups are not configured on this Rewind server")
    who = invocation.account.label
    await convo.tell(Message("⏳ Backup started", "info", [f"A snapshot of {tenant_id} is being taken"]))
    result = await ctx.backup(tenant_id)
    changed = sum(result.changed.values())
    severity: MessageSeverity = "warning" if result.failures else "ok"
    lines = [
        f"{result.kind.capitalize()} snapshot {result.snapshot_id[:12]}: {sum(result.counts.values()):,} "
        f"objects, {changed:,} read or changed, {result.duration_s:.1f} s",
        f"Asked by {who}",
    ]
    items = [Item(cut(f"⚠️ {name} not backed up"), cut(error, 150)) for name, error in result.failures.items()]
    title = "🟠 Backup finished with failures" if result.failures else "🟢 Backup done"
    await answer(
        convo,
        Reply(Message(title, severity, lines, items=items[:5], more=max(0, len(items) - 5)), private=False),
    )


async def _subscription(
    ctx: BotContext, command: Command, invocation: Invocation, convo: Conversation
) -> None:
    args = [a.lower() for a in command.args]
    kind = args[0] if args and args[0] in subscriptions.KINDS else None
    rest = command.args[1:] if kind else command.args
    severity = next((a.lower() for a in rest if a.lower() in SEVERITIES), None)
    named = [a for a in rest if a.lower() not in SEVERITIES]
    if command.tenant:
        named.append(command.tenant)
    if len(named) > 1 or (command.name == "unsubscribe" and severity):
        raise UsageError(command.name, "name at most one tenant" + (" (and no severity)" if severity else ""))
    tenant: str | None = None
    if named:
        tenant = (
            ALL_TENANTS if named[0].lower() in ("*", "all") else resolve_tenant(ctx, named[0], command.name)
        )
    platform, channel = convo.platform, convo.channel
    if command.name == "subscribe":
        assert kind is not None  # parse() checked it
        done = subscriptions.subscribe(
            ctx.catalog,
            platform=platform,
            channel=channel,
            kind=kind,
            tenant_id=tenant or ALL_TENANTS,
            min_severity=severity,
            created_by=f"{platform}:{invocation.account.team}:{invocation.account.user}",
        )
        row = done.row
        scope = "every tenant" if row.tenant_id == ALL_TENANTS else row.tenant_id
        what = " and ".join(k for k, on in (("alerts", row.alerts), ("daily summaries", row.summary)) if on)
        lines = [
            f"This channel gets {what} for {scope}",
            f"Alerts at {row.min_severity} or above; the summary at {row.summary_time} {row.timezone}",
        ]
        if done.resumed:
            lines.append("The subscription was paused (the bot had been removed); it is resumed")
        await answer(
            convo,
            Reply(
                Message("🔔 Subscribed", "info", lines, footer=f"Rewind · {row.destination_id}"),
                private=False,
            ),
        )
        return
    changed = subscriptions.unsubscribe(
        ctx.catalog, platform=platform, channel=channel, kind=kind, tenant_id=tenant
    )
    if not changed:
        await convo.tell(Message("Nothing to unsubscribe", "info", ["This channel has no such subscription"]))
        return
    await answer(
        convo,
        Reply(
            Message(
                "🔕 Unsubscribed",
                "info",
                [
                    f"This channel no longer gets {kind or 'alerts or summaries'}"
                    + (f" for {tenant}" if tenant else "")
                ],
            ),
            private=False,
        ),
    )
