"""Member adds to one group go out as ``members@odata.bind`` PATCHes of 20: writes counted by the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from core.registry import object_type
from core.restore.exec_links import MAX_BINDS, units_of
from core.restore.model import Action, Operation
from core.restore.writes import StepWrite, WriteCall
from emulator.testing import EmulatorHandle, running_emulator
from tests.test_restore_execute import add_member, setup_for, users_of


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=60, seed=7) as h:
        yield h


def new_group(handle: EmulatorHandle, name: str, **extra: Any) -> str:
    status, body = handle.act(
        "POST",
        "/groups",
        {"displayName": name, "mailEnabled": False, "mailNickname": name, "securityEnabled": True, **extra},
    )
    assert status == 201, body
    return str(body["id"])


def writes(handle: EmulatorHandle) -> int:
    return int(handle.counters()["totals"]["writes"])


async def test_members_of_one_group_cost_one_write_per_20(handle: EmulatorHandle, tmp_path: Path) -> None:
    group = new_group(handle, "coalesced")
    users = users_of(handle.dump())[:45]
    async with setup_for(handle, tmp_path) as s:
        plan = await s.plan([add_member(group, u) for u in users])
        request_id = s.request(plan)
        handle.reset_counters()
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert writes(handle) == 3  # ceil(45 / 20)
        assert sorted(handle.dump()["members"][group]) == sorted(users)
        steps = s.journal.steps(request_id)
        assert len(steps) == len(users) and {row.state for row in steps.values()} == {"done"}


async def test_a_batch_is_journaled_in_two_transactions(handle: EmulatorHandle, tmp_path: Path) -> None:
    # Started before the $batch is sent, ended after its answer: one commit each way, not one per step.
    group = new_group(handle, "journaled")
    users = users_of(handle.dump())[:45]
    async with setup_for(handle, tmp_path) as s:
        plan = await s.plan([add_member(group, u) for u in users])
        request_id = s.request(plan)
        catalog = s.journal.catalog
        opened = 0
        writing = catalog.writing

        def counted() -> AbstractContextManager[Connection]:
            nonlocal opened
            opened += 1
            return writing()

        catalog.writing = counted  # type: ignore[method-assign]
        result = await s.executor().run(plan, request_id=request_id)
        catalog.writing = writing  # type: ignore[method-assign]
        assert result.status == "succeeded", result.to_json()
        assert opened == 2
        assert {row.state for row in s.journal.steps(request_id).values()} == {"done"}


async def test_a_link_already_there_falls_back_to_single_adds(handle: EmulatorHandle, tmp_path: Path) -> None:
    group = new_group(handle, "halfdone")
    users = users_of(handle.dump())[:MAX_BINDS]
    status, _ = handle.act(
        "POST",
        f"/groups/{group}/members/$ref",
        {"@odata.id": f"https://graph/v1.0/directoryObjects/{users[3]}"},
    )
    assert status == 204
    async with setup_for(handle, tmp_path) as s:
        plan = await s.plan([add_member(group, u) for u in users])
        request_id = s.request(plan)
        handle.reset_counters()
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        # The PATCH is refused whole (not a write); 19 single adds land, the 20th finds its link there.
        assert writes(handle) == MAX_BINDS - 1
        assert sorted(handle.dump()["members"][group]) == sorted(users)
        assert {row.state for row in s.journal.steps(request_id).values()} == {"done"}


async def test_one_bad_link_does_not_fail_the_good_ones(handle: EmulatorHandle, tmp_path: Path) -> None:
    group = new_group(handle, "withabadone")
    users = users_of(handle.dump())[:5]
    ghost = "00000000-0000-4000-8000-00000000dead"
    async with setup_for(handle, tmp_path) as s:
        actions = [add_member(group, u) for u in users] + [add_member(group, ghost)]
        plan = await s.plan(actions)
        request_id = s.request(plan)
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "partially_failed"
        steps = s.journal.steps(request_id)
        assert steps[f"add_link:group:{group}:members:{ghost}"].state == "failed"
        assert all(steps[a.key].state == "done" for a in actions[:-1])
        assert sorted(handle.dump()["members"][group]) == sorted(users)


def test_the_emulator_takes_binds_all_or_nothing(handle: EmulatorHandle) -> None:
    group = new_group(handle, "binds")
    users = users_of(handle.dump())

    def bind(ids: list[str]) -> tuple[int, Any]:
        urls = [f"https://graph.microsoft.com/v1.0/directoryObjects/{i}" for i in ids]
        return handle.act("PATCH", f"/groups/{group}", {"members@odata.bind": urls})

    assert bind(users[:2])[0] == 204
    status, body = bind(users[1:4])  # users[1] is a member already
    assert status == 400 and "already exist" in body["error"]["message"]
    assert sorted(handle.dump()["members"][group]) == sorted(users[:2])
    assert bind(users[2 : 3 + MAX_BINDS])[0] == 400  # 21 references
    dynamic = new_group(
        handle,
        "dyn",
        groupTypes=["DynamicMembership"],
        membershipRule='user.department -eq "x"',
        membershipRuleProcessingState="On",
    )
    urls = [f"https://graph.microsoft.com/v1.0/directoryObjects/{users[0]}"]
    assert handle.act("PATCH", f"/groups/{dynamic}", {"members@odata.bind": urls})[0] == 400


def _write(group: str, rel: str, target: str, kind: str = "group") -> StepWrite:
    action = Action(
        key=f"add_link:{kind}:{group}:{rel}:{target}",
        operation=Operation.ADD_LINK,
        object_type=kind,
        object_id=group,
        display_name=group,
        relationship=rel,
        target_type="user",
        target_id=target,
    )
    call = WriteCall(
        "POST", f"/{kind}s/{group}/{rel}/$ref", {"@odata.id": f"https://g/v1.0/directoryObjects/{target}"}
    )
    return StepWrite(action, object_type(kind), (call,), False, {})


def test_units_chunk_per_group_and_relationship() -> None:
    level = [_write("g1", "members", f"u{i}") for i in range(45)]
    level += [_write("g1", "owners", "o1"), _write("g1", "owners", "o2"), _write("g2", "members", "lonely")]
    level += [_write("a1", "owners", f"x{i}", kind="application") for i in range(3)]
    units = units_of(level)
    patches = [u for u in units if u.call.method == "PATCH"]
    assert [len(u.writes) for u in patches] == [20, 20, 5, 2]
    assert patches[0].call.path == "/groups/g1"
    assert patches[0].call.body == {
        "members@odata.bind": [f"https://g/v1.0/directoryObjects/u{i}" for i in range(20)]
    }
    assert patches[3].call.body == {
        "owners@odata.bind": ["https://g/v1.0/directoryObjects/o1", "https://g/v1.0/directoryObjects/o2"]
    }
    singles = [u for u in units if u.call.method == "POST"]
    assert [u.writes[0].action.target_id for u in singles] == ["lonely", "x0", "x1", "x2"]
    assert sum(len(u.writes) for u in units) == len(level)
