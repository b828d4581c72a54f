"""A restore killed at any step resumes from the journal with nothing done twice (checked in the dump)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.graph import BatchRequest, BatchResponse, GraphClient
from core.restore.executor import RestoreExecutor, StepEvent
from core.restore.journal import Journal, StepEnd
from core.restore.model import Plan
from emulator.testing import EmulatorHandle, running_emulator
from tests.test_restore_execute import (
    Setup,
    add_member,
    policy_conditions,
    recreate,
    security_group_in_policy,
    setup_for,
    users_of,
)


class Killed(Exception):
    """Stands for the process dying at this point."""


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=30, seed=11) as h:
        yield h


def incident_plan_parts(handle: EmulatorHandle) -> tuple[str, str, list[str], list[str]]:
    """(group, policy, members, hard-deleted members): a group named by a policy, two of its users gone."""
    dump = handle.dump()
    group, policy = security_group_in_policy(dump)
    cloud = set(users_of(dump))
    members = sorted(dump["members"][group])
    gone = [m for m in members if m in cloud][:2]
    return group, policy, members, gone


def stage(handle: EmulatorHandle, group: str, gone: list[str]) -> None:
    handle.incident("hard-delete", "group", group)
    for user in gone:
        handle.incident("hard-delete", "user", user)


async def build_plan(s: Setup, group: str, policy: str, members: list[str], gone: list[str]) -> Plan:
    users = [recreate(s, "user", u) for u in gone]
    make = recreate(s, "group", group)
    links = [
        add_member(group, m, (make.key, *(f"recreate:user:{m}" for _ in [0] if m in gone))) for m in members
    ]
    patch = policy_conditions(s, policy, make)
    return await s.plan([*users, make, *links, patch])


@dataclass
class Incident:
    """A staged incident and the plan that undoes it, requested and ready to run."""

    s: Setup
    plan: Plan
    request_id: str
    before: dict[str, Any]
    group: str
    gone: list[str]


@asynccontextmanager
async def staged_incident(handle: EmulatorHandle, tmp_path: Path) -> AsyncIterator[Incident]:
    before = handle.dump()
    group, policy, members, gone = incident_plan_parts(handle)
    async with setup_for(handle, tmp_path) as s:
        stage(handle, group, gone)
        plan = await build_plan(s, group, policy, members, gone)
        yield Incident(s, plan, s.request(plan), before, group, gone)


def assert_restored_once(handle: EmulatorHandle, incident: Incident) -> None:
    before, group, gone = incident.before, incident.group, incident.gone
    after = handle.dump()
    name = before["objects"]["groups"][group]["displayName"]
    groups = [gid for gid, g in after["objects"]["groups"].items() if g["displayName"] == name]
    assert len(groups) == 1, f"group recreated {len(groups)} times"
    upns = [u["userPrincipalName"] for u in after["objects"]["users"].values()]
    new_users = []
    for user in gone:
        upn = before["objects"]["users"][user]["userPrincipalName"]
        assert upns.count(upn) == 1, f"{upn} recreated {upns.count(upn)} times"
        new_users.append(
            next(i for i, u in after["objects"]["users"].items() if u["userPrincipalName"] == upn)
        )
    expected = sorted((set(before["members"][group]) - set(gone)) | set(new_users))
    assert sorted(after["members"][groups[0]]) == expected
    policy_groups = [
        p["conditions"]["users"]["includeGroups"]
        for p in after["objects"]["conditionalAccessPolicies"].values()
    ]
    assert any(groups[0] in g for g in policy_groups)
    assert not any(group in g for g in policy_groups)


@pytest.mark.parametrize("kill_after", [1, 2, 4, -1])  # -1: after the last step, before verification
async def test_killed_by_the_progress_callback_resumes_without_duplicates(
    handle: EmulatorHandle, tmp_path: Path, kill_after: int
) -> None:
    async with staged_incident(handle, tmp_path) as incident:
        s, plan, request_id = incident.s, incident.plan, incident.request_id
        done = 0
        if kill_after < 0:
            kill_after = len(plan.actions)

        async def dies(event: StepEvent) -> None:
            nonlocal done
            done += event.state == "done"
            if done >= kill_after:
                raise Killed

        with pytest.raises(Killed):
            await s.executor().run(plan, request_id=request_id, progress=dies)
        assert any(row.state == "done" for row in s.journal.steps(request_id).values())
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert_restored_once(handle, incident)


class DiesAfterWrite:
    """A GraphClient whose Nth $batch reaches Graph and then "crashes" before anyone hears the answer."""

    def __init__(self, graph: GraphClient, die_on: int) -> None:
        self._graph = graph
        self._die_on = die_on
        self._batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    async def batch(self, requests: list[BatchRequest]) -> list[BatchResponse]:
        answers = await self._graph.batch(requests)
        if any(r.method != "GET" for r in requests):
            self._batches += 1
            if self._batches == self._die_on:
                raise Killed
        return answers


@pytest.mark.parametrize("die_on", [1, 2])
async def test_killed_between_the_write_and_its_journal_entry(
    handle: EmulatorHandle, tmp_path: Path, die_on: int
) -> None:
    async with staged_incident(handle, tmp_path) as incident:
        s, plan, request_id = incident.s, incident.plan, incident.request_id
        dying = DiesAfterWrite(s.rig.graph, die_on)
        with pytest.raises(Killed):
            await s.executor(graph=dying).run(plan, request_id=request_id)  # type: ignore[arg-type]
        started = [k for k, row in s.journal.steps(request_id).items() if row.state == "started"]
        assert started, "the crash should leave steps whose effect is unknown"
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert_restored_once(handle, incident)
        assert all(row.state == "done" for row in s.journal.steps(request_id).values())


async def test_a_process_killed_mid_run_resumes(handle: EmulatorHandle, tmp_path: Path) -> None:
    async with staged_incident(handle, tmp_path) as incident:
        s, plan, request_id = incident.s, incident.plan, incident.request_id
        job = tmp_path / "job.json"
        job.write_text(
            json.dumps(
                {
                    "tenant_id": handle.tenant_id,
                    "client_id": handle.client_id,
                    "client_secret": handle.client_secret,
                    "graph_url": handle.graph_url,
                    "ca_path": handle.ca_path,
                    "catalog_url": f"sqlite:///{tmp_path / 'catalog.db'}",
                    "plan": plan.to_json(),
                    "request_id": request_id,
                    "step_delay_s": 0.2,
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
        proc = subprocess.Popen(  # noqa: ASYNC220 - the runner must be a real process to be SIGKILLed
            [sys.executable, "-m", "tests.restore_runner", str(job)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(row.state == "done" for row in s.journal.steps(request_id).values()):
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the runner never finished a step"
                await asyncio.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        assert proc.returncode == -signal.SIGKILL
        steps = s.journal.steps(request_id)
        assert len([r for r in steps.values() if r.state == "done"]) < len(plan.actions)
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert_restored_once(handle, incident)


class JournalDiesAtEnd(Journal):
    """The process dies after a $batch's answer came back, before its steps' ends were committed."""

    def finish_many(self, request_id: str, ends: Iterable[StepEnd]) -> None:
        raise Killed


async def test_killed_in_the_middle_of_coalesced_adds(handle: EmulatorHandle, tmp_path: Path) -> None:
    status, body = handle.act(
        "POST",
        "/groups",
        {"displayName": "Bound", "mailEnabled": False, "mailNickname": "bound", "securityEnabled": True},
    )
    assert status == 201, body
    group, present = str(body["id"]), set[str]()
    users = users_of(handle.dump())
    assert len(users) > 20  # two bind PATCHes: 20 links, then the rest
    async with setup_for(handle, tmp_path) as s:
        plan = await s.plan([add_member(group, u) for u in users])
        request_id = s.request(plan)
        dying = RestoreExecutor(graph=s.rig.graph, live=s.live, journal=JournalDiesAtEnd(s.journal.catalog))
        with pytest.raises(Killed):
            await dying.run(plan, request_id=request_id)
        assert sorted(handle.dump()["members"][group]) == sorted(users)  # both PATCHes landed
        states = [row.state for row in s.journal.steps(request_id).values()]
        assert set(states) == {"started"}, (
            "the kill should leave links whose PATCH landed but were never journaled"
        )
        result = await s.executor().run(plan, request_id=request_id)
        assert result.status == "succeeded", result.to_json()
        assert sorted(handle.dump()["members"][group]) == sorted(present | set(users))
        assert all(row.state == "done" for row in s.journal.steps(request_id).values())
