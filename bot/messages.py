"""The chat-agnostic message model and the builders that turn alerts and summaries into messages.

Adapters render a :class:`Message` (Slack as Block Kit, Teams as Adaptive Cards); the console and the test
destination use :meth:`Message.to_text`. Messages are built for a phone: the title says what happened, the
first summary line says what and who, at most three buttons, and long lists are cut with a count and a
"See all" action. Button and "see all" action ids are opaque strings ``<verb>:<tenant>:<from>:<to>`` that
the bot decodes with :func:`parse_action`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from core.alerts.aggregate import Alert
from core.alerts.finding import Finding
from core.alerts.labels import type_title
from core.alerts.summary import DailySummary
from core.diff.model import Attribution

MessageSeverity = Literal["critical", "warning", "info", "ok"]
MAX_BUTTONS = 3
MAX_ITEMS = 5
MAX_TITLE = 90
MAX_LINE = 200
STALE_AFTER = timedelta(hours=2)  # a summary calls the backups stale beyond this age
ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵", "ok": "🟢"}
LABELS = {"critical": "Critical", "warning": "Warning", "info": "Info", "ok": "OK"}
ACTIONS = ("restore", "diff", "mute", "all", "drift")


@dataclass(frozen=True)
class Item:
    text: str
    detail: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str  # opaque to adapters; handed back when the button is pressed
    style: Literal["primary", "danger"] | None = None
    confirm: str | None = None  # a question to confirm before the action runs


@dataclass(frozen=True)
class Message:
    title: str
    severity: MessageSeverity
    summary: list[str] = field(default_factory=list)  # most important line first
    facts: list[tuple[str, str]] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    more: int = 0  # items not shown
    buttons: list[Button] = field(default_factory=list)
    footer: str | None = None
    more_action: str | None = None  # the "See all" action for the items not shown

    def __post_init__(self) -> None:
        if self.severity not in ICONS:
            raise ValueError(f"unknown message severity {self.severity!r}")
        if not self.title.strip():
            raise ValueError("a message needs a title")
        if len(self.title) > MAX_TITLE:
            raise ValueError(f"the title is {len(self.title)} characters; keep it to {MAX_TITLE}")
        if len(self.buttons) > MAX_BUTTONS:
            raise ValueError(f"{len(self.buttons)} buttons; a message has at most {MAX_BUTTONS}")
        if self.more < 0:
            raise ValueError("more must not be negative")

    def to_text(self) -> str:
        lines = [self.title, *self.summary]
        if self.facts:
            lines.append("")
            lines.extend(f"{name}: {value}" for name, value in self.facts)
        if self.items:
            lines.append("")
            for item in self.items:
                lines.append(f"• {item.text}")
                if item.detail:
                    lines.append(f"  {item.detail}")
                if item.link:
                    lines.append(f"  {item.link}")
        if self.more:
            lines.append(f"…and {self.more} more" + (" (See all)" if self.more_action else ""))
        if self.buttons:
            lines.append("")
            lines.append("  ".join(f"[{b.label}]" for b in self.buttons))
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "severity": self.severity,
            "summary": list(self.summary),
            "facts": [[name, value] for name, value in self.facts],
            "items": [{"text": i.text, "detail": i.detail, "link": i.link} for i in self.items],
            "more": self.more,
            "more_action": self.more_action,
            "buttons": [
                {"label": b.label, "action_id": b.action_id, "style": b.style, "confirm": b.confirm}
                for b in self.buttons
            ],
            "footer": self.footer,
        }


# --- actions -----------------------------------------------------------------------------------------------


def action_id(verb: str, reference: str) -> str:
    if verb not in ACTIONS:
        raise ValueError(f"unknown action {verb!r}")
    return f"{verb}:{reference}"


def parse_action(value: str) -> tuple[str, str, str, str]:
    """``(verb, tenant_id, from_snapshot, to_snapshot)`` of an action id built here."""
    parts = value.split(":")
    if len(parts) != 4 or parts[0] not in ACTIONS or not all(parts):
        raise ValueError(f"not a Rewind action id: {value[:40]!r}")
    return parts[0], parts[1], parts[2], parts[3]


# --- wording -----------------------------------------------------------------------------------------------


def cut(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def ago(at: datetime, now: datetime) -> str:
    seconds = (now - at).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        return f"{hours} h {rest} min ago" if rest and hours < 3 else f"{hours} h ago"
    return f"{hours // 24} days ago"


def clock(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%H:%M} {local.tzname() or ''}".strip()


def _parse(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def actor_label(attribution: Attribution, names: Mapping[str, str]) -> str:
    if attribution.actor_type == "app":
        return f"the app '{attribution.actor}'"
    display = names.get(attribution.actor) if names else None
    return (
        f"{display} ({attribution.actor})" if display and display != attribution.actor else attribution.actor
    )


def who(finding: Finding, names: Mapping[str, str]) -> str | None:
    actors = finding.actors
    if not actors:
        return None
    first = actor_label(actors[0], names)
    return first if len(actors) == 1 else f"{first} and {len(actors) - 1} other{'s' * (len(actors) > 2)}"


def when(finding: Finding, now: datetime) -> str | None:
    attribution = finding.attribution
    moment = _parse(attribution.at) if attribution else None
    return ago(moment, now) if moment else None


def key_line(finding: Finding, names: Mapping[str, str], now: datetime, window: str) -> str:
    """ "Alice (alice@contoso.com) disabled 'Require MFA for admins' 12 min ago"."""
    actor = who(finding, names)
    if actor is None:
        return cut(f"{finding.title}: {finding.label} ({window}; no audit record names who)")
    return cut(_capital(f"{actor} {finding.action} {finding.label} {when(finding, now)}"))


def item_for(finding: Finding, names: Mapping[str, str], now: datetime) -> Item:
    details: list[str] = []
    actor = who(finding, names)
    if actor:
        details.append(f"by {actor} {when(finding, now)}")
    change = finding.change
    if finding.mass:
        soft = sum(1 for c in finding.changes if c.removed_reason == "soft_deleted")
        if soft:
            details.append(f"{soft} restorable from the recycle bin")
    elif change.link is not None:
        names_of = change.link.names
        added = [names_of.get(i, i) for i in change.link.added]
        removed = [names_of.get(i, i) for i in change.link.removed]
        parts = [f"+{n}" for n in added[:3]] + [f"-{n}" for n in removed[:3]]
        hidden = len(added) + len(removed) - len(parts)
        details.append(
            f"{change.link.relationship}: {', '.join(parts)}" + (f" (+{hidden} more)" if hidden else "")
        )
    elif finding.evidence is not None:
        path, old, new = finding.evidence
        details.append(cut(f"{path}: {short(old)} → {short(new)}", 120))
    elif change.change == "removed" and change.removed_reason == "soft_deleted":
        details.append("restorable from the recycle bin")
    text = finding.title if finding.mass else f"{finding.title}: {finding.label}"
    return Item(cut(f"{ICONS[finding.severity]} {text}", 150), "; ".join(details) or None)


def short(value: Any) -> str:
    """A value as a chat message shows it in a change line: ``(none)``, or at most 40 characters."""
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else repr(value)
    return cut(text, 40)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(severity: MessageSeverity, text: str) -> str:
    return cut(f"{ICONS[severity]} {LABELS[severity]}: {text}", MAX_TITLE)


def _counts_line(counts: dict[str, int]) -> str:
    words = {
        "critical": ("critical", "critical"),
        "warning": ("warning", "warnings"),
        "info": ("info", "info"),
    }
    parts = [f"{n} {words[name][n != 1]}" for name, n in counts.items() if n]
    return ", ".join(parts)


# --- builders ----------------------------------------------------------------------------------------------


def alert_message(
    alert: Alert, *, now: datetime | None = None, tz: tzinfo = UTC, max_items: int = MAX_ITEMS
) -> Message:
    now = now or datetime.now(UTC)
    window = f"between {clock(alert.before.created_at, tz)} and {clock(alert.after.created_at, tz)}"
    top = alert.findings[0]
    summary = [key_line(top, alert.actor_names, now, window)]
    if len(alert.findings) > 1:
        summary.append(f"{len(alert.findings)} items {window}: {_counts_line(alert.counts)}")
    listed = list(alert.findings[: max(1, min(max_items, alert.listed))])
    not_listed = alert.findings[len(listed) :]
    if not_listed:
        by_rule: dict[str, int] = {}
        for finding in not_listed:
            by_rule[finding.title] = by_rule.get(finding.title, 0) + 1
        summary.append(cut("Not listed: " + ", ".join(f"{title} ({n})" for title, n in by_rule.items())))
    objects = len(alert.restore_hint["objects"])
    facts = [
        ("Tenant", alert.tenant_id),
        ("Window", f"{clock(alert.before.created_at, tz)} → {clock(alert.after.created_at, tz)}"),
        ("Restore point", f"snapshot {alert.before.id[:12]}"),
    ]
    buttons = [
        Button(
            "Restore…",
            action_id("restore", alert.reference),
            "danger",
            f"Put {objects} object{'s' * (objects != 1)} of {alert.tenant_id} back as they were in snapshot "
            f"{alert.before.id[:12]} ({clock(alert.before.created_at, tz)})? An approver confirms before "
            "anything is written.",
        ),
        Button("View diff", action_id("diff", alert.reference)),
        Button("Mute 24h", action_id("mute", alert.reference)),
    ]
    footer = f"Rewind · {alert.tenant_id} · {alert.before.id[:8]} → {alert.after.id[:8]}"
    if alert.suppressed:
        footer += f" · {alert.suppressed} repeated change{'s' * (alert.suppressed != 1)} not re-announced"
    return Message(
        title=_title(alert.severity, alert.title),
        severity=alert.severity,
        summary=summary,
        facts=facts,
        items=[item_for(f, alert.actor_names, now) for f in listed],
        more=len(not_listed),
        buttons=buttons,
        footer=footer,
        more_action=action_id("all", alert.reference) if not_listed else None,
    )


def summary_message(
    summary: DailySummary,
    *,
    tz: tzinfo = UTC,
    max_items: int = MAX_ITEMS,
    stale_after: timedelta = STALE_AFTER,
) -> Message:
    """The daily summary; a backup older than ``stale_after`` makes it a warning at least."""
    now = summary.generated_at
    totals = {name: n for name, n in summary.totals.items() if n}
    health = summary.health
    stale = health.rpo_seconds is None or health.rpo_seconds > stale_after.total_seconds()
    severity: MessageSeverity = "ok"
    if totals.get("critical"):
        severity = "critical"
    elif totals.get("warning") or health.failures or stale:
        severity = "warning"
    elif totals:
        severity = "info"
    lines = [
        f"{summary.changes} change{'s' * (summary.changes != 1)} in the last 24 h: {_counts_line(totals)}"
        if totals
        else "No changes in the last 24 h"
    ]
    drift = summary.drift
    if drift is None:
        lines.append("No baseline set: pin an approved state with `rewind baseline set latest`")
    elif drift.error:
        lines.append(drift.error)
    else:
        t = drift.totals
        since = f"baseline {drift.baseline.snapshot_id[:12]} ({drift.baseline.set_at:%Y-%m-%d})"
        lines.append(
            f"Drift from {since}: {t['added']} added, {t['removed']} removed, {t['modified']} modified"
            if drift.total
            else f"No drift from {since}"
        )
    if health.latest is None:
        lines.append("No backup yet")
    else:
        lines.append(
            f"Last backup {ago(health.latest.created_at, now)} (RPO), "
            f"{health.snapshots_in_period} in 24 h"
            + (f"; failed: {', '.join(sorted(health.failures))}" if health.failures else "")
        )
    facts = [
        (_capital(type_title(name)), _counts_line({k: v for k, v in by.items() if v}))
        for name, by in summary.counts.items()
    ]
    if drift is not None and drift.counts:
        changed = {n: c for n, c in drift.counts.items() if sum(c.values())}
        shown = sorted(changed.items(), key=lambda kv: -sum(kv[1].values()))[:3]
        facts.extend(
            (
                f"Drift in {type_title(name)}",
                ", ".join(f"{n} {kind}" for kind, n in c.items() if n),
            )
            for name, c in shown
        )
    listed = list(summary.top_critical[:max_items])
    more = summary.critical - len(listed)
    buttons: list[Button] = []
    if summary.reference:
        buttons.append(Button("View changes", action_id("diff", summary.reference)))
    if drift is not None and drift.latest is not None and not drift.error:
        reference = f"{summary.tenant_id}:{drift.baseline.snapshot_id}:{drift.latest.id}"
        buttons.append(Button("View drift", action_id("drift", reference)))
    return Message(
        title=_title(severity, f"Daily summary for {summary.tenant_id}")
        if severity != "ok"
        else cut(f"{ICONS['ok']} Daily summary for {summary.tenant_id}: all quiet", MAX_TITLE),
        severity=severity,
        summary=lines,
        facts=facts[:8],
        items=[item_for(f, summary.actor_names, now) for f in listed],
        more=more,
        buttons=buttons,
        footer=f"Rewind daily summary · {clock(now, tz)}",
        more_action=action_id("all", summary.reference) if more and summary.reference else None,
    )


# --- restore request actions -------------------------------------------------------------------------------

REQUEST_ACTIONS = ("approve", "reject")


def request_action_id(verb: str, request_id: str) -> str:
    """``approve:<request id>``: the button carries only the opaque request id, never the plan."""
    if verb not in REQUEST_ACTIONS:
        raise ValueError(f"unknown request action {verb!r}")
    if not request_id or ":" in request_id:
        raise ValueError(f"not a request id: {request_id[:40]!r}")
    return f"{verb}:{request_id}"


def parse_request_action(value: str) -> tuple[str, str]:
    """``(verb, request_id)`` of an action id built by :func:`request_action_id`."""
    verb, _, request_id = value.partition(":")
    if verb not in REQUEST_ACTIONS or not request_id or ":" in request_id:
        raise ValueError(f"not a Rewind request action id: {value[:40]!r}")
    return verb, request_id
