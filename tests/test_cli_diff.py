"""``rewind diff`` and ``rewind history`` end to end: the real CLI in subprocesses against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import EmulatorHandle, running_emulator
from tests.cli_helpers import as_json, env_for, rewind

ASSIGNMENTS = ("roleAssignments", "roleEligibilitySchedules", "appRoleAssignments", "oauth2PermissionGrants")


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=120, seed=8) as handle:
        yield handle


def quiet_user(dump: dict[str, Any], exclude: set[str]) -> str:
    """A user whose deletion changes nothing else: no memberships, reports, ownerships or assignments."""
    objects = dump["objects"]
    linked = {m for members in [*dump["members"].values(), *dump["owners"].values()] for m in members}
    linked |= set(dump["manager"]) | set(dump["manager"].values())
    linked |= {a.get("principalId") for name in ASSIGNMENTS for a in objects.get(name, {}).values()}
    return next(u for u in sorted(objects["users"]) if u not in linked and u not in exclude)


def cloud_group_with_members(dump: dict[str, Any]) -> tuple[str, str]:
    groups = dump["objects"]["groups"]
    for gid in sorted(groups):
        group, members = groups[gid], dump["members"].get(gid, [])
        dynamic = "DynamicMembership" in group.get("groupTypes", [])
        if members and not dynamic and not group.get("onPremisesSyncEnabled"):
            return gid, sorted(members)[0]
    raise AssertionError("the generated tenant has no static cloud group with members")


def test_diff_live_and_history(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path, COLUMNS="250")
    dump = tenant.dump()
    users = dump["objects"]["users"]
    actor_id = sorted(users)[0]
    actor = users[actor_id]["userPrincipalName"]
    policy = next(
        p
        for p, body in sorted(dump["objects"]["conditionalAccessPolicies"].items())
        if body["state"] == "enabled"
    )
    group, member = cloud_group_with_members(dump)
    victim = quiet_user(dump, {actor_id, member})

    first = as_json(env, "backup")
    tenant.incident("modify", "conditionalAccessPolicy", policy, patch={"state": "disabled"}, actor=actor)
    tenant.incident("delete", "user", victim, actor=actor)
    tenant.incident("remove-members", "group", group, member_ids=[member], actor=actor)
    second = as_json(env, "backup")

    report = as_json(env, "diff", first["snapshot_id"], "latest")
    assert report["from"] == {**report["from"], "id": first["snapshot_id"], "kind": "full", "live": False}
    assert report["to"]["id"] == second["snapshot_id"] and report["to"]["live"] is False
    changes = {(c["type"], c["id"], c["change"]): c for c in report["changes"]}
    assert set(changes) == {
        ("conditionalAccessPolicy", policy, "modified"),
        ("user", victim, "removed"),
        ("group", group, "modified"),
    }
    for change in report["changes"]:
        assert {"type", "id", "display_name", "change", "fields"} <= set(change)
    ca = changes[("conditionalAccessPolicy", policy, "modified")]
    assert {"path": "state", "old": "enabled", "new": "disabled"} in ca["fields"]
    assert {f["path"] for f in ca["fields"]} <= {"state", "modifiedDateTime"}
    assert ca["display_name"] == dump["objects"]["conditionalAccessPolicies"][policy]["displayName"]
    removed = changes[("user", victim, "removed")]
    assert removed["removed_reason"] == "soft_deleted" and removed["fields"] == []
    assert removed["display_name"] == users[victim]["displayName"]
    link = changes[("group", group, "modified")]
    assert link["fields"] == []
    assert link["relationship"] == {
        "name": "members",
        "added": [],
        "removed": [member],
        "names": {member: users[member]["displayName"]},
    }
    assert report["counts"] == {
        "conditionalAccessPolicy": {"added": 0, "removed": 0, "modified": 1},
        "group": {"added": 0, "removed": 0, "modified": 1},
        "user": {"added": 0, "removed": 1, "modified": 0},
    }
    narrowed = as_json(
        env, "diff", first["snapshot_id"][:8], "latest", "--type", "group,users", "--id", victim
    )
    assert [(c["type"], c["id"]) for c in narrowed["changes"]] == [("user", victim)]

    human = rewind(env, "diff", first["snapshot_id"], "latest").stdout
    assert human.index("Conditional Access policies") < human.index("users")  # most significant first
    assert "state: 'enabled' -> 'disabled'" in human
    assert "removed (soft-deleted)" in human
    assert f"members: -{users[member]['displayName']}" in human

    # "1h ago", with the clock pinned an hour after the moment between the two backups
    taken = [datetime.fromisoformat(report[side]["created_at"]) for side in ("from", "to")]
    between = taken[0] + (taken[1] - taken[0]) / 2
    pinned = {**env, "REWIND_NOW": (between + timedelta(hours=1)).isoformat()}
    hour_ago = as_json(pinned, "diff", "1h", "ago", "latest")
    assert hour_ago["from"]["id"] == first["snapshot_id"] and hour_ago["changes"] == report["changes"]
    too_early = rewind(env, "diff", "1h ago", "latest", check=False)
    assert too_early.returncode == 2 and too_early.stderr.count("\n") == 1
    assert f"oldest is {first['snapshot_id'][:12]}" in too_early.stderr

    # live: a snapshot taken now, diffed against the latest stored one
    renamed = sorted(u for u in users if u not in {victim, actor_id, member})[0]
    tenant.incident("modify", "user", renamed, patch={"jobTitle": "Chief Rewind Officer"}, actor=actor)
    live = as_json(env, "diff", "latest", "live")
    assert live["from"]["id"] == second["snapshot_id"] and live["to"]["live"] is True
    assert live["to"]["id"] not in {first["snapshot_id"], second["snapshot_id"]}
    assert [(c["type"], c["id"], c["change"]) for c in live["changes"]] == [("user", renamed, "modified")]
    assert live["changes"][0]["fields"] == [
        {"path": "jobTitle", "old": users[renamed].get("jobTitle"), "new": "Chief Rewind Officer"}
    ]

    # history: by UPN, then the deleted user
    upn = users[renamed]["userPrincipalName"]
    traced = as_json(env, "history", upn)
    assert traced["object"]["id"] == renamed and traced["object"]["type"] == "user"
    versions = traced["versions"]
    assert [v["event"] for v in versions] == ["existing", "modified"]
    assert versions[0]["snapshot_id"] == first["snapshot_id"] and versions[1]["current"] is True
    assert versions[1]["snapshot_id"] == live["to"]["id"]
    assert versions[1]["fields"] == live["changes"][0]["fields"]
    gone = rewind(env, "history", users[victim]["userPrincipalName"]).stdout
    assert "existing" in gone and "removed (soft-deleted)" in gone and second["snapshot_id"][:12] in gone

    # a second user takes the first one's display name: the live diff says so, and the name is now ambiguous
    namesake = sorted(u for u in users if u not in {victim, actor_id, member, renamed})[0]
    name = users[renamed]["displayName"]
    tenant.incident("modify", "user", namesake, patch={"displayName": name}, actor=actor)
    said = rewind(env, "diff", "latest", "live").stdout
    assert (
        "took a live incremental snapshot" in said
        and f"displayName: '{users[namesake]['displayName']}'" in said
    )
    assert [s["id"] for s in as_json(env, "snapshots")][1] == live["to"]["id"]
    ambiguous = rewind(env, "history", name, check=False)
    assert ambiguous.returncode == 2 and ambiguous.stderr.count("\n") == 1, ambiguous.stderr
    assert f"user {renamed}" in ambiguous.stderr and f"user {namesake}" in ambiguous.stderr
