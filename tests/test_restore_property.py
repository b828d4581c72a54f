"""Property: whatever mix of deletions, edits and removed members hits a tenant, one restore of its users and
groups brings the emulator back to the snapshot (modulo the ids recreated objects got)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.restore.executor import RestoreExecutor
from core.restore.graph_live import GraphLiveTenant
from core.restore.journal import Journal
from core.restore.model import Operation
from core.restore.planner import plan_restore
from emulator.testing import EmulatorHandle, running_emulator
from tests.restore_helpers import mismatches, new_request, restore_rig

Incident = tuple[str, int, int]  # (kind, user index, group index)
INCIDENTS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "hard-delete", "modify", "remove-member"]),
        st.integers(0, 1000),
        st.integers(0, 1000),
    ),
    min_size=1,
    max_size=5,
)


def cloud_users(dump: dict[str, Any]) -> list[str]:
    return sorted(i for i, u in dump["objects"]["users"].items() if not u.get("onPremisesSyncEnabled"))


def assigned_groups(dump: dict[str, Any]) -> list[str]:
    return sorted(
        i
        for i, g in dump["objects"]["groups"].items()
        if dump["members"].get(i)
        and "DynamicMembership" not in g["groupTypes"]
        and not g["onPremisesSyncEnabled"]
    )


def stage(handle: EmulatorHandle, incidents: list[Incident]) -> None:
    for kind, u, g in incidents:
        dump = handle.dump()
        users, groups = cloud_users(dump), assigned_groups(dump)
        if kind == "remove-member" and groups:
            gid = groups[g % len(groups)]
            members = sorted(dump["members"][gid])
            handle.incident("remove-members", "group", gid, member_ids=[members[u % len(members)]])
        elif kind == "modify" and users:
            handle.incident("modify", "user", users[u % len(users)], patch={"jobTitle": f"Changed {u}"})
        elif kind in ("delete", "hard-delete") and users:
            handle.incident(kind, "user", users[u % len(users)])


async def restore_all(handle: EmulatorHandle, incidents: list[Incident], tmp: Path) -> list[str]:
    async with restore_rig(handle, tmp) as r:
        snapshot = (await r.backup()).snapshot_id
        reader = r.reader(snapshot)
        refs = [f"user/{e.id}" for e in reader.entries("user")] + [
            f"group/{e.id}" for e in reader.entries("group")
        ]
        stage(handle, incidents)
        live = GraphLiveTenant(r.graph)
        plan = await plan_restore(
            tenant_id=handle.tenant_id,
            catalog=r.catalog,
            repository=r.repo,
            live=live,
            selector="objects " + ",".join(refs),
        )
        executor = RestoreExecutor(graph=r.graph, live=live, journal=Journal(r.catalog), lag_delay_s=0.01)
        result = await executor.run(plan, request_id=new_request(r.catalog, plan))
        assert result.status == "succeeded", [
            o for o in result.outcomes if o.status in ("failed", "mismatch")
        ]
        # Objects the plan skipped with a stated reason (synced from on-premises) are not restored.
        skipped = {a.object_id for a in plan.actions if a.operation is Operation.SKIP}
        kept = [ref.split("/", 1)[1] for ref in refs if ref.split("/", 1)[1] not in skipped]
        return mismatches(handle.dump(), reader, new_ids=result.new_ids, types=["user", "group"], ids=kept)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(incidents=INCIDENTS)
def test_random_incidents_are_undone(incidents: list[Incident]) -> None:
    with running_emulator(users=12, seed=7) as handle, tempfile.TemporaryDirectory() as tmp:
        assert asyncio.run(restore_all(handle, incidents, Path(tmp))) == []
