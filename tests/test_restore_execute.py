"""The restore executor against the emulator over real sockets: hand-built plans, checked through the dump."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from core.catalog import Catalog
from core.connection import restore_graph_config
from core.errors import ConfigurationError
from core.graph import ClientSecret, GraphClient, GraphConfig
from core.graph.limiter import GraphLimiter, TokenBucket
from core.repository import Repository
from core.restore.errors import PlanDrifted
from core.restore.executor import RestoreExecutor, RestoreResult, StepEvent
from core.restore.graph_live import GraphLiveTenant
from core.restore.journal import Journal
from core.restore.live import ObjectRef, fingerprint
from core.restore.model import Action, Operation, Plan
from core.settings import RewindSettings
from core.store import open_store
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import Rig, graph_config_for
from tests.restore_helpers import new_request

CA_PER_S = 200
WRITE_ROLES = [
    "Directory.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
]


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=30, seed=5) as h:
        yield h


@dataclass
class Setup:
    rig: Rig
    snapshot_id: str
    live: GraphLiveTenant
    journal: Journal

    @property
    def handle(self) -> EmulatorHandle:
        return self.rig.handle

    def snapshot_object(self, type_name: str, object_id: str) -> dict[str, Any]:
        stored = self.rig.reader(self.snapshot_id).get(type_name, object_id)
        assert stored is not None
        return dict(stored.object)

    def snapshot_links(self, type_name: str, object_id: str) -> dict[str, Any]:
        stored = self.rig.reader(self.snapshot_id).get(type_name, object_id)
        assert stored is not None
        return dict(stored.links)

    def executor(self, graph: GraphClient | None = None, **kw: Any) -> RestoreExecutor:
        return RestoreExecutor(graph=graph or self.rig.graph, live=self.live, journal=self.journal, **kw)

    async def plan(self, actions: list[Action], watch: list[tuple[str, str]] | None = None) -> Plan:
        """A plan over ``actions``, with the live fingerprints of the objects it writes (and ``watch``)."""
        keys = {(a.object_type, a.object_id) for a in actions} | set(watch or [])
        refs = [ObjectRef(t, i) for t, i in sorted(keys)]
        lives = await self.live.fetch_many(refs)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return Plan(
            tenant_id=self.handle.tenant_id,
            snapshot_id=self.snapshot_id,
            snapshot_created_at=now,
            selector="test",
            created_at=now,
            actions=tuple(actions),
            live_state={ref.key: fingerprint(live) for ref, live in zip(refs, lives, strict=True)},
        )

    def request(self, plan: Plan) -> str:
        return new_request(self.rig.catalog, plan)


def roomy_limiter() -> GraphLimiter:
    """Production quotas except Conditional Access's one request a second, which would make each test
    wait seconds on policy reads (throttling has its own tests; the emulator is told the same)."""
    limiter = GraphLimiter()
    limiter.conditional_access = TokenBucket("conditional_access", CA_PER_S, 1, limiter.clock, headroom=1.0)
    return limiter


@asynccontextmanager
async def setup_for(handle: EmulatorHandle, tmp_path: Path) -> AsyncIterator[Setup]:
    handle.configure(throttling={"conditional_access_limit": CA_PER_S})
    store = open_store((tmp_path / "store").as_uri())
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        async with GraphClient(graph_config_for(handle), limiter=roomy_limiter()) as graph:
            r = Rig(handle, graph, Repository.open_or_init(store, key=None), catalog)
            result = await r.backup()
            yield Setup(r, result.snapshot_id, GraphLiveTenant(graph), Journal(catalog))
    finally:
        catalog.close()


def recreate(s: Setup, type_name: str, object_id: str, **kw: Any) -> Action:
    body = s.snapshot_object(type_name, object_id)
    return Action(
        key=f"recreate:{type_name}:{object_id}",
        operation=Operation.RECREATE,
        object_type=type_name,
        object_id=object_id,
        display_name=str(body.get("displayName")),
        body=body,
        **kw,
    )


def policy_conditions(s: Setup, policy: str, after: Action) -> Action:
    """Put a policy's conditions back as the snapshot has them, once ``after`` (the recreate of a group it
    names) has run: the executor rewrites the group's old id to its new one."""
    snapshot_policy = s.snapshot_object("conditionalAccessPolicy", policy)
    return Action(
        key=f"patch:conditionalAccessPolicy:{policy}",
        operation=Operation.PATCH,
        object_type="conditionalAccessPolicy",
        object_id=policy,
        display_name=str(snapshot_policy["displayName"]),
        body={"conditions": snapshot_policy["conditions"]},
        depends_on=(after.key,),
    )


def add_member(group_id: str, member_id: str, depends_on: tuple[str, ...] = ()) -> Action:
    return Action(
        key=f"add_link:group:{group_id}:members:{member_id}",
        operation=Operation.ADD_LINK,
        object_type="group",
        object_id=group_id,
        display_name="group",
        relationship="members",
        target_type="user",
        target_id=member_id,
        depends_on=depends_on,
    )


def security_group_in_policy(dump: dict[str, Any]) -> tuple[str, str]:
    """(group id, CA policy id): a plain security group with members that a CA policy includes."""
    groups = dump["objects"]["groups"]
    for policy_id, policy in dump["objects"]["conditionalAccessPolicies"].items():
        for gid in ((policy.get("conditions") or {}).get("users") or {}).get("includeGroups") or []:
            g = groups.get(gid)
            if g and not g.get("mailEnabled") and not g.get("groupTypes") and dump["members"].get(gid):
                return gid, policy_id
    raise AssertionError("the generated tenant has no CA policy naming a security group with members")


def users_of(dump: dict[str, Any]) -> list[str]:
    """Cloud-only users (synced ones belong to on-premises AD and refuse writes)."""
    return sorted(i for i, u in dump["objects"]["users"].items() if not u.get("onPremisesSyncEnabled"))


def writable_group(dump: dict[str, Any], members: int = 2) -> str:
    """A cloud-only, assigned-membership group with at least ``members`` members."""
    groups = dump["objects"]["groups"]
    return next(
        str(g)
        for g, m in sorted(dump["members"].items())
        if g in groups
        and len(m) >= members
        and not groups[g].get("onPremisesSyncEnabled")
        and "DynamicMembership" not in (groups[g].get("groupTypes") or [])
    )


# --- restore from the recycle bin, recreate and remap, patch, links ------------------------------------


async def test_restore_deleted_keeps_the_id(handle: EmulatorHandle, tmp_path: Path) -> None:
    async with setup_for(handle, tmp_path) as s:
        user = users_of(handle.dump())[3]
        handle.incident("delete", "user", user)
        action = Action(f"restore_deleted:user:{user}", Operation.RESTORE_DELETED, "user", user, "someone")
        plan = await s.plan([action])
        result = await s.executor().run(plan, request_id=s.request(plan))
        dump = handle.dump()
        assert user in dump["objects"]["users"] and user not in dump["deleted"]
        assert result.status == "succeeded"
        assert [(o.object_id, o.status) for o in result.outcomes] == [(user, "restored")]


async def test_recreate_remaps_members_and_the_policy(handle: EmulatorHandle, tmp_path: Path) -> None:
    before = handle.dump()
    group, policy = security_group_in_policy(before)
    members = sorted(before["members"][group])
    async with setup_for(handle, tmp_path) as s:
        handle.incident("hard-delete", "group", group)
        make = recreate(s, "group", group)
        patch = policy_conditions(s, policy, make)
        links = [add_member(group, m, (make.key,)) for m in members]
        plan = await s.plan([make, *links, patch])
        events: list[StepEvent] = []

        async def progress(event: StepEvent) -> None:
            events.append(event)

        result = await s.executor().run(plan, request_id=s.request(plan), progress=progress)
        assert result.status == "succeeded", result.to_json()
        new_group = result.new_ids[group]
        assert new_group != group
        after = handle.dump()
        assert group not in after["objects"]["groups"]
        recreated = after["objects"]["groups"][new_group]
        assert recreated["displayName"] == before["objects"]["groups"][group]["displayName"]
        assert sorted(after["members"][new_group]) == members
        include = after["objects"]["conditionalAccessPolicies"][policy]["conditions"]["users"][
            "includeGroups"
        ]
        assert new_group in include and group not in include
        statuses = {o.object_id: o.status for o in result.outcomes}
        assert statuses == {group: "recreated", policy: "patched"}
        assert {e.state for e in events} == {"started", "done"}
        assert sum(1 for e in events if e.state == "done") == len(plan.actions)
        # Recreated exactly once, whatever the batching.
        named = [
            g for g in after["objects"]["groups"].values() if g["displayName"] == recreated["displayName"]
        ]
        assert len(named) == 1


async def test_patch_reverts_and_links_are_added_and_removed(handle: EmulatorHandle, tmp_path: Path) -> None:
    before = handle.dump()
    group = writable_group(before)
    kept, removed = before["members"][group][:2]
    stray = next(u for u in users_of(before) if u not in before["members"][group])
    user = users_of(before)[5]
    async with setup_for(handle, tmp_path) as s:
        handle.incident("modify", "user", user, patch={"jobTitle": "Intruder", "department": "Nowhere"})
        handle.incident("remove-members", "group", group, member_ids=[removed])
        status, _ = handle.act(
            "POST", f"/groups/{group}/members/$ref", {"@odata.id": f"https://x/v1.0/directoryObjects/{stray}"}
        )
        assert status == 204
        snap = s.snapshot_object("user", user)
        actions = [
            Action(
                f"patch:user:{user}",
                Operation.PATCH,
                "user",
                user,
                "user",
                body={"jobTitle": snap.get("jobTitle"), "department": snap.get("department")},
            ),
            add_member(group, removed),
            add_member(group, kept),  # already there: counts as done
            Action(
                f"remove_link:group:{group}:members:{stray}",
                Operation.REMOVE_LINK,
                "group",
                group,
                "group",
                relationship="members",
                target_type="user",
                target_id=stray,
            ),
        ]
        plan = await s.plan(actions)
        result = await s.executor().run(plan, request_id=s.request(plan))
        assert result.status == "succeeded", result.to_json()
        after = handle.dump()
        assert after["objects"]["users"][user]["jobTitle"] == before["objects"]["users"][user]["jobTitle"]
        assert after["objects"]["users"][user]["department"] == before["objects"]["users"][user]["department"]
        assert sorted(after["members"][group]) == sorted(before["members"][group])
        assert {o.object_id: o.status for o in result.outcomes} == {user: "patched", group: "relinked"}


async def test_a_failed_step_skips_its_dependents_and_the_rest_runs(
    handle: EmulatorHandle, tmp_path: Path
) -> None:
    before = handle.dump()
    group, _policy = security_group_in_policy(before)
    user = users_of(before)[7]
    async with setup_for(handle, tmp_path) as s:
        handle.incident("hard-delete", "group", group)
        handle.incident("modify", "user", user, patch={"jobTitle": "Changed"})
        broken = recreate(s, "group", group)
        # A mail-enabled security group cannot be created through Graph: this step fails.
        broken = Action(**{**broken.__dict__, "body": {**(broken.body or {}), "mailEnabled": True}})
        member = before["members"][group][0]
        dependent = add_member(group, member, (broken.key,))
        fix = Action(
            f"patch:user:{user}",
            Operation.PATCH,
            "user",
            user,
            "user",
            body={"jobTitle": before["objects"]["users"][user]["jobTitle"]},
        )
        plan = await s.plan([broken, dependent, fix])
        request_id = s.request(plan)
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "partially_failed"
        assert (result.steps_done, result.steps_failed, result.steps_skipped) == (1, 1, 1)
        steps = s.journal.steps(request_id)
        assert steps[broken.key].state == "failed" and "400" in (steps[broken.key].detail or "")
        assert steps[dependent.key].state == "skipped"
        assert steps[dependent.key].detail == f"depends on failed step {broken.key}"
        outcome = {o.object_id: o for o in result.outcomes}
        assert outcome[group].status == "failed" and outcome[user].status == "patched"
        assert (
            handle.dump()["objects"]["users"][user]["jobTitle"]
            == before["objects"]["users"][user]["jobTitle"]
        )
        assert RestoreResult.from_json(json.loads(json.dumps(result.to_json()))) == result


async def test_drift_stops_the_run_before_any_write(handle: EmulatorHandle, tmp_path: Path) -> None:
    before = handle.dump()
    user, other = users_of(before)[1], users_of(before)[2]
    async with setup_for(handle, tmp_path) as s:
        handle.incident("modify", "user", user, patch={"jobTitle": "Changed"})
        fix = Action(f"patch:user:{user}", Operation.PATCH, "user", user, "u", body={"jobTitle": "Original"})
        plan = await s.plan([fix], watch=[("user", other)])
        handle.incident("modify", "user", other, patch={"department": "Moved meanwhile"})
        handle.reset_counters()
        request_id = s.request(plan)
        with pytest.raises(PlanDrifted) as caught:
            await s.executor().run(plan, request_id=request_id)
        assert caught.value.keys == [f"user/{other}"]
        assert "new plan" in str(caught.value)
        assert handle.counters()["totals"]["writes"] == 0
        assert s.journal.steps(request_id) == {}
        assert handle.dump()["objects"]["users"][user]["jobTitle"] == "Changed"


async def test_a_recreated_users_password_is_never_kept(handle: EmulatorHandle, tmp_path: Path) -> None:
    user = users_of(handle.dump())[4]
    issued: list[str] = []

    def password() -> str:
        value = f"Pw-{uuid.uuid4().hex}!A1"
        issued.append(value)
        return value

    async with setup_for(handle, tmp_path) as s:
        handle.incident("hard-delete", "user", user)
        action = recreate(s, "user", user)
        plan = await s.plan([action])
        request_id = s.request(plan)
        with capture_logs() as logs:
            result = await s.executor(password=password).run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert len(issued) == 1
        secret = issued[0]
        outcome = result.outcomes[0]
        assert outcome.status == "recreated" and "Temporary Access Pass" in (outcome.detail or "")
        journal = json.dumps([row.__dict__ for row in s.journal.steps(request_id).values()], default=str)
        for text in (journal, json.dumps(result.to_json()), repr(logs), plan.canonical().decode()):
            assert secret not in text
        upn = s.snapshot_object("user", user)["userPrincipalName"]
        assert [u for u in handle.dump()["objects"]["users"].values() if u["userPrincipalName"] == upn]


# --- credentials ---------------------------------------------------------------------------------------


def settings_for(handle: EmulatorHandle, **restore: Any) -> RewindSettings:
    return RewindSettings(
        tenant_id=handle.tenant_id,
        client_id=handle.client_id,
        client_secret=SecretStr(handle.client_secret),
        graph_url=handle.graph_url,
        authority_host=handle.authority_host,
        **restore,
    )


def with_ca(config: GraphConfig, handle: EmulatorHandle) -> GraphConfig:
    return GraphConfig(**{**config.__dict__, "ca_bundle": handle.ca_path})


async def test_writes_use_the_restore_credential_when_configured(
    handle: EmulatorHandle, tmp_path: Path
) -> None:
    restore_id = handle.register_app(roles=WRITE_ROLES, client_secret="restore-secret-value")
    config = restore_graph_config(
        settings_for(
            handle, restore_client_id=restore_id, restore_client_secret=SecretStr("restore-secret-value")
        )
    )
    assert config.client_id == restore_id and isinstance(config.credential, ClientSecret)
    assert restore_graph_config(settings_for(handle)).client_id == handle.client_id
    user = users_of(handle.dump())[6]
    async with setup_for(handle, tmp_path) as s:
        handle.incident("modify", "user", user, patch={"jobTitle": "Changed"})
        plan = await s.plan(
            [Action(f"patch:user:{user}", Operation.PATCH, "user", user, "u", body={"jobTitle": "Back"})]
        )
        handle.reset_counters()
        async with GraphClient(with_ca(config, handle)) as writer:
            result = await s.executor(graph=writer).run(plan, request_id=s.request(plan))
        assert result.status == "succeeded"
        by_app = handle.counters()["tenants"][handle.tenant_id]
        assert by_app[restore_id]["writes"] == 1
        assert by_app.get(handle.client_id, {}).get("writes", 0) == 0


async def test_a_read_only_credential_fails_with_one_clear_line(
    handle: EmulatorHandle, tmp_path: Path
) -> None:
    reader_id = handle.register_app(
        roles=["Directory.Read.All", "Policy.Read.All"], client_secret="read-only-secret"
    )
    user = users_of(handle.dump())[8]
    async with setup_for(handle, tmp_path) as s:
        handle.incident("modify", "user", user, patch={"jobTitle": "Changed"})
        plan = await s.plan(
            [Action(f"patch:user:{user}", Operation.PATCH, "user", user, "u", body={"jobTitle": "Back"})]
        )
        config = GraphConfig(
            **{
                **graph_config_for(handle).__dict__,
                "client_id": reader_id,
                "credential": ClientSecret("read-only-secret"),
            }
        )
        request_id = s.request(plan)
        async with GraphClient(config) as reader:
            result = await s.executor(graph=reader).run(plan, request_id=request_id)
        assert result.status == "failed"
        detail = s.journal.steps(request_id)[f"patch:user:{user}"].detail or ""
        assert detail.startswith("permission denied:") and "User.ReadWrite.All" in detail
        assert "\n" not in detail and "read-only-secret" not in detail


def test_a_half_configured_restore_credential_is_refused(handle: EmulatorHandle) -> None:
    with pytest.raises(ConfigurationError, match="REWIND_RESTORE_CLIENT_SECRET"):
        restore_graph_config(settings_for(handle, restore_client_id=str(uuid.uuid4())))
    with pytest.raises(ConfigurationError, match="REWIND_RESTORE_CLIENT_ID"):
        restore_graph_config(settings_for(handle, restore_client_secret=SecretStr("x")))
