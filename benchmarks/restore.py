"""Restore benchmark: 1,000 hard-deleted users that had group memberships, recreated and re-added.

A generated tenant is backed up, 1,000 cloud users with memberships are hard-deleted through the emulator's
admin API (an incident, not Rewind's traffic), then Rewind plans the restore and runs it. The floor is what
the emulator's own model makes unavoidable for the minimal work (one write per recreated object, one per
20 member adds to a group through ``members@odata.bind``, one per other step), not for what Rewind chose to
send: the writes beyond the tightest write bucket's burst at its refill rate, plus the rounds that must
follow one another (each dependency level of writes at the write latency, the replication lag once, and the
read rounds of re-validation and verification at the read latency).
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import Emulator, emulator
from core.backup.engine import BackupEngine
from core.catalog import Catalog
from core.graph import ClientSecret, GraphClient, GraphConfig
from core.logs import configure_logging
from core.repository import Repository
from core.restore.approval import RequestState, insert_request
from core.restore.exec_levels import levels
from core.restore.exec_links import MAX_BINDS
from core.restore.executor import RestoreExecutor
from core.restore.graph_live import GraphLiveTenant
from core.restore.identity import Person
from core.restore.journal import Journal
from core.restore.model import Operation, Plan
from core.restore.planner import plan_restore
from core.store import open_store

READ_ROUNDS = 3  # re-validation reads objects, then the recycle bin; verification reads the new objects


def pick_users(dump: dict[str, Any], count: int) -> list[str]:
    """Cloud-only users that belong to at least one group whose members can be written."""
    groups = dump["objects"]["groups"]
    writable = {
        g
        for g, obj in groups.items()
        if not obj.get("onPremisesSyncEnabled") and "DynamicMembership" not in (obj.get("groupTypes") or [])
    }
    member_of: set[str] = set()
    for gid, members in dump["members"].items():
        if gid in writable:
            member_of.update(members)
    users = dump["objects"]["users"]
    candidates = sorted(u for u in member_of if u in users and not users[u].get("onPremisesSyncEnabled"))
    if len(candidates) < count:
        raise RuntimeError(
            f"only {len(candidates)} users have writable memberships; generate a bigger tenant"
        )
    return candidates[:count]


def hard_delete(em: Emulator, users: list[str]) -> None:
    with em.admin() as client:
        for user in users:
            response = client.post(
                f"/_emulator/tenants/{em.tenant_id}/incident",
                json={"kind": "hard-delete", "type": "user", "id": user},
            )
            response.raise_for_status()


def new_request(catalog: Catalog, plan: Plan) -> str:
    """An executing request row without the approval round: the benchmark times the run alone."""
    with catalog.writing() as conn:
        return insert_request(
            conn,
            plan,
            Person.of("benchmark", platform="cli", user="bench"),
            state=RequestState.EXECUTING,
            required_approvals=1,
            now=datetime.now(UTC),
            ttl=timedelta(minutes=30),
        )


def minimal_writes(plan: Plan) -> int:
    """The fewest writes that do the plan's work, whatever Rewind sends: one per recreate, restore, patch
    or other link, and one per 20 member (or owner) adds to the same group (``@odata.bind`` takes 20)."""
    binds: dict[tuple[str, str], int] = {}
    other = 0
    for action in plan.writes():
        if (
            action.operation is Operation.ADD_LINK
            and action.object_type == "group"
            and action.relationship in ("members", "owners")
        ):
            group = (action.object_id, action.relationship)
            binds[group] = binds.get(group, 0) + 1
        else:
            other += 1
    return other + sum(math.ceil(n / MAX_BINDS) for n in binds.values())


def floor(config: dict[str, Any], writes: int, write_levels: int) -> dict[str, float]:
    """The wall no client can beat for ``writes`` minimal writes in ``write_levels`` dependent rounds."""
    throttling, latency = config["throttling"], config["latency"]
    buckets = [
        (throttling["app_tenant_write_limit"], throttling["app_tenant_write_window_s"]),
        (throttling["tenant_write_limit"], throttling["tenant_write_window_s"]),
        (throttling["app_write_limit"], throttling["app_write_window_s"]),
    ]
    capacity, window = min(buckets, key=lambda b: b[0] / b[1])
    rate = capacity / window
    mean_jitter = 1 + latency.get("jitter_ratio", 0.0) / 2
    write_latency = latency["write_base_s"] * mean_jitter if latency.get("enabled", True) else 0.0
    read_latency = latency["read_base_s"] * mean_jitter if latency.get("enabled", True) else 0.0
    quota = max(0, writes - capacity) / rate
    # Each level waits for the one before; a new object's replication lag is waited out once (the levels
    # after the first overlap it), and re-validation and verification each need a read round.
    chain = write_levels * write_latency + (config.get("replication_lag_s", 0.0) if write_levels > 1 else 0.0)
    chain += READ_ROUNDS * read_latency
    return {
        "minimal_writes": writes,
        "write_rate_per_s": round(rate, 2),
        "write_burst": capacity,
        "quota_floor_s": round(quota, 2),
        "naive_quota_floor_s": round(writes / rate, 2),
        "sequential_floor_s": round(chain, 2),
        "floor_s": round(quota + chain, 2),
    }


async def measure(em: Emulator, workdir: Path, deleted_users: int) -> dict[str, Any]:
    info = em.info
    config = GraphConfig(
        tenant_id=em.tenant_id,
        client_id=info["client_id"],
        credential=ClientSecret(info["client_secret"]),
        graph_url=info["graph_url"],
        authority_host=info["authority_host"],
        ca_bundle=info["ca_path"],
    )
    catalog = Catalog(f"sqlite:///{workdir / 'catalog.db'}")
    repo = Repository.open_or_init(open_store((workdir / "store").as_uri()), key=None)
    try:
        async with GraphClient(config) as graph:
            await BackupEngine(graph, repo, catalog, em.tenant_id).run()
            victims = pick_users(em.dump(), deleted_users)
            hard_delete(em, victims)
            live = GraphLiveTenant(graph)
            started = time.monotonic()
            plan = await plan_restore(
                tenant_id=em.tenant_id, catalog=catalog, repository=repo, live=live, selector="deleted"
            )
            plan_s = time.monotonic() - started
            em.reset_counters()
            executor = RestoreExecutor(graph=graph, live=live, journal=Journal(catalog))
            started = time.monotonic()
            result = await executor.run(plan, request_id=new_request(catalog, plan))
            wall = time.monotonic() - started
            counters = em.counters()
    finally:
        catalog.close()
    writes = int(counters["writes"])  # the emulator counts only writes that succeeded
    write_levels = len([lv for lv in levels(plan.writes()) if lv])
    bound = floor(em.config(), minimal_writes(plan), write_levels)
    statuses: dict[str, int] = {}
    for outcome in result.outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    problems = [o.to_json() for o in result.outcomes if o.status in ("failed", "mismatch")][:5]
    return {
        "deleted_users": deleted_users,
        "plan_counts": plan.counts(),
        "plan_s": round(plan_s, 2),
        "result": result.status,
        "outcomes": statuses,
        "problems": problems,
        "wall_s": round(wall, 2),
        "graph_requests": int(counters["requests"]),
        "writes": writes,
        "batches": int(counters.get("batches", 0)),
        "throttled_429": int(counters.get("throttled", 0)),
        "mismatches": statuses.get("mismatch", 0),
        "failed": statuses.get("failed", 0),
        "write_levels": write_levels,
        **bound,
        "wall_over_floor": round(wall / bound["floor_s"], 2) if bound["floor_s"] else None,
    }


def run(users: int = 5000, deleted_users: int = 1000, seed: int = 42) -> dict[str, Any]:
    configure_logging("WARNING", json=True)
    with emulator(users, seed) as em:
        result = asyncio.run(measure(em, em.workdir, deleted_users))
    result["tenant_users"] = users
    return result


def targets(result: dict[str, Any]) -> dict[str, bool]:
    return {
        "restore succeeded": result["result"] == "succeeded",
        "wall within 1.3x floor": result["wall_over_floor"] is not None and result["wall_over_floor"] <= 1.3,
    }


def table(result: dict[str, Any]) -> str:
    columns = [
        "deleted users",
        "writes (minimal)",
        "requests",
        "429s",
        "wall s",
        "floor s",
        "wall/floor",
        "result",
        "mismatches",
    ]
    row = [
        f"{result['deleted_users']:,}",
        f"{result['writes']:,} ({result['minimal_writes']:,})",
        f"{result['graph_requests']:,}",
        str(result["throttled_429"]),
        str(result["wall_s"]),
        str(result["floor_s"]),
        str(result["wall_over_floor"]),
        result["result"],
        str(result["mismatches"]),
    ]
    return "\n".join(
        ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), "| " + " | ".join(row) + " |"]
    )


__all__ = ["run", "table", "targets"]
