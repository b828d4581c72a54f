"""``rewind restore`` and ``rewind audit`` end to end: the real CLI in subprocesses against the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.catalog import Catalog
from core.catalog.models import RESTORE_REQUESTS
from emulator.testing import EmulatorHandle, running_emulator
from tests.cli_helpers import as_json, env_for, rewind


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=30, seed=21) as handle:
        yield handle


@pytest.fixture(scope="module")
def world(tenant: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One backup history shared by the tests: two groups sharing a name, then a group made after it."""
    tmp = tmp_path_factory.mktemp("cli-restore")
    env = env_for(tenant, tmp, COLUMNS="200")
    for _ in range(2):
        made = new_group(tenant, "Duplicate Team")
        assert made
    first = as_json(env, "backup")
    later = new_group(tenant, f"Made later {uuid.uuid4().hex[:6]}")
    as_json(env, "backup")
    users = tenant.dump()["objects"]["users"]
    ids = sorted(users)
    return {
        "env": env,
        "tmp": tmp,
        "first": first["snapshot_id"],
        "later": later,
        "alice": users[ids[0]]["userPrincipalName"],
        "bob": users[ids[1]]["userPrincipalName"],
        "victims": ids[-3:],
        "users": users,
    }


def new_group(handle: EmulatorHandle, name: str) -> str:
    nickname = f"g{uuid.uuid4().hex[:8]}"
    body = {"displayName": name, "mailEnabled": False, "mailNickname": nickname, "securityEnabled": True}
    status, group = handle.act("POST", "/groups", body)
    assert status == 201, group
    return str(group["id"])


def one_line_error(result: Any) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


def test_plan_preview_and_json(tenant: EmulatorHandle, world: dict[str, Any]) -> None:
    env, victim = world["env"], world["victims"][0]
    upn = world["users"][victim]["userPrincipalName"]
    tenant.incident("delete", "user", victim)  # the planner compares the snapshot with the live tenant
    csv_file = world["tmp"] / "plan.csv"
    preview = rewind(env, "restore", "plan", upn, "--from", world["first"], "--csv", str(csv_file)).stdout
    assert "restore deleted" in preview and "Full plan:" in preview and "plan hash" in preview
    assert world["users"][victim]["displayName"] in preview
    plan = as_json(env, "restore", "plan", upn, "--from", world["first"])
    assert len(plan["plan_hash"]) == 64 and plan["snapshot_id"] == world["first"]
    assert [(a["operation"], a["object_id"]) for a in plan["actions"]] == [("restore_deleted", victim)]
    assert "restore_deleted" in csv_file.read_text() and str(csv_file) in preview.replace("\n", "")


def test_bad_input_is_one_line_each(world: dict[str, Any]) -> None:
    env = world["env"]
    unknown = one_line_error(rewind(env, "restore", "plan", "no-such-object-anywhere", check=False))
    assert "no-such-object-anywhere" in unknown
    ambiguous = one_line_error(rewind(env, "restore", "plan", "Duplicate Team", check=False))
    assert "Duplicate Team" in ambiguous and "id" in ambiguous
    missing = one_line_error(
        rewind(env, "restore", "plan", world["later"], "--from", world["first"], check=False)
    )
    assert world["first"][:8] in missing
    unknown_request = one_line_error(
        rewind(env, "restore", "approve", "feedbeef", "--as", world["bob"], check=False)
    )
    assert "no restore request matches 'feedbeef'" in unknown_request


def test_expired_request_is_refused_in_one_line(tenant: EmulatorHandle, world: dict[str, Any]) -> None:
    env, victim = world["env"], world["victims"][1]
    tenant.incident("modify", "user", victim, patch={"jobTitle": "Expiring"})
    made = as_json(env, "restore", "request", victim, "--as", world["alice"])
    # The request's half hour passes.
    with Catalog(f"sqlite:///{world['tmp'] / 'data' / 'rewind.db'}") as catalog, catalog.writing() as conn:
        table = RESTORE_REQUESTS
        past = datetime.now(UTC) - timedelta(minutes=1)
        conn.execute(table.update().where(table.c.request_id == made["id"]).values(expires_at=past))
    expired = one_line_error(
        rewind(env, "restore", "approve", made["id"][:8], "--as", world["bob"], check=False)
    )
    assert "expired" in expired and "request the restore again" in expired
    assert as_json(env, "restore", "status", made["id"][:8])["state"] == "expired"


def test_request_refused_self_approval_then_second_person_restores(
    tenant: EmulatorHandle, world: dict[str, Any]
) -> None:
    env, victim = world["env"], world["victims"][2]
    tenant.incident("delete", "user", victim)
    made = as_json(env, "restore", "request", victim, "--as", world["alice"])
    assert made["state"] == "pending" and made["required_approvals"] == 1
    short = made["id"][:8]
    self_approval = one_line_error(
        rewind(env, "restore", "approve", short, "--as", world["alice"], check=False)
    )
    assert "cannot approve" in self_approval
    assert victim not in tenant.dump()["objects"]["users"]

    approved = rewind(env, "restore", "approve", short, "--as", world["bob"])
    assert "restored" in approved.stdout and "succeeded" in approved.stdout
    assert victim in tenant.dump()["objects"]["users"]  # checked in the tenant, not in Rewind's report
    status = as_json(env, "restore", "status", short)
    assert status["state"] == "succeeded" and status["result"]["outcomes"][0]["status"] == "restored"

    audit = as_json(env, "audit", "--verify")
    assert audit["verified"] is True and audit["problems"] == []
    trail = audit["events"]
    mine = [(e["event"], e["actor"]) for e in trail if e["request_id"] == made["id"]]
    assert [event for event, _ in mine] == ["requested", "refused", "approved", "executing", "succeeded"]
    assert mine[2][1] != mine[0][1] and mine[3][1] == "rewind"
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)
