"""Messages of the restore workflow: the request (one message, updated on every decision), the progress line
and the per-object result posted in its thread."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, tzinfo

from bot.context import RequestLike
from bot.conversation import Attachment
from bot.messages import (
    ICONS,
    MAX_ITEMS,
    Button,
    Item,
    Message,
    MessageSeverity,
    clock,
    cut,
    request_action_id,
    short,
)
from core.alerts.labels import type_title
from core.restore.model import Action, Plan

_RISK_ICON = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}
_VERB = {
    "restore_deleted": "restore from the recycle bin",
    "recreate": "recreate",
    "patch": "revert",
    "add_link": "re-add",
    "remove_link": "remove",
    "skip": "skip",
}
_STATES: dict[str, tuple[MessageSeverity, str]] = {
    "pending": ("warning", "Restore awaiting approval"),
    "approved": ("info", "Restore approved, starting"),
    "executing": ("info", "Restore running"),
    "succeeded": ("ok", "Restore done"),
    "partially_failed": ("warning", "Restore partly failed"),
    "failed": ("critical", "Restore failed"),
    "rejected": ("info", "Restore rejected"),
    "expired": ("info", "Restore request expired"),
    "cancelled": ("info", "Restore request cancelled"),
}
_OUTCOME_ICON = {"failed": "❌", "mismatch": "⚠️", "skipped": "⏭️", "unchanged": "⚪"}


def state_of(view: RequestLike) -> str:
    return str(getattr(view.state, "value", view.state))


def objects_in(plan: Plan) -> int:
    return len({(a.object_type, a.object_id) for a in plan.writes()})


def action_line(action: Action) -> str:
    verb = _VERB.get(action.operation.value, action.operation.value)
    what = f"{type_title(action.object_type)} '{action.display_name or action.object_id}'"
    if action.relationship and action.target_id:
        return cut(f"{_RISK_ICON[action.risk.value]} {verb} {action.relationship} link of {what}", 150)
    return cut(f"{_RISK_ICON[action.risk.value]} {verb} {what}", 150)


def action_detail(action: Action) -> str | None:
    if action.changes:
        parts = [f"{c.path}: {short(c.live)} → {short(c.snapshot)}" for c in action.changes[:3]]
        extra = len(action.changes) - 3
        return cut("; ".join(parts) + (f" (+{extra} more)" if extra > 0 else ""), 150)
    return cut(action.reason, 150) if action.reason else None


def request_message(view: RequestLike, *, now: datetime, tz: tzinfo) -> Message:
    """The request as everyone in the channel sees it; Approve/Reject only while it is pending."""
    state = state_of(view)
    severity, heading = _STATES.get(state, ("info", f"Restore {state}"))
    plan = view.plan
    count = objects_in(plan)
    snapshot = f"snapshot {plan.snapshot_id[:8]} ({plan.snapshot_created_at[:16].replace('T', ' ')} UTC)"
    objects = f"{count} object{'s' * (count != 1)}"
    key = f"{view.requester.display} asks to put back {objects} of {view.tenant_id} as in {snapshot}"
    steps = ", ".join(f"{n} {op.replace('_', ' ')}" for op, n in plan.counts().items()) or "nothing to do"
    summary = [cut(key), cut(f"Plan: {steps}")]
    approvers = ", ".join(p.display for p in view.approvals) or "none yet"
    facts = [
        ("Requested by", view.requester.display),
        ("Approvals", f"{len(view.approvals)} of {view.required_approvals}: {approvers}"),
    ]
    if state == "pending":
        minutes = max(0, int((view.expires_at - now).total_seconds() // 60))
        facts.append(("Expires", f"{clock(view.expires_at, tz)} (in {minutes} min)"))
    if view.rejected_by is not None:
        facts.append(("Rejected by", view.rejected_by.display))
    if view.error:
        summary.append(cut(f"Error: {view.error}"))
    items = [Item(cut(f"⚠️ {w.message}", 150)) for w in plan.warnings[:2]]
    riskiest = plan.riskiest(MAX_ITEMS - len(items))
    items += [Item(action_line(a), action_detail(a)) for a in riskiest]
    more = len(plan.writes()) - len(riskiest) + max(0, len(plan.warnings) - 2)
    buttons: list[Button] = []
    if state == "pending":
        buttons = [
            Button(
                "Approve",
                request_action_id("approve", view.request_id),
                "danger",
                cut(
                    f"Write {len(plan.writes())} change{'s' * (len(plan.writes()) != 1)} to {view.tenant_id} "
                    f"({view.summary})? You cannot approve your own request.",
                    290,
                ),
            ),
            Button("Reject", request_action_id("reject", view.request_id)),
        ]
    footer = f"Rewind · request {view.request_id[:12]} · plan {plan.plan_hash[:12]}"
    if more:
        footer += " · the full plan is in the thread"
    return Message(
        title=cut(f"{ICONS[severity]} {heading}", 90),
        severity=severity,
        summary=summary,
        facts=facts,
        items=items,
        more=more,
        buttons=buttons,
        footer=footer,
    )


def plan_attachment(view: RequestLike) -> Attachment:
    return Attachment(
        f"rewind-plan-{view.request_id[:12]}.csv", view.plan.to_csv(), f"Plan: {len(view.plan.actions)} steps"
    )


def refusal_message(reason: str) -> Message:
    return Message("🚫 Not done", "warning", [cut(reason)])


def progress_message(done: int, failed: int, total: int, last: str | None) -> Message:
    line = f"Step {done + failed} of {total}" + (f", {failed} failed" if failed else "")
    return Message("▶️ Restore running", "info", [line, *([cut(last)] if last else [])])


def result_message(view: RequestLike) -> tuple[Message, Attachment | None]:
    """The per-object result for the thread; the whole list as CSV when it does not fit."""
    state = state_of(view)
    severity, heading = _STATES.get(state, ("info", f"Restore {state}"))
    result = view.result
    if result is None:
        return Message(cut(f"{ICONS[severity]} {heading}", 90), severity, [cut(view.error or state)]), None
    outcomes = list(result.outcomes)
    counted = Counter(o.status for o in outcomes)
    key = ", ".join(f"{n} {status}" for status, n in counted.most_common()) or "nothing to do"
    order = {"failed": 0, "mismatch": 1}
    ranked = sorted(outcomes, key=lambda o: (order.get(o.status, 2), o.object_type, o.display_name))
    items = [
        Item(
            cut(
                f"{_OUTCOME_ICON.get(o.status, '✅')} {o.status} {type_title(o.object_type)} "
                f"'{o.display_name or o.object_id}'",
                150,
            ),
            cut(" · ".join(x for x in (f"new id {o.new_id}" if o.new_id else "", o.detail or "") if x), 150)
            or None,
        )
        for o in ranked[:MAX_ITEMS]
    ]
    attachment = None
    if len(outcomes) > MAX_ITEMS:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["status", "type", "id", "name", "new_id", "detail"])
        for o in ranked:
            writer.writerow(
                [o.status, o.object_type, o.object_id, o.display_name, o.new_id or "", o.detail or ""]
            )
        attachment = Attachment(
            f"rewind-result-{view.request_id[:12]}.csv", out.getvalue(), "Result per object"
        )
    message = Message(
        cut(f"{ICONS[severity]} {heading}", 90),
        severity,
        [
            f"{len(outcomes)} object{'s' * (len(outcomes) != 1)}: {key}",
            f"{result.steps_done} steps done, {result.steps_failed} failed",
        ],
        items=items,
        more=max(0, len(outcomes) - MAX_ITEMS),
    )
    return message, attachment
