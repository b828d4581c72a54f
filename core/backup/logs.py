"""Archive audit and sign-in logs window by window, so they outlive Entra's 7/30-day retention.

Each backup reads ``[previous end - overlap, now)`` and drops records it already archived: Entra delivers log
records minutes late, and the overlap catches them. Windows are stored as data blobs grouped under one tree
blob per day, so the snapshot record grows by a day entry, not by a window entry. A long window (the first
run reads 30 days) is written a few MB at a time, so a day may get several window blobs from one run.
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
# Records held before they are written out as day windows: a first run reads 30 days of sign-ins at once.
FLUSH_BYTES = 2 * 1024 * 1024


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


class _Windows:
    """New records, written out a batch at a time as one window blob per day (records in time order)."""

    def __init__(self, writer: BlobWriter, stream: LogStream, until: str) -> None:
        self._writer = writer
        self._tail = canonical_json({"stream": stream.name, "until": until})[1:]
        self._held: list[_Held] = []
        self._size = 0
        self.by_day: dict[str, list[str]] = {}

    def add(self, item: _Held) -> None:
        self._held.append(item)
        self._size += len(item.data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        by_day: dict[str, list[bytes]] = {}
        for item in sorted(self._held):
            by_day.setdefault(item.at[:10], []).append(item.data)
        for day, items in sorted(by_day.items()):
            # The canonical JSON of {"records", "stream", "until"}, assembled from the records' own bytes.
            window = b'{"records":[' + b",".join(items) + b"]," + self._tail
            self.by_day.setdefault(day, []).append(self._writer.add_blob(window))
        self._held, self._size = [], 0


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
    horizon = iso(now - OVERLAP)
    recent = {i for i in seen if since_prev and since_prev >= horizon}
    windows = _Windows(writer, stream, until)
    count = 0
    targets: set[str] = set()
    params = {"$filter": " and ".join(clauses), "$top": str(stream.page_size)}
    # One page at a time: a page of 1,000 sign-ins is ~20 MB once parsed, and the reports quota (a few
    # requests per ten seconds) paces this chain anyway, so a page fetched ahead would save no time.
    async for record in graph.iter_items(stream.path, params=params, ahead=False):
        record_id = str(record.get("id"))
        if record_id in seen:
            continue
        targets |= audit_targets([record])
        at = str(record.get(stream.time_field, until))
        if at >= horizon:
            recent.add(record_id)
        windows.add(_Held(at, record_id, canonical_json(record)))
        count += 1
    windows.flush()
    days: dict[str, str] = dict(previous.get("days", {}))
    for day, blobs in sorted(windows.by_day.items()):
        earlier = load_json(repo.read_blob(days[day]))["blobs"] if day in days else []
        days[day] = writer.add_blob(canonical_json({"blobs": [*earlier, *blobs]}), kind="tree")
    state = {
        "until": until,
        "days": days,
        "recent_ids": sorted(recent),
        "total": previous.get("total", 0) + count,
    }
    return LogArchiveResult(state, count, targets if stream.name == "directoryAudit" else set())


def audit_targets(records: list[dict[str, Any]]) -> set[str]:
    """Ids of every object an audit record names: whose relationships an incremental backup re-reads."""
    return {str(t["id"]) for r in records for t in r.get("targetResources") or [] if t.get("id")}


def read_archived(repo: BlobRepository, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for day in sorted(state.get("days", {})):
        for window in load_json(repo.read_blob(state["days"][day]))["blobs"]:
            records.extend(load_json(repo.read_blob(window))["records"])
    return records
