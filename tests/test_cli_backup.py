"""The repository commands end to end: the real CLI in subprocesses, the emulator over TLS, disk and S3."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.config import EmulatorConfig
from emulator.testing import EmulatorHandle, running_emulator
from tests import s3server
from tests.cli_helpers import as_json, env_for, rewind
from tests.s3server import MotoS3


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=150, seed=5) as handle:
        yield handle


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    yield from s3server.serve()


def test_backup_snapshots_show_export_verify_rebuild_prune(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path)
    first = as_json(env, "backup")
    assert first["kind"] == "full"
    assert set(first) >= {"snapshot_id", "kind", "counts"}
    assert first["counts"]["user"] == len(tenant.dump()["objects"]["users"])
    user_id = sorted(tenant.dump()["objects"]["users"])[0]
    tenant.incident("modify", "user", user_id, patch={"department": "Incident Response"})
    second = as_json(env, "backup")
    assert second["kind"] == "incremental"
    assert second["changed"]["user"] == 1

    listed = as_json(env, "snapshots")
    assert [s["id"] for s in listed] == [second["snapshot_id"], first["snapshot_id"]]
    assert set(listed[0]) == {"id", "created_at", "kind", "counts"}

    summary = as_json(env, "show", first["snapshot_id"][:8])
    assert summary["counts"] == first["counts"]
    users = as_json(env, "show", "latest", "user")
    assert user_id in {u["id"] for u in users}
    obj = as_json(env, "show", "latest", "user", user_id)
    assert obj["object"]["department"] == "Incident Response"
    old = as_json(env, "show", first["snapshot_id"], "users", user_id)
    assert old["object"]["department"] != "Incident Response"

    exported = as_json(env, "export", "latest", "--output", str(tmp_path / "export"))
    lines = (tmp_path / "export" / "user.ndjson").read_text().splitlines()
    assert len(lines) == exported["files"]["user"] == first["counts"]["user"]
    assert any(json.loads(line)["id"] == user_id for line in lines)
    assert exported["files"].get("directoryAudit", 0) > 0

    assert as_json(env, "verify", "--read-data")["ok"] is True

    (tmp_path / "data" / "rewind.db").unlink()  # lose the catalog: the store alone rebuilds it
    rebuilt = as_json(env, "catalog", "rebuild")
    assert rebuilt["snapshots"] == 2
    assert [s["id"] for s in as_json(env, "snapshots")] == [second["snapshot_id"], first["snapshot_id"]]
    third = as_json(env, "backup")
    assert third["kind"] == "incremental"

    pruned = as_json(env, "prune", "--keep-within", "1h")
    assert pruned["forget"] == []
    missing = rewind(env, "show", "latest", "user", "00000000-0000-0000-0000-000000000000", check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_encrypted_repository_and_wrong_passphrase(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path, REWIND_REPOSITORY_PASSPHRASE="correct horse battery staple")
    first = as_json(env, "backup", "--types", "user")
    assert first["counts"]["user"] > 0
    upn = next(iter(tenant.dump()["objects"]["users"].values()))["userPrincipalName"]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data" / "store").rglob("*") if p.is_file())
    assert upn.encode() not in stored and tenant.tenant_id.encode() not in stored.replace(b"/", b"")
    wrong = rewind({**env, "REWIND_REPOSITORY_PASSPHRASE": "nope"}, "show", "latest", check=False)
    assert wrong.returncode == 2
    assert wrong.stderr.strip().count("\n") == 0 and "passphrase" in wrong.stderr


def test_s3_with_compliance_lock_refuses_deletion(tenant: EmulatorHandle, tmp_path: Path, s3: MotoS3) -> None:
    bucket = s3.make_bucket(lock=True)
    env = env_for(
        tenant,
        tmp_path,
        REWIND_STORE_URL=f"s3://{bucket}/rewind",
        REWIND_S3_ENDPOINT_URL=s3.endpoint_url,
        REWIND_S3_LOCK_MODE="compliance",
        REWIND_S3_LOCK_DAYS="1",
        **{k: v for k, v in s3server.CREDENTIALS.items()},
    )
    first = as_json(env, "backup")
    assert first["kind"] == "full"
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    snapshot_key = next(k for k in keys if "/snapshots/" in k)
    head = client.head_object(Bucket=bucket, Key=snapshot_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=bucket, Key=snapshot_key, VersionId=head["VersionId"])
    assert client.get_object(Bucket=bucket, Key=snapshot_key)["Body"].read()
    as_json(env, "backup")
    pruned = as_json(env, "prune", "--keep-within", "1s")  # the older snapshot is out of policy but locked
    assert first["snapshot_id"] in pruned["forget"]
    assert first["snapshot_id"] in pruned["locked"] and pruned["deleted"] == []
    assert first["snapshot_id"] in {s["id"] for s in as_json(env, "snapshots")}
    assert as_json(env, "show", first["snapshot_id"])["counts"] == first["counts"]


def test_s3_problems_are_one_clear_line(tenant: EmulatorHandle, tmp_path: Path, s3: MotoS3) -> None:
    creds = {k: v for k, v in s3server.CREDENTIALS.items()}
    unlocked = s3.make_bucket()
    no_lock = env_for(
        tenant, tmp_path, REWIND_STORE_URL=f"s3://{unlocked}/r", REWIND_S3_ENDPOINT_URL=s3.endpoint_url,
        REWIND_S3_LOCK_MODE="governance", **creds,
    )  # fmt: skip
    result = rewind(no_lock, "backup", check=False)
    assert result.returncode == 2 and "Object Lock" in result.stderr and result.stderr.count("\n") == 1
    unreachable = env_for(
        tenant,
        tmp_path,
        REWIND_STORE_URL="s3://nowhere/r",
        REWIND_S3_ENDPOINT_URL="http://127.0.0.1:9",
        **creds,
    )
    result = rewind(unreachable, "backup", check=False)
    assert result.returncode == 2 and "nowhere" in result.stderr and result.stderr.count("\n") == 1


def test_killed_backups_leave_no_half_snapshot(tmp_path: Path) -> None:
    config = EmulatorConfig.for_tests().patched({"latency": {"enabled": True}})
    rng = random.Random(20261127)
    with running_emulator(users=400, seed=9, config=config) as handle:
        env = env_for(handle, tmp_path)
        for _ in range(4):
            proc = subprocess.Popen(
                [sys.executable, "-m", "rewind.cli", "backup", "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.8, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            listed = as_json(env, "snapshots")
            for snap in listed:
                assert as_json(env, "show", snap["id"])["counts"] == snap["counts"]
            if listed:
                assert as_json(env, "verify", "--read-data")["ok"] is True
        done = as_json(env, "backup")
        assert done["counts"]["user"] == len(handle.dump()["objects"]["users"])
        assert as_json(env, "verify", "--read-data")["ok"] is True
