"""The scheduler over the real backup service: ``rewind scheduler --once`` and ``rewind status`` as separate
processes against the emulator over TLS, and the in-process scheduler feeding alerts after each backup."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.backup.engine import BackupEngine
from core.catalog import Catalog
from core.scheduling import runs
from core.scheduling.jobs import JobResult, Jobs, run_backup
from core.scheduling.plan import FULL, INCREMENTAL, PRUNE
from core.scheduling.scheduler import Scheduler
from core.scheduling.slots import Daily, latest_slot
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import rig
from tests.cli_helpers import env_for


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=60, seed=21) as handle:
        yield handle


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rewind.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Any:
    stdout, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 0, stderr
    return json.loads(stdout)


def rewind_json(env: dict[str, str], *args: str) -> Any:
    return finish(start(env, *args, "--json"))


def test_scheduler_once_backs_up_and_status_reports_it(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path)
    # Two schedulers started together on one catalog: between them every due slot runs once.
    first, second = start(env, "scheduler", "--once", "--json"), start(env, "scheduler", "--once", "--json")
    reports = finish(first)["runs"] + finish(second)["runs"]
    by_job = {report["job"]: report for report in reports}
    assert sorted(report["job"] for report in reports) == [FULL, INCREMENTAL, PRUNE]
    assert by_job[FULL]["status"] == "succeeded" and by_job[FULL]["tenant_id"] == tenant.tenant_id
    assert by_job[INCREMENTAL]["status"] == "skipped"  # the full covers its slot, or was running
    assert by_job[PRUNE]["status"] in ("succeeded", "skipped")
    snapshot_id = by_job[FULL]["snapshot_id"]

    listed = rewind_json(env, "snapshots")
    assert [item["id"] for item in listed] == [snapshot_id]
    with Catalog(f"sqlite:///{tmp_path / 'data' / 'rewind.db'}") as catalog:
        row = runs.run(catalog, tenant.tenant_id, FULL, datetime.fromisoformat(by_job[FULL]["slot"]))
    assert row is not None and (row.status, row.snapshot_id) == ("succeeded", snapshot_id)

    assert rewind_json(env, "scheduler", "--once") == {"runs": []}  # nothing is due twice

    before = datetime.now(UTC)
    status = rewind_json(env, "status")
    after = datetime.now(UTC)
    [item] = status["tenants"]
    assert set(status) == {"tenants"}
    assert set(item) == {"tenant_id", "last_snapshot", "rpo_seconds", "next_runs", "last_failures"}
    assert item["tenant_id"] == tenant.tenant_id
    assert item["last_snapshot"]["id"] == snapshot_id and item["last_snapshot"]["kind"] == "full"
    created = datetime.fromisoformat(item["last_snapshot"]["created_at"])
    assert (
        (before - created).total_seconds() - 1 <= item["rpo_seconds"] <= (after - created).total_seconds() + 1
    )
    assert set(item["next_runs"]) == {FULL, INCREMENTAL, PRUNE}
    assert all(datetime.fromisoformat(when) > before for when in item["next_runs"].values())
    assert item["last_failures"] == []

    human = subprocess.run(
        [sys.executable, "-m", "rewind.cli", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert human.returncode == 0, human.stderr
    assert tenant.tenant_id in human.stdout and "RPO" in human.stdout and snapshot_id[:12] in human.stdout


async def test_scheduled_backups_feed_alerts_with_the_snapshots_before_and_after(
    tenant: EmulatorHandle, tmp_path: Path
) -> None:
    async with rig(tenant, tmp_path) as r:
        now = datetime.now(UTC)
        clock = {"now": now}

        async def backup(tenant_id: str, *, full: bool) -> JobResult:
            return await run_backup(BackupEngine(r.graph, r.repo, r.catalog, tenant_id), full=full)

        alerts: list[tuple[str, str, str]] = []

        async def after_backup(tenant_id: str, before: str, after: str) -> None:
            alerts.append((tenant_id, before, after))

        jobs = Jobs(
            incremental=lambda t: backup(t, full=False),
            full=lambda t: backup(t, full=True),
            after_backup=after_backup,
        )
        sched = Scheduler(r.catalog, jobs, tenants=lambda: [tenant.tenant_id], clock=lambda: clock["now"])
        [full, incremental] = await sched.run_due()
        assert (full.job, full.status, incremental.status) == (FULL, "succeeded", "skipped")
        assert full.slot == latest_slot(Daily("02:00"), now)
        assert alerts == []

        user_id = sorted(tenant.dump()["objects"]["users"])[0]
        tenant.incident("modify", "user", user_id, patch={"department": "Scheduled Incident"})
        clock["now"] = now + timedelta(minutes=20)
        [report] = await sched.run_due()
        assert (report.job, report.status) == (INCREMENTAL, "succeeded")
        assert report.snapshot_id is not None and report.snapshot_id != full.snapshot_id
        assert alerts == [(tenant.tenant_id, full.snapshot_id, report.snapshot_id)]
        changed = r.reader(report.snapshot_id).get("user", user_id)
        assert changed is not None and changed.object["department"] == "Scheduled Incident"
        row = runs.run(r.catalog, tenant.tenant_id, "alerts", report.slot, target=INCREMENTAL)
        assert row is not None and row.status == "succeeded"


def test_foreground_scheduler_catches_up_and_stops_on_sigterm(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path)
    process = start(env, "scheduler")
    try:
        with Catalog(f"sqlite:///{tmp_path / 'data' / 'rewind.db'}") as catalog:
            for _ in range(600):  # until the catch-up full backup is recorded (bounded, not a timing check)
                done = runs.last_runs(catalog, tenant.tenant_id, job=FULL, status="succeeded")
                if done:
                    break
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.1)
            assert done and done[0].snapshot_id
            assert [s.snapshot_id for s in catalog.snapshots(tenant.tenant_id)] == [done[0].snapshot_id]
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "scheduler running" in stdout and f"{tenant.tenant_id} incremental" in stdout
