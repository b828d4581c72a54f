"""The approval workflow: who may approve, expiry, drift, overlap, exactly-once execution, the audit trail.

The rules run against the emulator's Graph (identity lookups, transitive group membership) with a small fake
executor, so each test can count how often a restore actually ran. Races are real threads on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from core.catalog import Catalog
from core.catalog.models import AUDIT_EVENTS, RESTORE_DECISIONS, RESTORE_LOCKS
from core.graph import GraphClient, GraphError
from core.graph.errors import ErrorKind
from core.repository import Passphrase, Repository
from core.restore.approval import ApprovalPolicy, privileged_reasons
from core.restore.errors import PlanDrifted
from core.restore.executor import RestoreResult, StepEvent
from core.restore.identity import Person
from core.restore.model import Action, Operation, Plan
from core.restore.service import ApprovalRefused, RequestNotFound, RequestState, RestoreService
from core.restore.verify import ObjectOutcome
from core.store import Locked, Retention, open_store
from core.store.s3 import S3Store
from emulator.testing import EmulatorHandle, running_emulator
from tests import postgres, s3server
from tests.backup_helpers import Rig as BackupRig
from tests.backup_helpers import graph_config_for
from tests.backup_helpers import rig as backup_rig
from tests.s3server import MotoS3

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
_schemas = itertools.count(1)


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=20, seed=11) as handle:
        yield handle


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    yield from s3server.serve()


@dataclass
class People:
    alice: Person  # requests
    bob: Person
    carol: Person
    dave: Person
    ids: dict[str, str]  # name -> Entra object id
    upns: dict[str, str]


@pytest.fixture(scope="module")
def people(tenant: EmulatorHandle) -> People:
    users = tenant.dump()["objects"]["users"]
    chosen = [u for u in sorted(users) if users[u].get("accountEnabled", True)][:4]
    names = ["alice", "bob", "carol", "dave"]
    upns = {n: users[u]["userPrincipalName"] for n, u in zip(names, chosen, strict=True)}
    ids = dict(zip(names, chosen, strict=True))
    # Email only: the service looks the Entra id up, as it does for a person typing `--as EMAIL`.
    persons = {n: Person.of(n, email=upns[n]) for n in names}
    return People(**persons, ids=ids, upns=upns)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeExecutor:
    """Counts runs; optionally fails, or does something while "running"."""

    fail: Exception | None = None
    during: Callable[[], Awaitable[None]] | None = None
    runs: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def run(
        self, plan: Plan, *, request_id: str, progress: Callable[[StepEvent], Awaitable[None]] | None = None
    ) -> RestoreResult:
        with self._lock:
            self.runs.append(request_id)
        if self.during is not None:
            await self.during()
        if self.fail is not None:
            raise self.fail
        for action in plan.writes():
            if progress is not None:
                await progress(StepEvent(action, "done"))
        outcomes = tuple(
            ObjectOutcome(a.object_type, a.object_id, a.display_name, None, "patched") for a in plan.writes()
        )
        return RestoreResult("succeeded", outcomes, steps_done=len(outcomes), steps_failed=0)


@dataclass
class Rig:
    handle: EmulatorHandle
    catalog: Catalog
    clock: Clock
    repo: Repository
    executor: FakeExecutor

    def service(self, policy: ApprovalPolicy | None = None, **kw: Any) -> RestoreService:
        return RestoreService(
            catalog=self.catalog,
            repository_for=lambda _tenant: self.repo,
            graph_for=lambda _tenant: GraphClient(graph_config_for(self.handle)),
            policy=policy or ApprovalPolicy(),
            executor_for=lambda _graph, _catalog: self.executor,
            **kw,
        )

    def plan(self, *objects: tuple[str, str], selector: str = "test") -> Plan:
        actions = tuple(
            Action(
                key=f"patch:{kind}:{oid}",
                operation=Operation.PATCH,
                object_type=kind,
                object_id=oid,
                display_name=f"{kind} {oid[:8]}",
                body={"displayName": "back"},
            )
            for kind, oid in objects
        )
        return Plan(
            tenant_id=self.handle.tenant_id,
            snapshot_id="ab" * 16,
            snapshot_created_at="2026-11-27T09:00:00Z",
            selector=selector,
            created_at="2026-11-27T10:00:00Z",
            actions=actions,
        )


def postgres_url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    if isinstance(server, str):
        pytest.fail(f"PostgreSQL could not be started for the approval tests: {server}", pytrace=False)
    assert isinstance(server, postgres.PostgresServer)
    return server.create_schema(f"approval_{next(_schemas)}_{uuid.uuid4().hex[:6]}")


@pytest.fixture
def rig(tenant: EmulatorHandle, tmp_path: Path) -> Iterator[Rig]:
    clock = Clock()
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}", clock=clock)
    repo = Repository.open_or_init(open_store((tmp_path / "store").as_uri()), key=Passphrase("pw"))
    yield Rig(tenant, catalog, clock, repo, FakeExecutor())
    catalog.close()


def user(people: People, name: str) -> tuple[str, str]:
    return ("user", people.ids[name])


def trail(service: RestoreService, tenant_id: str) -> list[tuple[str, str | None]]:
    return [(e.event, e.detail.get("reason")) for e in service.audit.events(tenant_id)]


def new_group(handle: EmulatorHandle, name: str) -> dict[str, Any]:
    nickname = f"g{uuid.uuid4().hex[:8]}"
    body = {"displayName": name, "mailEnabled": False, "mailNickname": nickname, "securityEnabled": True}
    status, group = handle.act("POST", "/groups", body)
    assert status == 201, group
    assert isinstance(group, dict)
    return group


# --- who may approve --------------------------------------------------------------------------------------


def test_self_approval_is_refused_also_through_another_account_of_the_same_person(
    rig: Rig, people: People
) -> None:
    service = rig.service()
    tid = rig.handle.tenant_id
    slack = Person.of("alice (slack)", email=people.upns["alice"], platform="slack", team="T1", user="U1")
    view = asyncio.run(service.request(tid, "test", requester=slack, plan=rig.plan(user(people, "bob"))))
    assert view.state is RequestState.PENDING and view.required_approvals == 1
    # The same email from Teams, and the bare Entra object id (resolved through Graph), are still alice.
    teams = Person.of("alice (teams)", email=people.upns["alice"], platform="teams", team="X", user="A")
    entra = Person.of("alice (entra)", entra_id=people.ids["alice"])
    for same in (teams, entra):
        with pytest.raises(ApprovalRefused) as refused:
            asyncio.run(service.approve(view.request_id, approver=same))
        assert refused.value.reason == "self_approval"
        assert "second person" in str(refused.value) and "\n" not in str(refused.value)
    assert service.get(view.request_id).state is RequestState.PENDING
    approved = asyncio.run(service.approve(view.request_id[:6], approver=people.bob))
    assert approved.state is RequestState.APPROVED
    assert [p.display for p in approved.approvals] == ["bob"]
    assert f"entra:{people.ids['bob']}" in approved.approvals[0].aliases  # resolved from the email
    assert rig.executor.runs == []  # approving never runs
    assert trail(service, tid) == [
        ("requested", None),
        ("refused", "self_approval"),
        ("refused", "self_approval"),
        ("approved", None),
    ]


def test_non_approvers_may_neither_approve_nor_request(rig: Rig, people: People) -> None:
    policy = ApprovalPolicy(approvers=(people.upns["alice"], people.ids["bob"]))
    service = rig.service(policy)
    tid = rig.handle.tenant_id
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.request(tid, "test", requester=people.carol, plan=rig.plan(user(people, "dave"))))
    assert refused.value.reason == "not_requester"
    view = asyncio.run(
        service.request(tid, "test", requester=people.alice, plan=rig.plan(user(people, "dave")))
    )
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.approve(view.request_id, approver=people.carol))
    assert refused.value.reason == "not_approver"
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.reject(view.request_id, person=people.carol))
    assert refused.value.reason == "not_approver"
    # bob is configured by object id and acts by email: the directory links the two.
    assert asyncio.run(service.approve(view.request_id, approver=people.bob)).state is RequestState.APPROVED


def test_approver_group_membership_is_transitive_and_checked_again_before_running(
    rig: Rig, people: People
) -> None:
    handle = rig.handle
    outer, inner = (new_group(handle, name) for name in ("Restore approvers", "IAM team"))

    def ref(oid: str) -> dict[str, str]:
        return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{oid}"}

    for group, member in ((outer["id"], inner["id"]), (inner["id"], people.ids["bob"])):
        assert handle.act("POST", f"/groups/{group}/members/$ref", ref(member))[0] == 204
    assert handle.act("POST", f"/groups/{outer['id']}/members/$ref", ref(people.ids["alice"]))[0] == 204
    service = rig.service(ApprovalPolicy(approver_group=outer["id"]))
    tid = handle.tenant_id
    view = asyncio.run(
        service.request(tid, "test", requester=people.alice, plan=rig.plan(user(people, "dave")))
    )
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.approve(view.request_id, approver=people.carol))
    assert refused.value.reason == "not_approver"
    stranger = Person.of("someone", email="nobody@elsewhere.example")
    with pytest.raises(ApprovalRefused, match="not a user of this tenant") as refused:
        asyncio.run(service.approve(view.request_id, approver=stranger))
    assert refused.value.reason == "not_approver"
    assert asyncio.run(service.approve(view.request_id, approver=people.bob)).state is RequestState.APPROVED

    # bob leaves the IAM team between the click and the run: the run is refused and nothing executes.
    assert handle.act("DELETE", f"/groups/{inner['id']}/members/{people.ids['bob']}/$ref")[0] == 204
    with pytest.raises(ApprovalRefused, match="no longer an approver") as refused:
        asyncio.run(service.execute(view.request_id))
    assert refused.value.reason == "not_approver"
    assert rig.executor.runs == []
    assert service.get(view.request_id).state is RequestState.APPROVED


# --- the life of a request --------------------------------------------------------------------------------


def test_an_expired_request_is_refused_and_marked_expired(rig: Rig, people: People) -> None:
    service = rig.service(ApprovalPolicy(ttl=timedelta(minutes=30)))
    tid = rig.handle.tenant_id
    view = asyncio.run(
        service.request(tid, "test", requester=people.alice, plan=rig.plan(user(people, "dave")))
    )
    assert view.expires_at == T0 + timedelta(minutes=30)
    rig.clock.now = T0 + timedelta(minutes=31)
    with pytest.raises(ApprovalRefused, match="expired at 2026-11-27 10:30 UTC") as refused:
        asyncio.run(service.approve(view.request_id, approver=people.bob))
    assert refused.value.reason == "expired"
    assert service.get(view.request_id).state is RequestState.EXPIRED
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.approve(view.request_id, approver=people.bob))
    assert refused.value.reason == "not_pending"
    assert [e for e, _ in trail(service, tid)] == ["requested", "expired"]

    # expire_due sweeps approved-but-never-run requests too.
    second = asyncio.run(
        service.request(tid, "t", requester=people.alice, plan=rig.plan(user(people, "dave")))
    )
    asyncio.run(service.approve(second.request_id, approver=people.bob))
    rig.clock.now += timedelta(minutes=29)
    assert service.expire_due() == []
    rig.clock.now += timedelta(minutes=2)
    assert [v.request_id for v in service.expire_due()] == [second.request_id]
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.execute(second.request_id))
    assert refused.value.reason == "not_approved" and rig.executor.runs == []


def test_a_drifted_plan_is_refused_at_execution(rig: Rig, people: People) -> None:
    rig.executor.fail = PlanDrifted("the tenant changed since the plan was made (user/x)", ["user/x"])
    service = rig.service()
    tid = rig.handle.tenant_id
    view = asyncio.run(
        service.request(tid, "test", requester=people.alice, plan=rig.plan(user(people, "dave")))
    )
    asyncio.run(service.approve(view.request_id, approver=people.bob))
    with pytest.raises(ApprovalRefused, match="new plan and a new approval") as refused:
        asyncio.run(service.execute(view.request_id))
    assert refused.value.reason == "drifted"
    after = service.get(view.request_id)
    assert after.state is RequestState.FAILED and after.error and "changed since" in after.error
    assert [e for e, _ in trail(service, tid)][-2:] == ["executing", "drifted"]
    with rig.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RESTORE_LOCKS)).scalar() == 0


def test_one_rejection_ends_the_request(rig: Rig, people: People) -> None:
    service = rig.service()
    tid = rig.handle.tenant_id
    plan = rig.plan(("conditionalAccessPolicy", str(uuid.uuid4())))
    view = asyncio.run(service.request(tid, "ca", requester=people.alice, plan=plan))
    assert view.required_approvals == 2
    assert asyncio.run(service.approve(view.request_id, approver=people.bob)).state is RequestState.PENDING
    rejected = asyncio.run(service.reject(view.request_id, person=people.carol, reason="wrong snapshot"))
    assert rejected.state is RequestState.REJECTED
    assert rejected.rejected_by is not None and rejected.rejected_by.display == "carol"
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.approve(view.request_id, approver=people.dave))
    assert refused.value.reason == "not_pending"
    with pytest.raises(ApprovalRefused):
        asyncio.run(service.execute(view.request_id))
    assert rig.executor.runs == []
    detail = service.audit.events(tid)[-1].detail
    assert detail["reason"] == "wrong snapshot" and detail["state"] == "rejected"


def test_conditional_access_plans_need_two_distinct_approvers(rig: Rig, people: People) -> None:
    service = rig.service()
    tid = rig.handle.tenant_id
    plan = rig.plan(("namedLocation", str(uuid.uuid4())), user(people, "dave"))
    assert privileged_reasons(plan) == ["Conditional Access"]
    view = asyncio.run(service.request(tid, "ca", requester=people.alice, plan=plan))
    assert view.required_approvals == 2
    first = asyncio.run(service.approve(view.request_id, approver=people.bob))
    assert first.state is RequestState.PENDING and first.approvals_needed == 1
    bob_again = Person.of("bob (slack)", entra_id=people.ids["bob"], platform="slack", team="T", user="U2")
    with pytest.raises(ApprovalRefused) as refused:
        asyncio.run(service.approve(view.request_id, approver=bob_again))
    assert refused.value.reason == "already_decided"
    with pytest.raises(ApprovalRefused):
        asyncio.run(service.execute(view.request_id))
    second = asyncio.run(service.approve(view.request_id, approver=people.carol))
    assert second.state is RequestState.APPROVED and len(second.approvals) == 2
    done = asyncio.run(service.execute(view.request_id))
    assert done.state is RequestState.SUCCEEDED and rig.executor.runs == [view.request_id]
    assert done.result is not None and done.result.steps_done == 2
    assert privileged_reasons(rig.plan(("unifiedRoleAssignment", "x"))) == ["privileged roles"]
    assert privileged_reasons(rig.plan(("group", "g1")), ["g1"]) == ["role-assignable groups"]
    assert privileged_reasons(rig.plan(("group", "g1"))) == []


def test_overlapping_requests_cannot_execute_at_once(rig: Rig, people: People) -> None:
    service = rig.service()
    tid = rig.handle.tenant_id
    shared = user(people, "dave")
    first = asyncio.run(service.request(tid, "a", requester=people.alice, plan=rig.plan(shared)))
    second = asyncio.run(
        service.request(tid, "b", requester=people.alice, plan=rig.plan(shared, user(people, "carol")))
    )
    for view in (first, second):
        asyncio.run(service.approve(view.request_id, approver=people.bob))
    refusals: list[ApprovalRefused] = []

    async def meanwhile() -> None:
        # While the first runs, the second (sharing dave) is refused and stays approved.
        if len(rig.executor.runs) == 1:
            try:
                await service.execute(second.request_id)
            except ApprovalRefused as refused:
                refusals.append(refused)

    rig.executor.during = meanwhile
    assert asyncio.run(service.execute(first.request_id)).state is RequestState.SUCCEEDED
    assert [r.reason for r in refusals] == ["overlap"]
    assert first.short_id in str(refusals[0]) and f"user/{people.ids['dave']}" in str(refusals[0])
    assert service.get(second.request_id).state is RequestState.APPROVED
    # The first released its locks when it ended: now the second runs.
    assert asyncio.run(service.execute(second.request_id)).state is RequestState.SUCCEEDED
    assert rig.executor.runs == [first.request_id, second.request_id]


def test_unknown_request_ids_and_ambiguous_prefixes_are_one_line(rig: Rig, people: People) -> None:
    service = rig.service()
    with pytest.raises(RequestNotFound, match="no restore request matches 'ffff0000'"):
        service.get("ffff0000")
    with pytest.raises(RequestNotFound, match="at least 4"):
        service.get("ab")


# --- exactly once, under races ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_double_approval_and_double_execution_run_once(
    backend: str, request: pytest.FixtureRequest, tenant: EmulatorHandle, people: People, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else postgres_url(request)
    catalog = Catalog(url)
    repo = Repository.open_or_init(open_store((tmp_path / "store").as_uri()), key=None)
    rig = Rig(tenant, catalog, Clock(), repo, FakeExecutor())
    try:
        service = rig.service()
        tid = tenant.tenant_id
        # Entra id and email both known: no directory lookups, so the threads race on the database alone.
        full = {
            n: Person.of(n, entra_id=people.ids[n], email=people.upns[n]) for n in ("alice", "bob", "carol")
        }
        view = asyncio.run(
            service.request(tid, "t", requester=full["alice"], plan=rig.plan(user(people, "dave")))
        )
        clickers = [full["bob"]] * 4 + [full["carol"]] * 4
        barrier = threading.Barrier(len(clickers))

        def approve(person: Person) -> str:
            barrier.wait()
            try:
                return asyncio.run(service.approve(view.request_id, approver=person)).state.value
            except ApprovalRefused as refused:
                return refused.reason

        with ThreadPoolExecutor(len(clickers)) as pool:
            answers = list(pool.map(approve, clickers))
        assert answers.count("approved") == 1, answers
        assert set(answers) <= {"approved", "already_decided", "not_pending"}
        with catalog.reading() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(RESTORE_DECISIONS)).scalar() == 1

        runners = threading.Barrier(8)

        def execute(_: int) -> str:
            runners.wait()
            try:
                return asyncio.run(service.execute(view.request_id)).state.value
            except ApprovalRefused as refused:
                return refused.reason

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(execute, range(8)))
        assert results.count("succeeded") == 1, results
        assert set(results) <= {"succeeded", "not_approved"}
        assert rig.executor.runs == [view.request_id]
        assert service.get(view.request_id).state is RequestState.SUCCEEDED
        kinds = [e for e, _ in trail(service, tid)]
        assert (
            kinds.count("approved") == 1 and kinds.count("executing") == 1 and kinds.count("succeeded") == 1
        )
        assert service.audit.verify_chain(tid) == []
    finally:
        catalog.close()


# --- the audit trail --------------------------------------------------------------------------------------


def test_audit_chain_detects_a_tampered_row_and_store_copies_match(rig: Rig, people: People) -> None:
    service = rig.service()
    tid = rig.handle.tenant_id
    view = asyncio.run(service.request(tid, "t", requester=people.alice, plan=rig.plan(user(people, "dave"))))
    asyncio.run(service.approve(view.request_id, approver=people.bob))
    asyncio.run(service.execute(view.request_id))
    records = service.audit.events(tid)
    assert [r.event for r in records] == ["requested", "approved", "executing", "succeeded"]
    assert service.audit.verify_chain(tid) == [] and service.audit.verify_store(tid) == []

    stored = sorted(rig.repo.store.list("audit/"))
    assert stored == sorted(r.object_key for r in records)
    assert stored[0].startswith("audit/2026/11/") and stored[0].endswith("-requested.json")
    raw = rig.repo.store.get(stored[0])
    assert b"requested" not in raw and people.upns["alice"].encode() not in raw  # encrypted like the rest

    with rig.catalog.writing() as conn:  # someone edits who approved
        conn.execute(
            AUDIT_EVENTS.update()
            .where(AUDIT_EVENTS.c.seq == records[1].seq)
            .values(actor="email:mallory@example.com")
        )
    problems = service.audit.verify_chain(tid)
    assert len(problems) == 1 and f"audit event {records[1].seq} (approved" in problems[0]
    assert any("differs from its store copy" in p for p in service.audit.verify_store(tid))

    with rig.catalog.writing() as conn:  # ... and then removes the newest event, which no digest covers
        conn.execute(AUDIT_EVENTS.delete().where(AUDIT_EVENTS.c.seq == records[-1].seq))
    assert any("lacks (a removed event?)" in p for p in service.audit.verify_store(tid))


def test_audit_objects_under_object_lock_cannot_be_deleted(
    tenant: EmulatorHandle, people: People, s3: MotoS3, tmp_path: Path
) -> None:
    lock = Retention("compliance", 1)
    store = S3Store(s3.make_bucket(lock=True), tenant.tenant_id, endpoint_url=s3.endpoint_url, lock=lock)
    repo = Repository.init(store, key=None, lock=lock)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}", clock=Clock())
    try:
        rig = Rig(tenant, catalog, Clock(), repo, FakeExecutor())
        service = rig.service()
        view = asyncio.run(
            service.request(
                tenant.tenant_id, "t", requester=people.alice, plan=rig.plan(user(people, "dave"))
            )
        )
        asyncio.run(service.cancel(view.request_id, person=people.alice))
        keys = sorted(store.list("audit/"))
        assert [k.rsplit("-", 1)[1] for k in keys] == ["requested.json", "cancelled.json"]
        for key in keys:
            assert store.is_locked(key)
            with pytest.raises(Locked):
                store.delete(key)
        assert service.audit.verify_store(tenant.tenant_id) == []
    finally:
        catalog.close()


# --- with the real planner and executor -------------------------------------------------------------------


def real_service(r: BackupRig, policy: ApprovalPolicy | None = None) -> RestoreService:
    return RestoreService(
        catalog=r.catalog,
        repository_for=lambda _tenant: r.repo,
        graph_for=lambda _tenant: GraphClient(graph_config_for(r.handle)),
        policy=policy or ApprovalPolicy(),
    )


def spare_users(handle: EmulatorHandle, people: People, count: int) -> list[str]:
    """Users no other test acts as, with no group, role or manager links of note."""
    users = handle.dump()["objects"]["users"]
    return [u for u in sorted(users) if u not in people.ids.values()][-count:]


async def test_a_second_person_approves_and_the_deleted_user_comes_back(
    tenant: EmulatorHandle, people: People, tmp_path: Path
) -> None:
    (victim,) = spare_users(tenant, people, 1)
    async with backup_rig(tenant, tmp_path) as r:
        await r.backup()
        tenant.incident("delete", "user", victim)
        service = real_service(r)
        view = await service.request(tenant.tenant_id, victim, requester=people.alice)
        assert view.state is RequestState.PENDING and view.plan.counts() == {"restore_deleted": 1}
        assert victim not in tenant.dump()["objects"]["users"]
        with pytest.raises(ApprovalRefused):
            await service.approve(view.request_id, approver=people.alice)
        approved = await service.approve(view.request_id, approver=people.bob)
        assert approved.state is RequestState.APPROVED
        assert victim not in tenant.dump()["objects"]["users"]  # approval alone writes nothing
        done = await service.execute(view.request_id)
        assert done.state is RequestState.SUCCEEDED, done.error
        assert victim in tenant.dump()["objects"]["users"]
        assert done.result is not None and [o.status for o in done.result.outcomes] == ["restored"]
        events = [e.event for e in service.audit.events(tenant.tenant_id)]
        assert events == ["requested", "refused", "approved", "executing", "succeeded"]
        assert service.audit.verify_chain(tenant.tenant_id) == []
        assert service.audit.verify_store(tenant.tenant_id) == []


async def test_a_plan_the_tenant_drifted_from_is_refused_before_any_write(
    tenant: EmulatorHandle, people: People, tmp_path: Path
) -> None:
    (victim,) = spare_users(tenant, people, 2)[:1]
    async with backup_rig(tenant, tmp_path) as r:
        await r.backup()
        tenant.incident("modify", "user", victim, patch={"jobTitle": "Changed once"})
        service = real_service(r)
        view = await service.request(tenant.tenant_id, victim, requester=people.alice)
        assert view.plan.counts() == {"patch": 1}
        await service.approve(view.request_id, approver=people.bob)
        tenant.incident("modify", "user", victim, patch={"jobTitle": "Changed twice"})
        with pytest.raises(ApprovalRefused, match="new plan and a new approval") as refused:
            await service.execute(view.request_id)
        assert refused.value.reason == "drifted"
        assert tenant.dump()["objects"]["users"][victim]["jobTitle"] == "Changed twice"
        assert service.get(view.request_id).state is RequestState.FAILED


def test_an_interrupted_run_is_resumed_once_and_a_live_one_is_left_alone(rig: Rig, people: People) -> None:
    rig.executor.fail = GraphError("Graph is unreachable", kind=ErrorKind.RETRYABLE)
    service = rig.service(stale_after=timedelta(minutes=10))
    tid = rig.handle.tenant_id
    view = asyncio.run(service.request(tid, "t", requester=people.alice, plan=rig.plan(user(people, "dave"))))
    asyncio.run(service.approve(view.request_id, approver=people.bob))
    stopped = asyncio.run(service.execute(view.request_id))
    assert stopped.state is RequestState.EXECUTING and stopped.error == "Graph is unreachable"
    with rig.catalog.reading() as conn:  # still holding its objects
        assert conn.execute(sa.select(sa.func.count()).select_from(RESTORE_LOCKS)).scalar() == 1
    rig.executor.fail = None
    done = asyncio.run(service.resume(view.request_id))
    assert done.state is RequestState.SUCCEEDED and done.error is None
    assert rig.executor.runs == [view.request_id, view.request_id]

    # A request whose runner is alive (recent progress, no error) is not taken over without --force.
    other = asyncio.run(
        service.request(tid, "t", requester=people.alice, plan=rig.plan(user(people, "carol")))
    )
    asyncio.run(service.approve(other.request_id, approver=people.bob))
    service._requests.claim(other.request_id, ["user/x"])  # another runner claimed it and is working
    with pytest.raises(ApprovalRefused, match="resume with --force"):
        asyncio.run(service.resume(other.request_id))
    rig.clock.now += timedelta(minutes=11)
    assert asyncio.run(service.resume(other.request_id)).state is RequestState.SUCCEEDED
    events = [e for e, _ in trail(service, tid)]
    assert events.count("interrupted") == 1 and events.count("resumed") == 2
