"""Verification after a run: replication lag is waited out, a real difference is still a mismatch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.restore.journal import StepRow
from core.restore.live import LiveObject, ObjectRef, Presence
from core.restore.model import Action, Operation, Plan
from core.restore.verify import verify

OLD, NEW = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
GROUP, MEMBER = "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"


class Replicating:
    """A live tenant whose answers change from one read to the next (first from a lagging replica)."""

    def __init__(self, rounds: list[dict[str, LiveObject]]) -> None:
        self.rounds = rounds
        self.reads: list[list[str]] = []

    async def fetch(self, ref: ObjectRef) -> LiveObject:
        return (await self.fetch_many([ref]))[0]

    async def fetch_many(self, refs: Sequence[ObjectRef]) -> list[LiveObject]:
        state = self.rounds[min(len(self.reads), len(self.rounds) - 1)]
        self.reads.append([r.key for r in refs])
        return [state.get(r.key) or LiveObject(r, Presence.ABSENT) for r in refs]


def plan_of(*actions: Action) -> Plan:
    return Plan(
        tenant_id="t",
        snapshot_id="s",
        snapshot_created_at="2026-01-01T00:00:00Z",
        selector="test",
        created_at="2026-01-01T00:00:00Z",
        actions=actions,
    )


def done(*keys: str, new_id: str | None = None) -> dict[str, StepRow]:
    now = datetime.now(UTC)
    return {k: StepRow(k, "done", 1, new_id, None, now, now) for k in keys}


RECREATE = Action(
    key=f"recreate:user:{OLD}",
    operation=Operation.RECREATE,
    object_type="user",
    object_id=OLD,
    display_name="Ada",
    body={"displayName": "Ada", "userPrincipalName": "ada@example.com", "accountEnabled": True},
)
LINK = Action(
    key=f"add_link:group:{GROUP}:members:{MEMBER}",
    operation=Operation.ADD_LINK,
    object_type="group",
    object_id=GROUP,
    display_name="Sales",
    relationship="members",
    target_type="user",
    target_id=MEMBER,
)


def user(display: str) -> LiveObject:
    obj = {"id": NEW, "displayName": display, "userPrincipalName": "ada@example.com", "accountEnabled": True}
    return LiveObject(ObjectRef("user", NEW), Presence.PRESENT, obj, {"manager": None})


def group(members: list[str]) -> LiveObject:
    return LiveObject(ObjectRef("group", GROUP), Presence.PRESENT, {"id": GROUP}, {"members": members})


async def no_wait(_: float) -> None:
    return None


async def test_a_just_created_object_not_yet_readable_is_read_again() -> None:
    live = Replicating([{}, {f"user/{NEW}": user("Ada")}])
    outcomes = await verify(plan_of(RECREATE), live, done(RECREATE.key), {OLD: NEW}, sleep=no_wait)
    assert [(o.status, o.new_id) for o in outcomes] == [("recreated", NEW)]
    assert live.reads == [[f"user/{NEW}"], [f"user/{NEW}"]]


async def test_a_link_not_yet_visible_is_read_again() -> None:
    live = Replicating([{f"group/{GROUP}": group([])}, {f"group/{GROUP}": group([MEMBER])}])
    outcomes = await verify(plan_of(LINK), live, done(LINK.key), {}, sleep=no_wait)
    assert [o.status for o in outcomes] == ["relinked"]


async def test_a_real_difference_stays_a_mismatch_after_the_retries() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    live = Replicating([{f"user/{NEW}": user("Someone else")}])
    outcomes = await verify(
        plan_of(RECREATE), live, done(RECREATE.key), {OLD: NEW}, retries=3, delay_s=0.5, sleep=sleep
    )
    assert [o.status for o in outcomes] == ["mismatch"]
    assert "displayName" in (outcomes[0].detail or "")
    assert waits == [0.5, 1.0, 2.0]


async def test_an_object_still_absent_is_a_mismatch_and_matching_ones_are_read_once() -> None:
    live = Replicating([{f"group/{GROUP}": group([MEMBER])}])
    plan = plan_of(RECREATE, LINK)
    outcomes = await verify(plan, live, done(RECREATE.key, LINK.key), {OLD: NEW}, retries=2, sleep=no_wait)
    assert {o.object_id: o.status for o in outcomes} == {OLD: "mismatch", GROUP: "relinked"}
    assert live.reads[1:] == [[f"user/{NEW}"], [f"user/{NEW}"]]
