"""Backup benchmark: a full backup of a generated tenant, then an incremental after 0.5% of it changed.

The floor is what the emulator's own model makes unavoidable: the resource units spent divided by the
bucket's refill rate, or the longest chain of pages that must be read one after another (a delta round is
sequential: each page names the next), whichever is longer.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import zstandard

from benchmarks.harness import Emulator, emulator, run_rewind, tree_bytes

DELTA_PAGE = 999  # Graph's largest delta page: the floor assumes it even where the client asks for less


def chain_seconds(entries: int, latency: dict[str, Any]) -> float:
    """Sequential pages at the model's latency, with its jitter at its mean (half the ratio, added)."""
    pages = max(1, math.ceil(entries / DELTA_PAGE))
    mean_jitter = 1 + latency.get("jitter_ratio", 0.0) / 2
    return float((pages * latency["read_base_s"] + entries * latency["per_item_s"]) * mean_jitter)


def floor(em: Emulator, counters: dict[str, Any], dump: dict[str, Any], users: int) -> dict[str, float]:
    config = em.config()
    latency, throttling = config["latency"], config["throttling"]
    quota = (
        throttling["ru_quota_large"]
        if users > throttling["large_tenant_users"]
        else throttling["ru_quota_medium"]
    )
    ru_floor = counters["resource_units"] / (quota / throttling["ru_window_s"])
    chunk = config.get("delta_member_chunk") or 100
    groups = dump["objects"]["groups"]
    group_entries = len(groups) + sum(
        max(0, math.ceil(len(members) / chunk) - 1)
        for gid, members in dump["members"].items()
        if gid in groups
    )
    chains = {
        "user": chain_seconds(len(dump["objects"]["users"]), latency),
        "group": chain_seconds(group_entries, latency),
    }
    longest = max(chains.values())
    return {"ru_floor_s": ru_floor, "chain_floor_s": longest, "floor_s": max(ru_floor, longest), **{
        f"chain_{k}_s": v for k, v in chains.items()}}  # fmt: skip


def change_half_percent(em: Emulator, dump: dict[str, Any], seed: int) -> dict[str, list[str]]:
    """Modify 0.5% of users and remove one member from 0.5% of groups, through the admin API."""
    rng = random.Random(seed)
    users = sorted(dump["objects"]["users"])
    groups = sorted(g for g, m in dump["members"].items() if g in dump["objects"]["groups"] and m)
    changed_users = rng.sample(users, max(1, len(users) // 200))
    changed_groups = rng.sample(groups, max(1, len(groups) // 200))
    for uid in changed_users:
        em.act("PATCH", f"/users/{uid}", {"jobTitle": f"Changed {rng.randrange(10**6)}"})
    for gid in changed_groups:
        member = dump["members"][gid][0]
        em.act("DELETE", f"/groups/{gid}/members/{member}/$ref")
    return {"user": changed_users, "group": changed_groups}


def compressed_size_of(env: dict[str, str], data_dir: Path, changed: dict[str, list[str]]) -> int:
    """zstd size of each changed object's stored record, compressed on its own: the figure the target uses."""
    import os

    from core.maintenance import open_snapshot
    from core.settings import load_settings
    from rewind.wiring import open_catalog, open_repository

    previous = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
        tenant = env["REWIND_TENANT_ID"]
        catalog = open_catalog(settings)
        snap = open_snapshot(open_repository(settings, tenant, create=False), catalog, tenant, "latest")
        compressor = zstandard.ZstdCompressor(level=3)
        total = 0
        for type_name, ids in changed.items():
            for oid in ids:
                entry = snap.entry(type_name, oid)
                if entry is not None:
                    total += len(compressor.compress(snap.repo.read_blob(entry.blob)))
        catalog.close()
        return total
    finally:
        os.environ.clear()
        os.environ.update(previous)


def run(users: int, seed: int = 42) -> dict[str, Any]:
    with emulator(users, seed) as em:
        data_dir = em.workdir / "data"
        env = em.env(data_dir)
        dump = em.dump()
        em.reset_counters()
        full = run_rewind(env, "backup")
        counters = em.counters()
        full_bytes = tree_bytes(data_dir / "store")
        result: dict[str, Any] = {
            "users": users,
            "objects": sum(full.output["counts"].values()),
            "full": {
                "wall_s": round(full.wall_s, 2),
                "graph_requests": counters["requests"],
                "resource_units": counters["resource_units"],
                "throttled_429": counters["throttled"],
                "peak_rss_mb": round(full.peak_rss_mb, 1),
                "bytes_written": full_bytes,
                **{k: round(v, 2) for k, v in floor(em, counters, dump, users).items()},
            },
        }
        result["full"]["wall_over_floor"] = round(full.wall_s / result["full"]["floor_s"], 2)
        changed = change_half_percent(em, dump, seed)
        em.reset_counters()
        incremental = run_rewind(env, "backup")
        counters = em.counters()
        changed_count = sum(len(v) for v in changed.values())
        changed_compressed = compressed_size_of(env, data_dir, changed)
        inc_bytes = tree_bytes(data_dir / "store") - full_bytes
        result["incremental"] = {
            "changed_objects": changed_count,
            "wall_s": round(incremental.wall_s, 2),
            "graph_requests": counters["requests"],
            "request_budget": 40 + math.ceil(changed_count / DELTA_PAGE),
            "resource_units": counters["resource_units"],
            "throttled_429": counters["throttled"],
            "peak_rss_mb": round(incremental.peak_rss_mb, 1),
            "bytes_written": inc_bytes,
            "changed_objects_compressed_bytes": changed_compressed,
            "bytes_over_changed": round(inc_bytes / max(1, changed_compressed), 2),
            "kind": incremental.output["kind"],
        }
        return result
