"""``make bench``: run every benchmark and write benchmarks/results.json plus a readable table.

Sizes come from ``BENCH_USERS`` (comma-separated; default 10000,100000); the diff benchmark always uses
100,000 users (``BENCH_DIFF_USERS`` overrides); the restore benchmark recreates ``BENCH_RESTORE_USERS``
(default 1000) hard-deleted users. ``BENCH_ONLY`` picks suites (backup, diff, restore, ...); a suite not run
keeps its figures from the previous results.json. Targets are checked here and reported, never asserted in
tests: these machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import backup, diff, restore, slack_ack

RESULTS = Path(__file__).with_name("results.json")
MB = 1024 * 1024


def targets(result: dict[str, Any]) -> dict[str, bool]:
    full, inc = result["full"], result["incremental"]
    checks = {
        "incremental requests under 40 + changed share": inc["graph_requests"] <= inc["request_budget"],
        "incremental bytes under 3x changed + 512 KiB": inc["bytes_written"]
        <= 3 * inc["changed_objects_compressed_bytes"] + 512 * 1024,
    }
    if result["users"] >= 100_000:
        checks |= {
            "full wall within 1.3x floor": full["wall_over_floor"] <= 1.3,
            "peak RSS under 300 MB": full["peak_rss_mb"] < 300,
            "base snapshot under 25 MB": full["bytes_written"] < 25 * MB,
        }
    return checks


def table(results: list[dict[str, Any]]) -> str:
    columns = ["users", "run", "wall s", "floor s", "wall/floor", "requests", "RU", "429s", "RSS MB", "bytes"]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        f, i = r["full"], r["incremental"]
        rows.append(
            f"| {r['users']:,} | full | {f['wall_s']} | {f['floor_s']} | {f['wall_over_floor']} | "
            f"{f['graph_requests']:,} | {f['resource_units']:,.0f} | {f['throttled_429']} | "
            f"{f['peak_rss_mb']} | {f['bytes_written']:,} |"
        )
        rows.append(
            f"| {r['users']:,} | incremental ({i['changed_objects']} changed) | {i['wall_s']} | - | - | "
            f"{i['graph_requests']} | {i['resource_units']:,.0f} | {i['throttled_429']} | "
            f"{i['peak_rss_mb']} | {i['bytes_written']:,} |"
        )
    return "\n".join(rows)


def diff_table(result: dict[str, Any]) -> str:
    rows = ["| diff of users | changed | changes | wall s (best of 3) |", "|---|---|---|---|"]
    for label, key in (("0.5%", "half_percent"), ("all", "all_changed")):
        part = result[key]
        changed = f"{label} ({part['changed_users']:,})"
        rows.append(f"| {result['users']:,} | {changed} | {part['changes']:,} | {part['wall_s']} |")
    return "\n".join(rows)


def main() -> None:
    suites = {s.strip() for s in os.environ.get("BENCH_ONLY", "backup,diff").split(",") if s.strip()}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    payload: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "backup": previous.get("backup", []),
        "diff": previous.get("diff"),
        "slack": previous.get("slack"),
        "restore": previous.get("restore"),
    }
    if "backup" in suites:
        sizes = [int(s) for s in os.environ.get("BENCH_USERS", "10000,100000").split(",") if s.strip()]
        results = []
        for users in sizes:
            print(f"backup benchmark: {users:,} users", file=sys.stderr, flush=True)
            result = backup.run(users)
            result["targets"] = targets(result)
            results.append(result)
        payload["backup"] = results
    if "diff" in suites:
        measured = diff.run(int(os.environ.get("BENCH_DIFF_USERS", "100000")))
        measured["targets"] = diff.targets(measured)
        payload["diff"] = measured
    if "slack" in suites:
        measured = slack_ack.run()
        measured["targets"] = slack_ack.targets(measured)
        payload["slack"] = measured
    if "restore" in suites:
        measured = restore.run(
            int(os.environ.get("BENCH_RESTORE_TENANT_USERS", "5000")),
            int(os.environ.get("BENCH_RESTORE_USERS", "1000")),
        )
        measured["targets"] = restore.targets(measured)
        payload["restore"] = measured
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    if payload["backup"]:
        print(table(payload["backup"]))
        for r in payload["backup"]:
            for name, ok in r["targets"].items():
                print(f"{'PASS' if ok else 'MISS'} {r['users']:,} users: {name}")
    if payload["diff"]:
        print(diff_table(payload["diff"]))
        for name, ok in payload["diff"]["targets"].items():
            print(f"{'PASS' if ok else 'MISS'} {payload['diff']['users']:,} users: {name}")
    if payload["restore"]:
        print(restore.table(payload["restore"]))
        for name, ok in payload["restore"]["targets"].items():
            print(
                f"{'PASS' if ok else 'MISS'} restore of {payload['restore']['deleted_users']:,} users: {name}"
            )

    if payload.get("slack"):
        slack = payload["slack"]
        print(
            f"slack ack: p50 {slack['p50_ms']} ms, p99 {slack['p99_ms']} ms over {slack['requests']} requests"
        )
        for name, ok in slack["targets"].items():
            print(f"{'PASS' if ok else 'MISS'} slack: {name}")


if __name__ == "__main__":
    main()
