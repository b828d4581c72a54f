"""Restore plans against the emulator: selectors and their errors, and the decision per object."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.restore.errors import AmbiguousSelector, NotInSnapshot, SelectorError
from core.restore.graph_live import GraphLiveTenant, principal_of_assignment
from core.restore.live import ObjectRef, Presence
from core.restore.model import Operation, Plan, Risk
from core.restore.plan_bodies import GENERATED_PASSWORD, REPORT_ONLY
from core.restore.planner import PlanOptions, plan_restore
from core.restore.selectors import USAGE, parse_selector
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import Rig
from tests.restore_helpers import restore_rig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=20, seed=3) as h:
        yield h


@pytest.fixture
async def rig(handle: EmulatorHandle, tmp_path: Path) -> AsyncIterator[Rig]:
    async with restore_rig(handle, tmp_path) as r:
        await r.backup()
        yield r


async def plan(r: Rig, selector: str, **kw: Any) -> Plan:
    return await plan_restore(
        tenant_id=r.handle.tenant_id,
        catalog=r.catalog,
        repository=r.repo,
        live=GraphLiveTenant(r.graph),
        selector=selector,
        now=NOW,
        **kw,
    )


def cloud_users(dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        i: u
        for i, u in dump["objects"]["users"].items()
        if not u.get("onPremisesSyncEnabled") and not u["userPrincipalName"].startswith("breakglass")
    }


def group_in_policy(dump: dict[str, Any]) -> tuple[str, str]:
    """A cloud security group with members that a CA policy names, and that policy."""
    groups = dump["objects"]["groups"]
    for policy_id, policy in sorted(dump["objects"]["conditionalAccessPolicies"].items()):
        users = (policy.get("conditions") or {}).get("users") or {}
        for gid in (users.get("includeGroups") or []) + (users.get("excludeGroups") or []):
            g = groups.get(gid)
            if g is None or not dump["members"].get(gid) or not g["securityEnabled"] or g["mailEnabled"]:
                continue
            if "DynamicMembership" not in g["groupTypes"] and not g.get("onPremisesSyncEnabled"):
                return gid, policy_id
    raise AssertionError("the emulator tenant has no CA policy naming a cloud security group")


def ops(p: Plan) -> list[tuple[str, str, str]]:
    return [(a.operation.value, a.object_type, a.object_id) for a in p.actions]


# --- selector syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        ("alice@contoso.com", "object", "alice@contoso.com"),
        ('"Finance Team"', "object", "Finance Team"),
        ("group:Finance Team", "object", "Finance Team"),
        ("type conditionalAccessPolicy", "type", "conditionalAccessPolicy"),
        ("all conditional access policies", "type", "conditionalAccessPolicy"),
        ("ALL Conditional Access Policy", "type", "conditionalAccessPolicy"),
        ("all users", "type", "user"),
        ("deleted", "deleted", ""),
    ],
)
def test_selectors_parse(text: str, kind: str, detail: str) -> None:
    parsed = parse_selector(text)
    assert parsed.kind == kind
    assert parsed.text == detail


def test_selector_typed_object_keeps_its_type() -> None:
    assert parse_selector("user:alice@contoso.com").type_name == "user"
    assert parse_selector("deleted since 1h").since == "1h"
    assert parse_selector("objects user/u1, group/g1").refs == (("user", "u1"), ("group", "g1"))
    assert parse_selector("alert a1b2c3d4 e5f6a7b8").window == ("a1b2c3d4", "e5f6a7b8")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "type",
        "type gizmos",
        "all",
        "deleted yesterday",
        "objects user",
        "objects widget/1",
        "alert one",
        '"x',
    ],
)
def test_bad_syntax_is_one_line_with_the_usage(text: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith(USAGE)


# --- selector resolution -------------------------------------------------------------------------------


async def test_unknown_object_names_the_way_out(rig: Rig) -> None:
    with pytest.raises(SelectorError) as caught:
        await plan(rig, "nobody-by-this-name")
    message = str(caught.value)
    assert "no object called 'nobody-by-this-name'" in message and "rewind history" in message
    assert "\n" not in message


async def test_ambiguous_name_lists_candidates_by_id(rig: Rig, handle: EmulatorHandle) -> None:
    users = cloud_users(handle.dump())
    first, second = sorted(users)[:2]
    for uid in (first, second):
        status, _ = handle.act("PATCH", f"/users/{uid}", {"displayName": "Sam Twin"})
        assert status == 204
    await rig.backup()
    with pytest.raises(AmbiguousSelector) as caught:
        await plan(rig, "Sam Twin")
    assert len(caught.value.candidates) == 2
    assert all(c.startswith("user ") for c in caught.value.candidates)
    assert first in str(caught.value) and "by its id" in str(caught.value)
    by_id = await plan(rig, first)  # the id disambiguates
    assert by_id.counts() == {} and by_id.options["unchanged"] == 1


async def test_object_missing_from_the_chosen_snapshot(rig: Rig, handle: EmulatorHandle) -> None:
    first = (await rig.backup()).snapshot_id
    status, created = handle.act(
        "POST",
        "/groups",
        {"displayName": "Late Group", "mailEnabled": False, "mailNickname": "late", "securityEnabled": True},
    )
    assert status == 201
    await rig.backup()
    with pytest.raises(NotInSnapshot) as caught:
        await plan(rig, "Late Group", snapshot=first)
    message = str(caught.value)
    assert f"snapshot {first[:8]}" in message and "no group 'Late Group'" in message
    assert "--from" in message
    assert (await plan(rig, f"group:{created['id']}")).counts() == {}


async def test_single_object_defaults_to_the_last_snapshot_holding_it(
    rig: Rig, handle: EmulatorHandle
) -> None:
    uid, user = next(iter(sorted(cloud_users(handle.dump()).items())))
    first = rig.catalog.snapshot(handle.tenant_id, "latest").snapshot_id
    handle.incident("delete", "user", uid)
    await rig.backup()  # the newest snapshot no longer holds the user
    p = await plan(rig, user["userPrincipalName"])
    assert p.snapshot_id == first
    assert ops(p) == [("restore_deleted", "user", uid)]


# --- decisions ------------------------------------------------------------------------------------------


async def test_soft_deleted_user_is_restored_from_the_recycle_bin(rig: Rig, handle: EmulatorHandle) -> None:
    uid, user = next(iter(sorted(cloud_users(handle.dump()).items())))
    handle.incident("delete", "user", uid)
    p = await plan(rig, f"user:{user['userPrincipalName']}")
    assert ops(p) == [("restore_deleted", "user", uid)]
    assert p.actions[0].risk is Risk.LOW
    assert p.live_state[f"user/{uid}"]
    assert p.summary_line().endswith("1 restore deleted")


async def test_hard_deleted_group_in_a_policy(rig: Rig, handle: EmulatorHandle) -> None:
    dump = handle.dump()
    gid, policy_id = group_in_policy(dump)
    members = sorted(dump["members"][gid])
    handle.incident("hard-delete", "group", gid)
    p = await plan(rig, f"group:{gid}")
    recreate = f"recreate:group:{gid}"
    assert p.actions[0].key == recreate
    body = p.actions[0].body or {}
    assert body["displayName"] == dump["objects"]["groups"][gid]["displayName"]
    assert "id" not in body and "securityIdentifier" not in body
    links = {
        a.target_id or "": a for a in p.actions if a.operation is Operation.ADD_LINK and a.object_id == gid
    }
    assert sorted(links) == members
    assert all(a.depends_on == (recreate,) for a in links.values())
    patch = next(a for a in p.actions if a.key == f"patch:conditionalAccessPolicy:{policy_id}")
    assert recreate in patch.depends_on
    assert gid in str(patch.body)  # the old id: the executor rewrites it to the new one
    # People approving see which object the reference will name, not the stale id twice.
    group_name = dump["objects"]["groups"][gid]["displayName"]
    change = next(c for c in patch.changes if gid in c.live)  # the policy still names the purged group
    assert change.snapshot == [f"<new id of group '{group_name}'>" if v == gid else v for v in change.live]
    assert patch.risk is Risk.CRITICAL
    keys = [a.key for a in p.actions]
    assert keys.index(recreate) < keys.index(patch.key)


async def test_deleted_policy_and_named_location_in_dependency_order(
    rig: Rig, handle: EmulatorHandle
) -> None:
    dump = handle.dump()
    locations = dump["objects"]["namedLocations"]
    policy_id, location_id = next(
        (pid, loc)
        for pid, policy in sorted(dump["objects"]["conditionalAccessPolicies"].items())
        for loc in ((policy["conditions"].get("locations") or {}).get("includeLocations") or [])
        + ((policy["conditions"].get("locations") or {}).get("excludeLocations") or [])
        if loc in locations
    )
    handle.incident("delete", "conditionalAccessPolicy", policy_id)
    handle.incident("delete", "namedLocation", location_id)
    p = await plan(rig, f"objects conditionalAccessPolicy/{policy_id},namedLocation/{location_id}")
    restores = [a for a in p.actions if a.operation is Operation.RESTORE_DELETED]
    assert [a.object_type for a in restores] == ["namedLocation", "conditionalAccessPolicy"]
    assert restores[1].risk in (Risk.HIGH, Risk.CRITICAL)


async def test_hard_deleted_policy_comes_back_report_only(rig: Rig, handle: EmulatorHandle) -> None:
    policies = handle.dump()["objects"]["conditionalAccessPolicies"]
    policy_id = next(i for i, p in sorted(policies.items()) if p["state"] == "enabled")
    handle.incident("hard-delete", "conditionalAccessPolicy", policy_id)
    p = await plan(rig, policy_id)
    assert ops(p)[0] == ("recreate", "conditionalAccessPolicy", policy_id)
    assert (p.actions[0].body or {})["state"] == REPORT_ONLY
    assert "report_only" in {w.code for w in p.warnings}
    enforced = await plan(rig, policy_id, options=PlanOptions(ca_report_only=False))
    assert (enforced.actions[0].body or {})["state"] == "enabled"
    assert enforced.options["ca_report_only"] is False


async def test_attribute_change_is_a_patch_with_old_and_new(rig: Rig, handle: EmulatorHandle) -> None:
    uid, user = next(iter(sorted(cloud_users(handle.dump()).items())))
    handle.incident("modify", "user", uid, patch={"jobTitle": "Intern", "accountEnabled": False})
    p = await plan(rig, uid)
    assert ops(p) == [("patch", "user", uid)]
    action = p.actions[0]
    assert action.body == {"accountEnabled": True, "jobTitle": user["jobTitle"]}
    changes = {c.path: (c.live, c.snapshot) for c in action.changes}
    assert changes == {"accountEnabled": (False, True), "jobTitle": ("Intern", user["jobTitle"])}
    assert action.risk is Risk.MEDIUM


async def test_recreated_user_needs_a_password(rig: Rig, handle: EmulatorHandle) -> None:
    uid, user = next(iter(sorted(cloud_users(handle.dump()).items())))
    handle.incident("hard-delete", "user", uid)
    p = await plan(rig, uid)
    body = p.actions[0].body or {}
    assert body["passwordProfile"] == {"password": GENERATED_PASSWORD, "forceChangePasswordNextSignIn": True}
    assert body["userPrincipalName"] == user["userPrincipalName"]
    assert "needs_password" in {w.code for w in p.warnings}


async def test_name_taken_by_another_object_skips_the_recreate(rig: Rig, handle: EmulatorHandle) -> None:
    uid, user = next(iter(sorted(cloud_users(handle.dump()).items())))
    handle.incident("hard-delete", "user", uid)
    status, _ = handle.act(
        "POST",
        "/users",
        {
            "accountEnabled": True,
            "displayName": "Usurper",
            "mailNickname": "usurper",
            "userPrincipalName": user["userPrincipalName"],
            "passwordProfile": {"password": "Xy!12345678abc"},
        },
    )
    assert status == 201
    p = await plan(rig, uid)
    assert ops(p) == [("skip", "user", uid)]
    assert "now used by" in (p.actions[0].reason or "")
    assert "name_taken" in {w.code for w in p.warnings}


async def test_synced_object_is_skipped(rig: Rig, handle: EmulatorHandle) -> None:
    users = handle.dump()["objects"]["users"]
    uid = next(i for i, u in sorted(users.items()) if u.get("onPremisesSyncEnabled"))
    handle.incident("delete", "user", uid)
    p = await plan(rig, uid)
    assert ops(p) == [("skip", "user", uid)]
    assert "on-premises" in (p.actions[0].reason or "")
    assert "synced" in {w.code for w in p.warnings}


async def test_break_glass_exclusion_is_kept(rig: Rig, handle: EmulatorHandle) -> None:
    dump = handle.dump()
    users = dump["objects"]["users"]
    glass = next(i for i, u in sorted(users.items()) if u["userPrincipalName"].startswith("breakglass"))
    policy_id, policy = next(
        (i, p)
        for i, p in sorted(dump["objects"]["conditionalAccessPolicies"].items())
        if glass in (p["conditions"]["users"].get("excludeUsers") or [])
    )
    excluded = list(policy["conditions"]["users"]["excludeUsers"])
    # The snapshot is taken without the break-glass exclusion; since then it was put back, plus a new state.
    conditions = {**policy["conditions"], "users": {**policy["conditions"]["users"], "excludeUsers": []}}
    assert (
        handle.act("PATCH", f"/identity/conditionalAccess/policies/{policy_id}", {"conditions": conditions})[
            0
        ]
        < 300
    )
    await rig.backup()
    restored = {**policy["conditions"], "users": {**policy["conditions"]["users"], "excludeUsers": excluded}}
    body = {"conditions": restored, "state": "disabled"}
    assert handle.act("PATCH", f"/identity/conditionalAccess/policies/{policy_id}", body)[0] < 300
    upn = users[glass]["userPrincipalName"]
    p = await plan(rig, policy_id, options=PlanOptions(break_glass=(upn,)))
    patch = p.actions[0]
    assert patch.operation is Operation.PATCH
    assert glass in patch.body["conditions"]["users"]["excludeUsers"]  # type: ignore[index]
    assert patch.body["state"] == policy["state"]  # type: ignore[index]
    assert "break_glass_kept" in {w.code for w in p.warnings}
    assert glass in p.options["break_glass"]
    unguarded = await plan(rig, policy_id)
    assert glass not in unguarded.actions[0].body["conditions"]["users"]["excludeUsers"]  # type: ignore[index]


async def test_member_added_since_is_removed(rig: Rig, handle: EmulatorHandle) -> None:
    dump = handle.dump()
    gid, _ = group_in_policy(dump)
    outsider = next(u for u in sorted(cloud_users(dump)) if u not in dump["members"][gid])
    body = {"@odata.id": f"{handle.graph_url}/v1.0/directoryObjects/{outsider}"}
    assert handle.act("POST", f"/groups/{gid}/members/$ref", body)[0] == 204
    p = await plan(rig, gid)
    assert [(a.operation, a.target_id, a.target_type) for a in p.actions] == [
        (Operation.REMOVE_LINK, outsider, "user")
    ]


async def test_unchanged_category_needs_nothing(rig: Rig) -> None:
    p = await plan(rig, "all conditional access policies")
    assert p.actions == ()
    assert p.options["unchanged"] == 13
    assert p.summary_line().endswith("nothing to do")


async def test_domains_are_never_written(rig: Rig, handle: EmulatorHandle) -> None:
    p = await plan(rig, "type domain")
    assert p.actions == ()  # unchanged domains need nothing; a changed one would be a skip
    assert p.options["unchanged"] == len(handle.dump()["objects"]["domains"])


async def test_deleted_since_finds_only_what_is_gone(rig: Rig, handle: EmulatorHandle) -> None:
    dump = handle.dump()
    uid = sorted(cloud_users(dump))[0]
    gid, _ = group_in_policy(dump)
    handle.incident("delete", "user", uid)
    handle.incident("hard-delete", "group", gid)
    p = await plan(rig, "deleted since 1h")
    created = {
        (a.operation.value, a.object_type, a.object_id)
        for a in p.actions
        if a.operation.value
        in (
            "restore_deleted",
            "recreate",
        )
    }
    assert created == {("restore_deleted", "user", uid), ("recreate", "group", gid)}


async def test_plan_hash_is_stable_and_follows_the_live_state(rig: Rig, handle: EmulatorHandle) -> None:
    gid, policy_id = group_in_policy(handle.dump())
    handle.incident("hard-delete", "group", gid)
    first, second = await plan(rig, "deleted"), await plan(rig, "deleted")
    assert first.plan_hash == second.plan_hash
    assert f"conditionalAccessPolicy/{policy_id}" in first.live_state  # read live: its reference is rewritten
    status, _ = handle.act(
        "PATCH", f"/identity/conditionalAccess/policies/{policy_id}", {"displayName": "Renamed"}
    )
    assert status < 300
    assert (await plan(rig, "deleted")).plan_hash != first.plan_hash  # a policy the plan rewrites changed


async def test_plan_round_trips_and_exports_csv(rig: Rig, handle: EmulatorHandle) -> None:
    gid, _ = group_in_policy(handle.dump())
    handle.incident("hard-delete", "group", gid)
    p = await plan(rig, f"group:{gid}")
    assert Plan.from_json(p.to_json()) == p
    assert Plan.from_canonical(p.canonical()).plan_hash == p.plan_hash
    rows = list(csv.reader(io.StringIO(p.to_csv())))
    assert len(rows) == 1 + len(p.actions)
    assert [r[1] for r in rows[1:]] == [a.operation.value for a in p.actions]


async def test_live_tenant_batches_reads(rig: Rig, handle: EmulatorHandle) -> None:
    live = GraphLiveTenant(rig.graph)
    users = sorted(handle.dump()["objects"]["users"])
    handle.reset_counters()
    before = rig.graph.metrics.batch_items
    found = await live.fetch_many([ObjectRef("user", u) for u in users] + [ObjectRef("user", "0" * 8)])
    assert [f.presence for f in found[:-1]] == [Presence.PRESENT] * len(users)
    assert found[-1].presence is Presence.ABSENT
    assert all("manager" in f.links for f in found[:-1])
    # $filter=id in (...) with 15 ids a query, in $batch; the id that is no GUID is read on its own.
    assert rig.graph.metrics.batch_items - before == -(-len(users) // 15) + 1
    assert principal_of_assignment("B7GmpiXhH0qwD-yaDjAYYr-KSdocg7hBnWroKN_x7iI") == (
        "a6a6b107-e125-4a1f-b00f-ec9a0e301862"
    )
