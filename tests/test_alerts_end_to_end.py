"""Alerts from the catalog to the message: destinations, baselines, aggregation and flapping suppression on a
real SQLite catalog; then the whole path against the emulator, in process and through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bot.notify
import rewind.cli  # noqa: F401 - registers every command on the app
from bot.destinations import RecordingNotifier
from bot.messages import Message, parse_action
from bot.notify import DeliveryError, alert_after_backup, send_daily_summary
from core.alerts.aggregate import aggregate, remember, screen
from core.alerts.analysis import Analysis, SnapshotSide
from core.alerts.baseline import pin
from core.alerts.finding import Finding
from core.alerts.rules import RuleBook, default_rules
from core.alerts.summary import build_summary
from core.catalog import Ambiguous, Catalog, NotFound, SnapshotRow
from core.catalog.notify import (
    add_destination,
    announcements,
    baseline,
    destination,
    destinations_for,
    list_destinations,
    pause_destination,
    remove_destination,
    resume_destination,
    set_baseline,
)
from core.diff.model import Change, FieldChange
from emulator.testing import EmulatorHandle, running_emulator
from rewind.cli_common import app
from tests.backup_helpers import rig

TENANT = "11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
RULES = default_rules()
UNUSED_REPO: Any = object()  # the analysis is replaced: nothing reads the repository


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}", clock=lambda: NOW) as opened:
        opened.upsert_tenant(TENANT)
        for n, sid in enumerate(("a" * 32, "b" * 32)):
            opened.add_snapshot(SnapshotRow(TENANT, sid, NOW - timedelta(hours=2 - n), "full", None))
        yield opened


# --- destinations and baselines ---------------------------------------------------------------------------


def test_destinations_are_stored_and_selected(catalog: Catalog) -> None:
    everyone, created = add_destination(
        catalog, platform="slack", channel="C-SEC", tenant_id="*", min_severity="critical"
    )
    assert created and everyone.destination_id.startswith("dst-") and everyone.created_at == NOW
    own, _ = add_destination(
        catalog,
        platform="teams",
        channel="19:abc",
        tenant_id=TENANT,
        summary_time="07:30",
        timezone="Europe/Paris",
    )
    other, _ = add_destination(catalog, platform="test", channel="x", tenant_id="someone-else")
    quiet, _ = add_destination(catalog, platform="test", channel="summaries", tenant_id=TENANT, alerts=False)
    again, created = add_destination(
        catalog, platform="slack", channel="C-SEC", tenant_id="*", min_severity="info"
    )
    assert not created and again.destination_id == everyone.destination_id and again.min_severity == "info"

    def ids(rows: list[Any]) -> set[str]:
        return {r.destination_id for r in rows}

    assert ids(destinations_for(catalog, TENANT, "alerts")) == ids([everyone, own])
    assert ids(destinations_for(catalog, TENANT, "summary")) == ids([everyone, own, quiet])
    assert ids(list_destinations(catalog, TENANT)) == ids([everyone, own, quiet])
    assert len(list_destinations(catalog)) == 4
    paused = pause_destination(catalog, own.destination_id, "channel archived")
    assert paused.paused and paused.paused_reason == "channel archived"
    assert ids(destinations_for(catalog, TENANT, "alerts")) == ids([everyone])
    assert not resume_destination(catalog, own.destination_id).paused
    assert destination(catalog, own.destination_id[:8]).channel == "19:abc"  # a unique prefix
    with pytest.raises(Ambiguous):
        destination(catalog, "dst-")
    remove_destination(catalog, other.destination_id)
    with pytest.raises(NotFound, match="no destination"):
        remove_destination(catalog, other.destination_id)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ({"platform": "discord"}, "unknown platform"),
        ({"min_severity": "loud"}, "unknown severity"),
        ({"summary_time": "8am"}, "not a 24-hour HH:MM"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"channel": " "}, "channel must not be empty"),
    ],
)
def test_bad_destination_settings_are_refused(
    catalog: Catalog, setting: dict[str, str], fragment: str
) -> None:
    values = {"platform": "test", "channel": "c", "tenant_id": TENANT, **setting}
    with pytest.raises(ValueError, match=fragment):
        add_destination(catalog, **values)  # type: ignore[arg-type]


def test_baselines(catalog: Catalog) -> None:
    assert baseline(catalog, TENANT) is None
    with pytest.raises(NotFound):
        set_baseline(catalog, TENANT, "f" * 32, "alice")
    set_baseline(catalog, TENANT, "a" * 32, "alice")
    pinned = set_baseline(catalog, TENANT, "b" * 32, "bob")
    assert baseline(catalog, TENANT) == pinned
    assert (pinned.snapshot_id, pinned.set_by, pinned.set_at) == ("b" * 32, "bob", NOW)


# --- aggregation and suppression --------------------------------------------------------------------------

BEFORE = SnapshotSide("a" * 32, NOW - timedelta(hours=2))
AFTER = SnapshotSide("b" * 32, NOW - timedelta(hours=1))


def findings_of(*changes: Change) -> list[Finding]:
    return RULES.evaluate(changes)


def ca(policy: str, old: str, new: str) -> Change:
    return Change(
        "conditionalAccessPolicy", policy, f"Policy {policy}", "modified", (FieldChange("state", old, new),)
    )


def gone(user: str) -> Change:
    return Change("user", user, f"User {user}", "removed", removed_reason="soft_deleted")


def jobs(user: str) -> Change:
    return Change("user", user, f"User {user}", "modified", (FieldChange("jobTitle", "a", "b"),))


def test_one_alert_per_destination_most_severe_first() -> None:
    found = findings_of(
        jobs("u9"), gone("u1"), ca("p1", "enabled", "disabled"), gone("u2"), ca("p2", "a", "b")
    )
    alert = aggregate(found, tenant_id=TENANT, before=BEFORE, after=AFTER, min_severity="info", top=3)
    assert alert is not None
    assert [f.rule_id for f in alert.findings] == [
        "ca-policy-disabled",
        "user-deleted",
        "user-deleted",
        "ca-policy-modified",
        "other-change",
    ]
    assert (alert.severity, alert.title, alert.counts) == (
        "critical",
        "Conditional Access policy disabled",
        {"critical": 1, "warning": 3, "info": 1},
    )
    assert [f.rule_id for f in alert.shown] == ["ca-policy-disabled", "user-deleted", "user-deleted"]
    assert [(r.rule_id, r.count) for r in alert.rest] == [("ca-policy-modified", 1), ("other-change", 1)]
    assert [o["id"] for o in alert.restore_hint["objects"]] == ["p1", "u1", "u2", "p2", "u9"]
    critical_only = aggregate(found, tenant_id=TENANT, before=BEFORE, after=AFTER, min_severity="critical")
    assert critical_only is not None and [f.rule_id for f in critical_only.findings] == ["ca-policy-disabled"]
    assert aggregate(findings_of(jobs("u9")), tenant_id=TENANT, before=BEFORE, after=AFTER) is None


def test_flapping_is_not_announced_again(catalog: Catalog) -> None:
    disabled = findings_of(ca("p1", "enabled", "disabled"))
    first = screen(catalog, TENANT, disabled, NOW)
    assert first.fresh == tuple(disabled) and first.repeated == ()
    remember(catalog, TENANT, announced=first.fresh, now=NOW)
    # re-enabled (a different rule, announced), then disabled again within the window: held back
    reenabled = findings_of(ca("p1", "disabled", "enabled"))
    assert screen(catalog, TENANT, reenabled, NOW + timedelta(hours=1)).fresh == tuple(reenabled)
    again = screen(catalog, TENANT, findings_of(ca("p1", "enabled", "disabled")), NOW + timedelta(hours=2))
    assert again.fresh == () and len(again.repeated) == 1
    remember(catalog, TENANT, announced=(), repeated=again.repeated, now=NOW + timedelta(hours=2))
    row = announcements(catalog, TENANT, [disabled[0].fingerprint])[disabled[0].fingerprint]
    assert (row.count, row.first_at, row.last_at) == (2, NOW, NOW + timedelta(hours=2))
    # a different resulting state, or the window over: announced again
    report_only = findings_of(ca("p1", "enabled", "enabledForReportingButNotEnforced"))
    assert screen(catalog, TENANT, report_only, NOW + timedelta(hours=2)).fresh == tuple(report_only)
    later = screen(catalog, TENANT, disabled, NOW + timedelta(hours=6, minutes=1))
    assert later.fresh == tuple(disabled)


def canned(*changes: Change) -> Analysis:
    return Analysis(TENANT, BEFORE, AFTER, tuple(findings_of(*changes)), len(changes), {})


class Flaky(RecordingNotifier):
    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    async def send(self, destination: Any, message: Message) -> None:
        if destination.channel == self.failing:
            raise ConnectionError("channel_not_found")
        await super().send(destination, message)


async def test_the_service_sends_each_destination_its_alert_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = canned(ca("p1", "enabled", "disabled"), gone("u1"))
    monkeypatch.setattr(bot.notify, "analyse", lambda *args, **kw: result)
    add_destination(catalog, platform="test", channel="critical-only", tenant_id="*", min_severity="critical")
    add_destination(catalog, platform="test", channel="everything", tenant_id=TENANT, min_severity="info")
    paused, _ = add_destination(catalog, platform="test", channel="paused", tenant_id=TENANT)
    pause_destination(catalog, paused.destination_id)
    notifier = RecordingNotifier()
    book = RuleBook(RULES)
    sent = await alert_after_backup(catalog, UNUSED_REPO, TENANT, "a" * 32, "b" * 32, notifier, book, NOW)
    assert sorted((s.destination.channel, len(s.alert.findings)) for s in sent) == [
        ("critical-only", 1),
        ("everything", 2),
    ]
    assert sorted(d.channel for d, _ in notifier.sent) == ["critical-only", "everything"]
    again = await alert_after_backup(catalog, UNUSED_REPO, TENANT, "a" * 32, "b" * 32, notifier, book, NOW)
    assert again == [] and len(notifier.sent) == 2


async def test_an_unreachable_destination_does_not_silence_the_others(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.notify, "analyse", lambda *args, **kw: canned(ca("p1", "enabled", "disabled")))
    add_destination(catalog, platform="slack", channel="broken", tenant_id=TENANT)
    add_destination(catalog, platform="test", channel="fine", tenant_id=TENANT)
    notifier = Flaky("broken")
    with pytest.raises(
        DeliveryError, match=r"1 destination\(s\) did not get the alert: slack broken: ConnectionError$"
    ):
        await alert_after_backup(
            catalog, UNUSED_REPO, TENANT, "a" * 32, "b" * 32, notifier, RuleBook(RULES), NOW
        )
    assert [d.channel for d, _ in notifier.sent] == ["fine"]


# --- the whole path against the emulator ------------------------------------------------------------------


@pytest.fixture
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=120, seed=5) as handle:
        yield handle


def stage_incident(tenant: EmulatorHandle) -> dict[str, Any]:
    """As one named person: disable an enabled CA policy, make someone Global Admin, delete 25 users."""
    dump = tenant.dump()
    objects = dump["objects"]
    users = sorted(objects["users"].values(), key=lambda u: u["id"])
    cloud = [u for u in users if not u.get("onPremisesSyncEnabled")]
    actor, promoted = cloud[0], cloud[1]
    # Victims outside role-assignable groups and role assignments, so the alert is about the incident alone.
    privileged = {g for g, group in objects["groups"].items() if group.get("isAssignableToRole")}
    busy = {m for g in privileged for m in dump["members"].get(g, [])} | {
        a["principalId"] for a in objects["roleAssignments"].values()
    }
    victims = [u for u in cloud[2:] if u["id"] not in busy][:25]
    assert len(victims) == 25
    policy = next(
        p
        for p in sorted(objects["conditionalAccessPolicies"].values(), key=lambda p: p["id"])
        if p["state"] == "enabled"
    )
    upn = actor["userPrincipalName"]
    status, _ = tenant.act(
        "PATCH", f"/identity/conditionalAccess/policies/{policy['id']}", {"state": "disabled"}, actor=upn
    )
    assert status == 204
    body = {"principalId": promoted["id"], "roleDefinitionId": GA, "directoryScopeId": "/"}
    status, assignment = tenant.act("POST", "/roleManagement/directory/roleAssignments", body, actor=upn)
    assert status == 201
    for victim in victims:
        assert tenant.act("DELETE", f"/users/{victim['id']}", actor=upn)[0] == 204
    return {
        "actor": actor,
        "promoted": promoted,
        "policy": policy,
        "assignment": assignment,
        "victims": victims,
    }


async def test_an_incident_becomes_one_attributed_critical_alert_and_a_summary(
    tenant: EmulatorHandle, tmp_path: Path
) -> None:
    async with rig(tenant, tmp_path) as r:
        first = await r.backup()
        incident = stage_incident(tenant)
        second = await r.backup()
        secops, _ = add_destination(r.catalog, platform="test", channel="secops", tenant_id=tenant.tenant_id)
        notifier = RecordingNotifier()
        rules = RuleBook(default_rules())
        now = datetime.now(UTC)
        sent = await alert_after_backup(
            r.catalog, r.repo, tenant.tenant_id, first.snapshot_id, second.snapshot_id, notifier, rules, now
        )
        assert len(sent) == 1 and len(notifier.sent) == 1
        message = notifier.sent[0][1]
        actor, policy = incident["actor"], incident["policy"]
        assert message.severity == "critical"
        assert message.title == "🔴 Critical: Conditional Access policy disabled"
        key = message.summary[0]
        assert key.startswith(
            f"{actor['displayName']} ({actor['userPrincipalName']}) disabled '{policy['displayName']}'"
        )
        assert message.to_text().splitlines()[1] == key
        items = [i.text for i in message.items]
        promoted = incident["promoted"]
        assert f"🔴 Privileged role assigned: Global Administrator to {promoted['displayName']}" in items[1]
        assert items[2] == "🔴 Mass deletion: 25 users removed"
        assert all(actor["userPrincipalName"] in (i.detail or "") for i in message.items)
        assert message.buttons[0].label == "Restore…" and message.buttons[0].style == "danger"
        assert parse_action(message.buttons[0].action_id) == (
            "restore",
            tenant.tenant_id,
            first.snapshot_id,
            second.snapshot_id,
        )
        hint = sent[0].alert.restore_hint
        assert hint["snapshot_before"] == first.snapshot_id and hint["tenant_id"] == tenant.tenant_id
        restored = {(o["type"], o["id"]) for o in hint["objects"]}
        assert ("conditionalAccessPolicy", policy["id"]) in restored
        assert ("unifiedRoleAssignment", incident["assignment"]["id"]) in restored
        assert {("user", v["id"]) for v in incident["victims"]} <= restored

        again = await alert_after_backup(
            r.catalog, r.repo, tenant.tenant_id, first.snapshot_id, second.snapshot_id, notifier, rules, now
        )
        assert again == [] and len(notifier.sent) == 1

        pin(r.catalog, tenant.tenant_id, r.catalog.snapshot(tenant.tenant_id, first.snapshot_id), "tester")
        summary = build_summary(r.catalog, r.repo, tenant.tenant_id, rules.current, now)
        assert summary.counts["user"] == {"critical": 25}
        assert summary.counts["conditionalAccessPolicy"] == {"critical": 1}
        assert summary.counts["unifiedRoleAssignment"] == {"critical": 1}
        assert [f.rule_id for f in summary.top_critical] == [
            "ca-policy-disabled",
            "privileged-role-assigned",
            "mass-deletion",
        ]
        assert summary.top_critical[0].attribution is not None
        assert summary.drift is not None and summary.drift.baseline.snapshot_id == first.snapshot_id
        assert summary.drift.counts["user"]["removed"] == 25
        assert summary.drift.counts["conditionalAccessPolicy"]["modified"] == 1
        assert summary.drift.counts["unifiedRoleAssignment"]["added"] == 1
        assert summary.health.latest is not None and summary.health.latest.id == second.snapshot_id
        assert summary.health.failures == {}

        daily = await send_daily_summary(
            r.catalog, r.repo, tenant.tenant_id, secops, notifier, now, rules=rules
        )
        assert notifier.sent[-1] == (secops, daily)
        assert daily.severity == "critical"
        assert daily.summary[0] == "27 changes in the last 24 h: 27 critical"
        assert daily.summary[1].startswith(f"Drift from baseline {first.snapshot_id[:12]}")
        assert f"{summary.drift.totals['removed']} removed" in daily.summary[1]
        assert daily.items[0].detail is not None and actor["userPrincipalName"] in daily.items[0].detail


def cli_env(handle: EmulatorHandle, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
    return env | {
        "REWIND_DATA_DIR": str(data),
        "REWIND_DATABASE_URL": f"sqlite:///{data / 'catalog.db'}",  # where the rig's catalog is
        "REWIND_TENANT_ID": handle.tenant_id,
        "REWIND_CLIENT_ID": handle.client_id,
        "REWIND_CLIENT_SECRET": handle.client_secret,
        "REWIND_GRAPH_URL": handle.graph_url,
        "REWIND_AUTHORITY_HOST": handle.authority_host,
        "SSL_CERT_FILE": str(handle.ca_path),
        "REQUESTS_CA_BUNDLE": str(handle.ca_path),
    }


def run_cli(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "rewind.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    return result


def cli_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(run_cli(env, *args, "--json").stdout)


def in_process(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Callable[..., Any]:
    """The same commands without a process start each (the error path is checked in a subprocess)."""
    for name in [k for k in os.environ if k.startswith("REWIND_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


async def test_the_commands(tenant: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = cli_env(tenant, data)
    # Back up in process into the store and catalog the CLI is configured with (faster than two commands).
    async with rig(tenant, data, store_url=f"{(data / 'store').resolve().as_uri()}/{tenant.tenant_id}") as r:
        first = (await r.backup()).snapshot_id
        incident = stage_incident(tenant)
        await r.backup()
    run = in_process(monkeypatch, env)

    pinned = run("baseline", "set", first[:8], "--by", "ciso")
    assert (pinned["snapshot_id"], pinned["set_by"]) == (first, "ciso")
    shown = run("baseline", "show")
    assert shown["baseline"]["snapshot_id"] == first and shown["drift"]["counts"]["user"]["removed"] == 25

    checked = run("alerts", "check", first, "latest", "--min-severity", "critical")
    assert checked["alert"]["severity"] == "critical"
    assert checked["alert"]["restore_hint"]["snapshot_before"] == first
    assert [f["rule"] for f in checked["alert"]["findings"]] == [
        "ca-policy-disabled",
        "privileged-role-assigned",
        "mass-deletion",
    ]
    text = run_cli(env, "alerts", "check", first, "latest").stdout
    lines = text.splitlines()
    assert lines[0] == "🔴 Critical: Conditional Access policy disabled"
    assert lines[1].startswith(
        f"{incident['actor']['displayName']} ({incident['actor']['userPrincipalName']}) disabled"
    )
    strict = tmp_path / "rules.toml"
    strict.write_text('[[rule]]\nid = "all"\nseverity = "loud"\ntitle = "x"\n')
    refused = run_cli(env, "alerts", "check", first, "latest", "--rules", str(strict), code=2)
    assert f"{strict} line 3: rule 'all': unknown severity 'loud'" in refused.stderr.replace("\n", "")

    summary = run("summary")
    assert summary["summary"]["totals"]["critical"] == 27
    assert summary["message"]["severity"] == "critical"

    added = run("destinations", "add", "test", "secops", "--tenant", "*", "--min-severity", "critical")
    assert added["created"] and added["tenant_id"] == "*" and added["min_severity"] == "critical"
    assert [d["id"] for d in run("destinations", "list")] == [added["id"]]
    assert run("destinations", "remove", added["id"][:10])["removed"]
    assert run("destinations", "list") == []
