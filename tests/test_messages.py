"""The message model and its builders: phone-sized titles, the key line first, at most three buttons, long
lists cut with a count and a "See all" action; and the recording and console destinations."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.destinations import ConsoleNotifier, RecordingNotifier
from bot.messages import MAX_BUTTONS, Button, Item, Message, alert_message, parse_action, summary_message
from core.alerts.aggregate import Alert, aggregate
from core.alerts.analysis import SnapshotSide
from core.alerts.baseline import Drift
from core.alerts.finding import MASS_DELETION_ID, Finding
from core.alerts.severity import Severity
from core.alerts.summary import BackupHealth, DailySummary
from core.catalog.notify import BaselineRow, DestinationRow
from core.diff.model import Attribution, Change, FieldChange

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TENANT = "11111111-2222-3333-4444-555555555555"
BEFORE = SnapshotSide("a" * 32, NOW - timedelta(minutes=30))
AFTER = SnapshotSide("b" * 32, NOW - timedelta(minutes=5))
ALICE = Attribution(
    "alice@contoso.com", "user", "Update conditional access policy", "2026-11-27T09:48:00Z", "id-a"
)


def finding(
    rule: str, severity: Severity, title: str, action: str, change: Change, order: int, **kw: Any
) -> Finding:
    return Finding(rule, severity, title, action, change.type, (change,), order, **kw)


def ca_disabled(attribution: Attribution | None = ALICE) -> Finding:
    change = Change(
        "conditionalAccessPolicy",
        "p1",
        "Require MFA for admins",
        "modified",
        (FieldChange("state", "enabled", "disabled"),),
        attribution=attribution,
    )
    return finding(
        "ca-policy-disabled",
        "critical",
        "Conditional Access policy disabled",
        "disabled",
        change,
        1,
        evidence=("state", "enabled", "disabled"),
    )


def user_deleted(n: int) -> Finding:
    change = Change("user", f"u{n}", f"User {n}", "removed", removed_reason="soft_deleted")
    return finding("user-deleted", "warning", "User deleted", "deleted", change, 20)


def alert_of(*findings: Finding, top: int = 5, min_severity: str = "info") -> Alert:
    built = aggregate(
        findings,
        tenant_id=TENANT,
        before=BEFORE,
        after=AFTER,
        min_severity=min_severity,
        top=top,
        actor_names={"alice@contoso.com": "Alice Example"},
    )
    assert built is not None
    return built


def test_the_alert_says_what_and_who_first() -> None:
    alert = alert_of(user_deleted(1), ca_disabled())
    message = alert_message(alert, now=NOW)
    assert message.title == "🔴 Critical: Conditional Access policy disabled"
    assert message.severity == "critical"
    assert (
        message.summary[0] == "Alice Example (alice@contoso.com) disabled 'Require MFA for admins' 12 min ago"
    )
    assert message.to_text().splitlines()[:2] == [message.title, message.summary[0]]
    assert [i.text for i in message.items] == [
        "🔴 Conditional Access policy disabled: 'Require MFA for admins'",
        "🟠 User deleted: 'User 1'",
    ]
    assert (
        message.items[0].detail
        == "by Alice Example (alice@contoso.com) 12 min ago; state: enabled → disabled"
    )
    assert message.items[1].detail == "restorable from the recycle bin"
    assert ("Restore point", f"snapshot {'a' * 12}") in message.facts


def test_buttons_restore_view_mute_with_opaque_ids() -> None:
    alert = alert_of(ca_disabled())
    message = alert_message(alert, now=NOW)
    assert [b.label for b in message.buttons] == ["Restore…", "View diff", "Mute 24h"]
    restore = message.buttons[0]
    assert restore.style == "danger" and restore.confirm and "1 object" in restore.confirm
    assert parse_action(restore.action_id) == ("restore", TENANT, BEFORE.id, AFTER.id)
    assert parse_action(message.buttons[2].action_id)[0] == "mute"
    assert len(restore.action_id) < 255  # fits Slack's action_id limit
    assert alert.restore_hint == {
        "tenant_id": TENANT,
        "snapshot_before": BEFORE.id,
        "reference": f"{TENANT}:{BEFORE.id}:{AFTER.id}",
        "objects": [
            {"type": "conditionalAccessPolicy", "id": "p1", "display_name": "Require MFA for admins"}
        ],
    }
    with pytest.raises(ValueError, match="not a Rewind action id"):
        parse_action("restore:only-two")


def test_long_lists_are_cut_with_a_count_and_see_all() -> None:
    alert = alert_of(ca_disabled(), *(user_deleted(n) for n in range(12)), top=5)
    message = alert_message(alert, now=NOW)
    assert len(message.items) == 5
    assert message.more == 8
    assert message.more_action is not None and parse_action(message.more_action)[0] == "all"
    assert "Not listed: User deleted (8)" in message.summary
    assert message.summary[1].startswith("13 items between")
    text = message.to_text()
    assert "…and 8 more (See all)" in text
    assert text.index("…and 8 more") > text.index("• 🟠 User deleted: 'User 3'")


def test_unknown_actor_and_apps_are_said_plainly() -> None:
    anonymous = alert_message(alert_of(ca_disabled(None)), now=NOW)
    assert anonymous.summary[0].startswith(
        "Conditional Access policy disabled: 'Require MFA for admins' (between "
    )
    assert "no audit record names who" in anonymous.summary[0]
    robot = Attribution("Contoso Sync", "app", "Update policy", "2026-11-27T07:30:00Z", "sp-1")
    by_app = alert_message(alert_of(ca_disabled(robot)), now=NOW)
    assert by_app.summary[0] == "The app 'Contoso Sync' disabled 'Require MFA for admins' 2 h 30 min ago"


def test_mass_deletion_reads_as_one_line() -> None:
    changes = tuple(
        Change("user", f"u{n}", f"U{n}", "removed", removed_reason="soft_deleted", attribution=ALICE)
        for n in range(25)
    )
    mass = Finding(
        MASS_DELETION_ID, "critical", "Mass deletion: 25 users removed", "deleted", "user", changes, 30
    )
    message = alert_message(alert_of(replace(mass, subject="25 users")), now=NOW)
    assert message.summary[0] == "Alice Example (alice@contoso.com) deleted 25 users 12 min ago"
    assert message.items[0].text == "🔴 Mass deletion: 25 users removed"
    assert (
        message.items[0].detail is not None
        and "25 restorable from the recycle bin" in message.items[0].detail
    )


def test_times_follow_the_destination_time_zone() -> None:
    message = alert_message(alert_of(ca_disabled()), now=NOW, tz=ZoneInfo("Europe/Paris"))
    assert ("Window", "10:30 CET → 10:55 CET") in message.facts


def test_message_limits() -> None:
    buttons = [Button(f"b{n}", f"diff:{TENANT}:x:y") for n in range(MAX_BUTTONS + 1)]
    with pytest.raises(ValueError, match="at most 3"):
        Message("title", "info", buttons=buttons)
    with pytest.raises(ValueError, match="needs a title"):
        Message("  ", "info")
    with pytest.raises(ValueError, match="keep it to"):
        Message("x" * 200, "info")
    with pytest.raises(ValueError, match="unknown message severity"):
        Message("t", "urgent")  # type: ignore[arg-type]
    long_title = alert_message(
        alert_of(replace(ca_disabled(), title="Conditional Access policy disabled " * 5)),
        now=NOW,
    )
    assert len(long_title.title) <= 90 and long_title.title.endswith("…")


def test_to_json_and_to_text_carry_everything() -> None:
    message = Message(
        "🟢 OK: all quiet",
        "ok",
        summary=["first", "second"],
        facts=[("Tenant", "contoso")],
        items=[Item("one", "detail", "https://example.test/1")],
        more=2,
        buttons=[Button("View diff", "diff:t:a:b", "primary")],
        footer="footer",
        more_action="all:t:a:b",
    )
    assert message.to_json() == {
        "title": "🟢 OK: all quiet",
        "severity": "ok",
        "summary": ["first", "second"],
        "facts": [["Tenant", "contoso"]],
        "items": [{"text": "one", "detail": "detail", "link": "https://example.test/1"}],
        "more": 2,
        "more_action": "all:t:a:b",
        "buttons": [{"label": "View diff", "action_id": "diff:t:a:b", "style": "primary", "confirm": None}],
        "footer": "footer",
    }
    assert message.to_text().splitlines() == [
        "🟢 OK: all quiet",
        "first",
        "second",
        "",
        "Tenant: contoso",
        "",
        "• one",
        "  detail",
        "  https://example.test/1",
        "…and 2 more (See all)",
        "",
        "[View diff]",
        "footer",
    ]


def summary_of(**kw: Any) -> DailySummary:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "generated_at": NOW,
        "before": BEFORE,
        "after": AFTER,
        "counts": {"conditionalAccessPolicy": {"critical": 1}, "user": {"warning": 3}},
        "top_critical": (ca_disabled(),),
        "critical": 1,
        "drift": Drift(
            BaselineRow(TENANT, "c" * 32, NOW - timedelta(days=3), "bob"),
            AFTER,
            {"user": {"added": 0, "removed": 3, "modified": 1}},
        ),
        "health": BackupHealth(AFTER, 300.0, {}, 96),
        "actor_names": {"alice@contoso.com": "Alice Example"},
    }
    values.update(kw)
    return DailySummary(**values)


def test_summary_message() -> None:
    message = summary_message(summary_of())
    assert message.title == f"🔴 Critical: Daily summary for {TENANT}"
    assert message.summary == [
        "4 changes in the last 24 h: 1 critical, 3 warnings",
        f"Drift from baseline {'c' * 12} (2026-11-24): 0 added, 3 removed, 1 modified",
        "Last backup 5 min ago (RPO), 96 in 24 h",
    ]
    assert ("Conditional Access policies", "1 critical") in message.facts
    assert ("Drift in users", "3 removed, 1 modified") in message.facts
    assert message.items[0].text.startswith("🔴 Conditional Access policy disabled")
    assert [b.label for b in message.buttons] == ["View changes", "View drift"]
    assert parse_action(message.buttons[1].action_id) == ("drift", TENANT, "c" * 32, AFTER.id)


def test_quiet_day_without_baseline_and_a_failing_backup() -> None:
    quiet = summary_message(summary_of(counts={}, top_critical=(), critical=0, drift=None))
    assert quiet.severity == "ok" and quiet.title.endswith("all quiet")
    assert quiet.summary[:2] == [
        "No changes in the last 24 h",
        "No baseline set: pin an approved state with `rewind baseline set latest`",
    ]
    failing = summary_message(
        summary_of(
            counts={}, top_critical=(), critical=0, health=BackupHealth(AFTER, 300.0, {"signIn": "403"}, 1)
        )
    )
    assert failing.severity == "warning"
    assert failing.summary[-1].endswith("; failed: signIn")
    stale = summary_message(
        summary_of(counts={}, top_critical=(), critical=0, health=BackupHealth(None, None))
    )
    assert stale.severity == "warning" and "No backup yet" in stale.summary


def destination() -> DestinationRow:
    return DestinationRow(
        "dst-1", "test", "secops", "*", True, True, "warning", "08:00", "UTC", False, None, NOW, None
    )


async def test_recording_and_console_destinations() -> None:
    message = Message("🔵 Info: hello", "info", summary=["line"])
    recorder = RecordingNotifier()
    await recorder.send(destination(), message)
    assert recorder.sent == [(destination(), message)]
    assert recorder.messages("dst-1") == [message] and recorder.messages("other") == []
    stream = io.StringIO()
    await ConsoleNotifier(stream).send(destination(), message)
    assert stream.getvalue() == "── to test secops ──\n🔵 Info: hello\nline\n"
