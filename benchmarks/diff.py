"""Diff benchmark: snapshots of a generated 100,000-user tenant written straight into a real repository.

No emulator and no Graph: the tenant comes from the generator and goes through ``SnapshotWriter`` over a
``Repository`` on a temporary ``FileStore``, as a backup would write it: each object with the properties the
backup asks Graph for (the registry's ``$select``), users with their manager and groups with their members and
owners. Snapshot A is full; B is incremental
with 0.5% of users changed (it lands in the manifest overlay); C is incremental with every user changed (the
pages are rebased). Each diff runs on a freshly opened repository (cold segment cache); the figure is the
wall time of ``list(diff(...))``, best of three.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.diff import diff
from core.registry import ObjectType, object_type
from core.repository import Repository
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter
from core.store import FileStore
from emulator.generator import generate_tenant
from emulator.protocol import TenantSeed

USER = object_type("user")
GROUP = object_type("group")
RUNS = 3

Build = Callable[[SnapshotWriter], None]


def write_snapshot(repo: Repository, parent: dict[str, Any] | None, build: Build) -> dict[str, Any]:
    numbers = SnapshotReader(repo, parent).numbers if parent else ObjectNumbers()
    with repo.writer() as writer:
        snap = SnapshotWriter(repo, writer, tenant_id="bench", parent=parent, numbers=numbers)
        build(snap)
        writer.flush()
        record = snap.finish(kind="incremental" if parent else "full", delta_tokens={}, extra={})
    snapshot_id = repo.save_snapshot(record)
    return {**repo.load_snapshot(snapshot_id), "id": snapshot_id}


def as_backed_up(t: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
    """What the backup's delta round with ``$select`` returns for the object."""
    return {key: obj[key] for key in t.select if key in obj}


def full_tenant(seed: TenantSeed) -> Build:
    def build(w: SnapshotWriter) -> None:
        w.builder("user", incremental=False)
        w.builder("group", incremental=False)
        for user in seed.collections["users"]:
            w.put(USER, as_backed_up(USER, user), {"manager": seed.manager.get(user["id"])})
        for group in seed.collections["groups"]:
            links = {"members": seed.members.get(group["id"], []), "owners": seed.owners.get(group["id"], [])}
            w.put(GROUP, as_backed_up(GROUP, group), links)

    return build


def changed_users(seed: TenantSeed, users: list[dict[str, Any]], label: str) -> Build:
    def build(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)
        for user in users:
            changed = {**as_backed_up(USER, user), "jobTitle": f"{label} {user['id'][:8]}"}
            w.put(USER, changed, {"manager": seed.manager.get(user["id"])})

    return build


def time_diff(store: FileStore, before: dict[str, Any], after: dict[str, Any]) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(RUNS):
        repo = Repository.open(store, key=None)  # a cold segment cache every run
        a, b = SnapshotReader(repo, before), SnapshotReader(repo, after)
        started = time.perf_counter()
        count = len(list(diff(a, b)))
        best = min(best, time.perf_counter() - started)
    return best, count


def run(users: int = 100_000, seed: int = 1) -> dict[str, Any]:
    print(f"diff benchmark: generating {users:,} users", file=sys.stderr, flush=True)
    tenant = generate_tenant(users=users, seed=seed)
    people = tenant.collections["users"]
    rng = random.Random(seed)
    few = rng.sample(people, max(1, len(people) // 200))
    with tempfile.TemporaryDirectory(prefix="rewind-diff-bench-") as tmp:
        store = FileStore(Path(tmp) / "store")
        repo = Repository.init(store, key=None)
        print("diff benchmark: writing snapshots", file=sys.stderr, flush=True)
        a = write_snapshot(repo, None, full_tenant(tenant))
        b = write_snapshot(repo, a, changed_users(tenant, few, "Half percent"))
        c = write_snapshot(repo, b, changed_users(tenant, people, "Everyone"))
        print("diff benchmark: timing", file=sys.stderr, flush=True)
        small_s, small_changes = time_diff(store, a, b)
        all_s, all_changes = time_diff(store, b, c)
    return {
        "measured_at": datetime.now(UTC).isoformat(),
        "users": users,
        "groups": len(tenant.collections["groups"]),
        "runs": RUNS,
        "overlay_in_b": "overlay" in b["types"]["user"],
        "half_percent": {"changed_users": len(few), "changes": small_changes, "wall_s": round(small_s, 3)},
        "all_changed": {"changed_users": len(people), "changes": all_changes, "wall_s": round(all_s, 3)},
    }


def targets(result: dict[str, Any]) -> dict[str, bool]:
    return {
        "diff with 0.5% changed under 1 s": result["half_percent"]["wall_s"] < 1.0,
        "diff with every user changed under 10 s": result["all_changed"]["wall_s"] < 10.0,
    }
