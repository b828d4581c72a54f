"""Approve-to-restore from Slack, end to end: an emulated incident, the alert in a subscribed channel,
Restore…, the requester's own Approve refused privately, a colleague's Approve, the restore run in the
emulator, and the one request message updated for everyone with progress and results in its thread. Then
the same flow on a 5,000-object plan, which must stay inside Block Kit's limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.slack.web import ChannelPacer, RetryAfter, SlackNotifier, SlackWeb, make_client
from bot.context import BotContext
from bot.notify import alert_after_backup
from core.alerts.rules import RuleBook, default_rules
from core.catalog import Catalog
from core.catalog.notify import add_destination
from core.graph import GraphClient
from core.restore.identity import Person
from core.restore.model import Action, Operation, Plan, Risk
from core.restore.service import ApprovalPolicy, RestoreService
from emulator.slack.api import BOT_TOKEN, MockSlack
from emulator.testing import running_emulator
from tests.backup_helpers import graph_config_for, rig
from tests.test_slack_server import no_repository, no_sleep, serve, valid_blocks


def buttons(payload: dict[str, Any]) -> dict[str, str]:
    blocks = payload["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return {
        e["text"]["text"]: e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]
    }


def people(mock: MockSlack) -> None:
    mock.add_user("UALICE", team="T1", name="Alice Responder", email="alice@example.org")
    mock.add_user("UBOB", team="T1", name="Bob Approver", email="bob@example.org")


async def test_alert_restore_refused_self_approval_then_approved_and_executed(tmp_path: Path) -> None:
    with running_emulator(users=60, seed=3) as tenant:
        async with rig(tenant, tmp_path) as r, MockSlack() as mock:
            people(mock)
            first = await r.backup()
            users = sorted(tenant.dump()["objects"]["users"].values(), key=lambda u: u["id"])
            victims = [u for u in users if not u.get("onPremisesSyncEnabled")][10:12]
            for victim in victims:
                assert (
                    tenant.act("DELETE", f"/users/{victim['id']}", actor=users[0]["userPrincipalName"])[0]
                    == 204
                )
            second = await r.backup()
            service = RestoreService(
                catalog=r.catalog,
                repository_for=lambda _t: r.repo,
                graph_for=lambda _t: GraphClient(graph_config_for(tenant)),
                policy=ApprovalPolicy(),
                store_audit=False,
            )
            ctx = BotContext(
                catalog=r.catalog,
                repository_for=lambda _t: r.repo,
                restore=service,
                default_tenant=tenant.tenant_id,
                progress_interval=0.0,
            )
            add_destination(r.catalog, platform="slack", channel="CSEC", tenant_id="*")
            web = SlackWeb(
                make_client(BOT_TOKEN, mock.base_url, retry=RetryAfter(sleep=no_sleep)),
                pacer=ChannelPacer(0.0),
            )
            sent = await alert_after_backup(
                r.catalog,
                r.repo,
                tenant.tenant_id,
                first.snapshot_id,
                second.snapshot_id,
                SlackNotifier(web, ctx),
                RuleBook(default_rules()),
                datetime.now(UTC),
            )
            assert len(sent) == 1
            alert = mock.of("chat.postMessage")[0]
            assert alert["channel"] == "CSEC" and "User deleted" in alert["text"]
            valid_blocks(alert)
            restore_id = buttons(alert)["Restore…"]
            async with serve(ctx, mock) as slack:
                await slack.client.click(restore_id, message_ts="1700000000.000001", user="UALICE")
                await slack.client.click(
                    restore_id, message_ts="1700000000.000001", user="UBOB"
                )  # double click
                await slack.settle()
                posts = mock.of("chat.postMessage")
                assert len(posts) == 2, "one request, however often Restore… is pressed"
                request = posts[1]
                valid_blocks(request)
                assert "Alice Responder asks to put back 2 objects" in json.dumps(request, ensure_ascii=False)
                assert any("already open" in text for text in slack.private())
                approve = buttons(request)["Approve"]
                views = service.requests(tenant.tenant_id)
                assert (
                    len(views) == 1 and views[0].origin and views[0].origin["message"] == "1700000000.000002"
                )
                request_id = views[0].request_id

                await slack.client.click(approve, message_ts="1700000000.000002", user="UALICE")
                await slack.settle()
                assert "cannot approve it" in slack.private()[-1]
                assert str(service.get(request_id).state) == "pending"
                assert all(v["id"] not in tenant.dump()["objects"]["users"] for v in victims)

                await slack.client.click(approve, message_ts="1700000000.000002", user="UBOB")
                await slack.client.click(approve, message_ts="1700000000.000002", user="UBOB")  # double click
                await slack.settle()
            final = service.get(request_id)
            assert str(final.state) == "succeeded", final.error
            assert {v["id"] for v in victims} <= set(tenant.dump()["objects"]["users"])
            updates = [u for u in mock.of("chat.update") if u["ts"] == "1700000000.000002"]
            assert updates and "Restore done" in updates[-1]["text"]
            for update in updates:
                valid_blocks(update)
                assert "Approve" not in buttons(update) or "awaiting" in update["text"]
            thread = [p for p in mock.of("chat.postMessage") if p.get("thread_ts") == "1700000000.000002"]
            assert any("Restore running" in p["text"] for p in thread)
            assert any(
                "2 objects" in json.dumps(p, ensure_ascii=False)
                for p in thread
                if "Restore done" in p["text"]
            )
            assert len([p for p in thread if "Restore done" in p["text"]]) == 1, "executed once"


async def test_mute_24h_quiets_that_alert_in_that_channel_only(tmp_path: Path) -> None:
    with running_emulator(users=40, seed=4) as tenant:
        async with rig(tenant, tmp_path) as r, MockSlack() as mock:
            people(mock)
            first = await r.backup()
            users = sorted(tenant.dump()["objects"]["users"].values(), key=lambda u: u["id"])
            victim = next(u for u in users[5:] if not u.get("onPremisesSyncEnabled"))
            assert (
                tenant.act("DELETE", f"/users/{victim['id']}", actor=users[0]["userPrincipalName"])[0] == 204
            )
            second = await r.backup()
            ctx = BotContext(
                catalog=r.catalog, repository_for=lambda _t: r.repo, default_tenant=tenant.tenant_id
            )
            add_destination(r.catalog, platform="slack", channel="CSEC", tenant_id="*")
            add_destination(r.catalog, platform="slack", channel="COPS", tenant_id="*")
            web = SlackWeb(make_client(BOT_TOKEN, mock.base_url), pacer=ChannelPacer(0.0))

            async def alert(now: datetime) -> list[str]:
                sent = await alert_after_backup(
                    r.catalog,
                    r.repo,
                    tenant.tenant_id,
                    first.snapshot_id,
                    second.snapshot_id,
                    SlackNotifier(web, ctx),
                    RuleBook(default_rules()),
                    now,
                )
                return sorted(s.destination.channel for s in sent)

            assert await alert(datetime.now(UTC)) == ["COPS", "CSEC"]
            posted = next(p for p in mock.of("chat.postMessage") if p["channel"] == "CSEC")
            async with serve(ctx, mock) as slack:
                await slack.client.click(
                    buttons(posted)["Mute 24h"], message_ts="1700000000.000001", user="UALICE"
                )
                await slack.settle()
            confirmation = mock.of("chat.postMessage")[-1]
            assert confirmation["channel"] == "CSEC" and "Muted for 24 h" in confirmation["text"]
            assert "Alice Responder muted 1 finding" in json.dumps(confirmation, ensure_ascii=False)
            # Past the 6 h repeat window the change is announced again, except where it was muted...
            assert await alert(datetime.now(UTC) + timedelta(hours=7)) == ["COPS"]
            # ...and once the mute is over, there too.
            assert await alert(datetime.now(UTC) + timedelta(hours=25)) == ["COPS", "CSEC"]


# --- a 5,000-object plan, with a stand-in for the restore service -----------------------------------------


@dataclass
class View:
    request_id: str
    tenant_id: str
    state: str
    plan: Plan
    summary: str
    requester: Person
    approvals: tuple[Person, ...] = ()
    rejected_by: Person | None = None
    required_approvals: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=30))
    origin: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None


class FakeRestore:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.views: dict[str, View] = {}

    async def request(
        self,
        tenant_id: str,
        selector: str,
        *,
        requester: Person,
        snapshot: str | None = None,
        origin: dict[str, Any] | None = None,
        plan: Plan | None = None,
    ) -> View:
        view = View(
            "req-big", tenant_id, "pending", self.plan, self.plan.summary_line(), requester, origin=origin
        )
        self.views[view.request_id] = view
        return view

    def set_origin(self, request_id: str, origin: dict[str, Any]) -> None:
        self.views[request_id] = replace(self.views[request_id], origin=origin)

    def requests(self, tenant_id: str | None = None, *, states: Any = None, limit: int = 50) -> list[View]:
        return list(self.views.values())

    def get(self, request_id: str) -> View:
        return self.views[request_id]

    async def approve(self, request_id: str, *, approver: Person) -> View:
        raise NotImplementedError

    async def reject(self, request_id: str, *, person: Person, reason: str | None = None) -> View:
        raise NotImplementedError

    async def execute(self, request_id: str, *, progress: Any = None) -> View:
        raise NotImplementedError

    def expire_due(self) -> list[View]:
        return []

    async def cancel(self, request_id: str, *, person: Person) -> View:
        self.views[request_id] = replace(self.views[request_id], state="cancelled")
        return self.views[request_id]


async def test_a_request_nobody_could_see_is_cancelled_and_the_requester_told_why(tmp_path: Path) -> None:
    plan = Plan(
        "t-big",
        "a" * 32,
        "2026-11-27T09:00:00Z",
        "deleted since 1h",
        "2026-11-27T10:00:00Z",
        (Action("restore_deleted:user:1", Operation.RESTORE_DELETED, "user", "1", "User 1", Risk.LOW),),
    )
    restore = FakeRestore(plan)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as catalog:
        ctx = BotContext(
            catalog=catalog, repository_for=no_repository, restore=restore, default_tenant="t-big"
        )
        async with MockSlack() as mock, serve(ctx, mock) as slack:
            people(mock)
            mock.gone["CSEC"] = "not_in_channel"  # Rewind was never invited here
            status, _ = await slack.client.command("restore deleted since 1h")
            assert status == 200
            await slack.settle()
        told = json.dumps([body for _, body in mock.responses], ensure_ascii=False)
    assert [v.state for v in restore.views.values()] == ["cancelled"]
    assert "invite me" in told and "The request was cancelled" in told


async def test_a_5000_object_plan_fits_block_kit_and_the_rest_goes_to_a_file(tmp_path: Path) -> None:
    actions = tuple(
        Action(
            f"restore_deleted:user:{n:05d}",
            Operation.RESTORE_DELETED,
            "user",
            f"{n:05d}",
            f"User {n:05d}",
            Risk.HIGH if n % 7 == 0 else Risk.LOW,
        )
        for n in range(5000)
    )
    plan = Plan(
        "t-big", "a" * 32, "2026-11-27T09:00:00Z", "deleted since 1h", "2026-11-27T10:00:00Z", actions
    )
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as catalog:
        ctx = BotContext(
            catalog=catalog,
            repository_for=no_repository,
            restore=FakeRestore(plan),
            default_tenant="t-big",
        )
        async with MockSlack() as mock, serve(ctx, mock) as slack:
            people(mock)
            status, _ = await slack.client.command("restore deleted since 1h")
            assert status == 200
            await slack.settle()
        request = mock.of("chat.postMessage")[0]
        blocks = valid_blocks(request)
        assert "5,000" not in request["text"] or len(request["text"]) < 3000
        assert "…and 4,995 more" in json.dumps(blocks, ensure_ascii=False)
        assert set(buttons(request)) == {"Approve", "Reject"}
        upload = mock.uploads()[0]
        assert upload["thread_ts"] == "1700000000.000001"
        assert len(upload["content"].strip().splitlines()) == 5001  # header + every action
