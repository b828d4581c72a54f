"""Plan and run restores against the emulator; afterwards its state equals the snapshot modulo new ids."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.restore.executor import RestoreExecutor, RestoreResult
from core.restore.graph_live import GraphLiveTenant
from core.restore.journal import Journal
from core.restore.model import Operation, Plan
from core.restore.planner import plan_restore
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import Rig
from tests.restore_helpers import mismatches, new_request, restore_rig
from tests.test_restore_plan import cloud_users, group_in_policy


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=20, seed=5) as h:
        yield h


@pytest.fixture
async def rig(handle: EmulatorHandle, tmp_path: Path) -> AsyncIterator[Rig]:
    async with restore_rig(handle, tmp_path) as r:
        await r.backup()
        yield r


async def plan_and_run(r: Rig, selector: str) -> tuple[Plan, RestoreResult]:
    live = GraphLiveTenant(r.graph)
    plan = await plan_restore(
        tenant_id=r.handle.tenant_id, catalog=r.catalog, repository=r.repo, live=live, selector=selector
    )
    executor = RestoreExecutor(graph=r.graph, live=live, journal=Journal(r.catalog), lag_delay_s=0.01)
    result = await executor.run(plan, request_id=new_request(r.catalog, plan))
    return plan, result


def snapshot_matches(r: Rig, plan: Plan, result: RestoreResult, **kw: Any) -> list[str]:
    return mismatches(r.handle.dump(), r.reader(plan.snapshot_id), new_ids=result.new_ids, **kw)


async def test_soft_deleted_users_come_back_with_their_ids(rig: Rig, handle: EmulatorHandle) -> None:
    users = sorted(cloud_users(handle.dump()))[:3]
    for uid in users:
        handle.incident("delete", "user", uid)
    plan, result = await plan_and_run(rig, "deleted")
    assert {a.object_id for a in plan.actions if a.operation is Operation.RESTORE_DELETED} == set(users)
    assert result.status == "succeeded" and result.new_ids == {}
    assert snapshot_matches(rig, plan, result) == []


async def test_hard_deleted_group_in_a_policy_is_recreated_and_rewired(
    rig: Rig, handle: EmulatorHandle
) -> None:
    gid, policy_id = group_in_policy(handle.dump())
    handle.incident("hard-delete", "group", gid)
    plan, result = await plan_and_run(rig, f"group:{gid}")
    assert result.status == "succeeded"
    new_id = result.new_ids[gid]
    assert new_id != gid
    policy = handle.dump()["objects"]["conditionalAccessPolicies"][policy_id]
    assert new_id in str(policy["conditions"]["users"]) and gid not in str(policy["conditions"]["users"])
    assert snapshot_matches(rig, plan, result) == []


async def test_deleted_policy_and_named_location_come_back(rig: Rig, handle: EmulatorHandle) -> None:
    dump = handle.dump()
    locations = dump["objects"]["namedLocations"]
    policy_id, location_id = next(
        (pid, loc)
        for pid, policy in sorted(dump["objects"]["conditionalAccessPolicies"].items())
        for loc in ((policy["conditions"].get("locations") or {}).get("includeLocations") or [])
        if loc in locations
    )
    handle.incident("hard-delete", "conditionalAccessPolicy", policy_id)
    handle.incident("hard-delete", "namedLocation", location_id)
    plan, result = await plan_and_run(
        rig, f"objects conditionalAccessPolicy/{policy_id},namedLocation/{location_id}"
    )
    creates = [a.object_type for a in plan.actions if a.operation is Operation.RECREATE]
    assert creates == ["namedLocation", "conditionalAccessPolicy"]
    assert result.status == "succeeded"
    restored = handle.dump()["objects"]["conditionalAccessPolicies"][result.new_ids[policy_id]]
    assert restored["state"] in (
        "enabledForReportingButNotEnforced",
        dump["objects"]["conditionalAccessPolicies"][policy_id]["state"],
    )
    assert result.new_ids[location_id] in str(restored["conditions"]["locations"])
    assert snapshot_matches(rig, plan, result, ignore={"conditionalAccessPolicy": ["state"]}) == []


async def test_application_with_service_principal_assignments_and_grants(
    rig: Rig, handle: EmulatorHandle
) -> None:
    dump = handle.dump()
    sps = dump["objects"]["servicePrincipals"]
    assigned = {a["resourceId"] for a in dump["objects"]["appRoleAssignments"].values()}
    granted = {g["clientId"] for g in dump["objects"]["oauth2PermissionGrants"].values()}
    apps = {a["appId"]: i for i, a in dump["objects"]["applications"].items()}
    sp_id = next(i for i in sorted(sps) if i in assigned | granted and sps[i]["appId"] in apps)
    app_id = apps[sps[sp_id]["appId"]]
    handle.incident("hard-delete", "servicePrincipal", sp_id)
    handle.incident("hard-delete", "application", app_id)
    plan, result = await plan_and_run(rig, "deleted")
    kinds = [a.object_type for a in plan.actions if a.operation is Operation.RECREATE]
    assert kinds.index("application") < kinds.index("servicePrincipal")
    assert "new_app_id" in {w.code for w in plan.warnings}
    assert result.status == "succeeded", [o for o in result.outcomes if o.status != "recreated"]
    found = snapshot_matches(rig, plan, result)
    assert found == [], "\n".join(found)


async def test_attribute_changes_are_reverted(rig: Rig, handle: EmulatorHandle) -> None:
    users = sorted(cloud_users(handle.dump()))[:2]
    for uid in users:
        handle.incident("modify", "user", uid, patch={"jobTitle": "Changed", "department": "Elsewhere"})
    plan, result = await plan_and_run(rig, "all users")
    assert sorted(a.object_id for a in plan.actions) == users
    assert {a.operation for a in plan.actions} == {Operation.PATCH}
    assert result.status == "succeeded"
    assert snapshot_matches(rig, plan, result, types=["user"]) == []
