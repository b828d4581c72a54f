"""Archive audit and sign-in logs window by window, so they outlive Entra's 7/30-day retention.

Each backup reads ``[previous end - overlap, now)`` and drops records it already archived: Entra delivers log
records minutes late, and the overlap catches them. Windows are stored as data blobs grouped under one tree
blob per day, so the snapshot record grows by a day entry, not by a window entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.graph import GraphClient
from core.registry import LogStream
from core.snapshots import canonical_json, load_json
from core.snapshots.port import BlobRepository, BlobWriter

OVERLAP = timedelta(minutes=15)


@dataclass
class LogArchiveResult:
    state: dict[str, Any]  # goes into the snapshot record under logs.<stream>
    count: int = 0  # records new in this window
    targets: set[str] = field(default_factory=set)  # ids the new records name (incremental refresh)

    @property
    def roots(self) -> list[str]:
        return sorted(self.state.get("days", {}).values())


@dataclass(frozen=True, order=True)
class _Held:
    """A record kept as its canonical bytes: a window of parsed sign-ins is tens of MB of dicts."""

    at: str
    record_id: str
    data: bytes = field(compare=False)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def archive_window(
    graph: GraphClient,
    repo: BlobRepository,
    writer: BlobWriter,
    stream: LogStream,
    previous: Mapping[str, Any] | None,
    now: datetime,
) -> LogArchiveResult:
    previous = previous or {}
    until = iso(now)
    since_prev = previous.get("until")
    clauses = [f"{stream.time_field} lt {until}"]
    if since_prev:
        start = datetime.fromisoformat(since_prev.replace("Z", "+00:00")) - OVERLAP
        clauses.insert(0, f"{stream.time_field} ge {iso(start)}")
    seen = set(previous.get("recent_ids", []))
    held: list[_Held] = []
    targets: set[str] = set()
    params = {"$filter": " and ".join(clauses), "$top": str(stream.page_size)}
    async for record in graph.iter_items(stream.path, params=params):
        record_id = str(record.get("id"))
        if record_id not in seen:
            targets |= audit_targets([record])
            held.append(_Held(str(record.get(stream.time_field, until)), record_id, canonical_json(record)))
    held.sort()
    days: dict[str, str] = dict(previous.get("days", {}))
    by_day: dict[str, list[bytes]] = {}
    for item in held:
        by_day.setdefault(item.at[:10], []).append(item.data)
    for day, items in sorted(by_day.items()):
        # The canonical JSON of {"records", "stream", "until"}, assembled from the records' own bytes.
        window_json = (
            b'{"records":['
            + b",".join(items)
            + b"],"
            + canonical_json({"stream": stream.name, "until": until})[1:]
        )
        window = writer.add_blob(window_json)
        earlier = load_json(repo.read_blob(days[day]))["blobs"] if day in days else []
        days[day] = writer.add_blob(canonical_json({"blobs": [*earlier, window]}), kind="tree")
    horizon = iso(now - OVERLAP)
    recent = sorted(
        {item.record_id for item in held if item.at >= horizon}
        | {i for i in seen if since_prev and since_prev >= horizon}
    )
    state = {
        "until": until,
        "days": days,
        "recent_ids": recent,
        "total": previous.get("total", 0) + len(held),
    }
    return LogArchiveResult(state, len(held), targets if stream.name == "directoryAudit" else set())


def audit_targets(records: list[dict[str, Any]]) -> set[str]:
    """Ids of every object an audit record names: whose relationships an incremental backup re-reads."""
    return {str(t["id"]) for r in records for t in r.get("targetResources") or [] if t.get("id")}


def read_archived(repo: BlobRepository, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for day in sorted(state.get("days", {})):
        for window in load_json(repo.read_blob(state["days"][day]))["blobs"]:
            records.extend(load_json(repo.read_blob(window))["records"])
    return records
