"""The log archive on its own: windows written a few MB at a time, one page fetched at a time, no repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.backup import logs
from core.backup.logs import archive_window, read_archived
from core.graph import GraphClient
from core.registry import LOG_STREAMS
from core.snapshots import load_json
from tests.memory_repository import MemoryRepository

SIGN_INS = next(s for s in LOG_STREAMS if s.name == "signIn")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def sign_in(n: int, at: datetime) -> dict[str, Any]:
    return {
        "id": f"sign-in-{n:03d}",
        "createdDateTime": at.isoformat().replace("+00:00", "Z"),
        "userPrincipalName": f"user{n}@contoso.example",
        "status": {"errorCode": 0, "additionalDetails": "x" * 600},
    }


class PagedLogs:
    """Serves records newest first, a few per page, and counts requests in flight. Paging is the real
    client's, over this ``get``."""

    iter_pages = GraphClient.iter_pages
    iter_items = GraphClient.iter_items

    def __init__(self, records: list[dict[str, Any]], per_page: int = 7) -> None:
        self.pages = [records[i : i + per_page] for i in range(0, len(records), per_page)] or [[]]
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0

    async def get(self, path: str, *, params: Any = None, headers: Any = None) -> dict[str, Any]:
        self.requests += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            index = 0 if path == SIGN_INS.path else int(path.rsplit("/", 1)[1])
            body: dict[str, Any] = {"value": self.pages[index]}
            if index + 1 < len(self.pages):
                body["@odata.nextLink"] = f"https://graph.test/next/{index + 1}"
            return body
        finally:
            self.in_flight -= 1


async def test_a_long_window_is_written_in_batches_and_read_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "FLUSH_BYTES", 8_000)  # about ten records per batch
    records = [sign_in(n, NOW - timedelta(hours=n)) for n in range(60)]  # three days, newest first
    graph = PagedLogs(records)
    repo = MemoryRepository()
    result = await archive_window(graph, repo, repo, SIGN_INS, None, NOW)  # type: ignore[arg-type]

    assert graph.requests == 9 and graph.most_in_flight == 1  # one page at a time
    assert result.count == 60 and result.state["total"] == 60
    assert set(result.state["days"]) == {"2026-11-25", "2026-11-26", "2026-11-27"}
    per_day = {
        day: len(read_archived(repo, {"days": {day: tree}})) for day, tree in result.state["days"].items()
    }
    assert per_day == {"2026-11-25": 23, "2026-11-26": 24, "2026-11-27": 13}
    windows = sum(len(load_json(repo.blobs[tree])["blobs"]) for tree in result.state["days"].values())
    assert windows >= 6  # written as the batches filled, not held until the end
    archived = read_archived(repo, result.state)
    assert sorted(r["id"] for r in archived) == sorted(r["id"] for r in records)
    assert result.state["recent_ids"] == ["sign-in-000"]  # within the overlap of the next run

    again = [sign_in(0, NOW), sign_in(100, NOW + timedelta(minutes=5))]  # one repeat, one new
    later = await archive_window(
        PagedLogs(again), repo, repo, SIGN_INS, result.state, NOW + timedelta(minutes=10)
    )  # type: ignore[arg-type]
    assert later.count == 1 and later.state["total"] == 61
    assert sorted(r["id"] for r in read_archived(repo, later.state)) == sorted(
        [*(r["id"] for r in records), "sign-in-100"]
    )
