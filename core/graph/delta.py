"""Delta queries: one round of changes, with a group's repeated member chunks merged.

Graph may return the same object several times in one round: a big group comes back once per chunk of
``members@delta``, and replays happen. ``DeltaQuery`` merges repeats only when they are ADJACENT (so it holds
one object at a time); a non-adjacent repeat is yielded again and usually only adds relationship chunks, so
consumers must upsert by id and concatenate ``*@delta`` arrays. ``merge_delta_entries`` does the full by-id
merge for small collections and tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from core.graph.errors import GraphError
from core.graph.paging import YIELD_EVERY, follow_links

if TYPE_CHECKING:
    from core.graph.client import GraphClient


def _carries_properties(entry: Mapping[str, Any]) -> bool:
    return any(key != "id" and not key.startswith("@") and "@" not in key for key in entry)


def merge_entry(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """``later`` wins per property, except ``*@delta`` relationship arrays, which are concatenated."""
    merged = dict(earlier)
    for key, value in later.items():
        previous = merged.get(key)
        if key.endswith("@delta") and isinstance(previous, list) and isinstance(value, list):
            merged[key] = previous + value
        else:
            merged[key] = value
    if "@removed" not in later and _carries_properties(later):
        merged.pop("@removed", None)  # the object came back later in the same round
    return merged


def merge_delta_entries(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge every entry by id (first-seen order); entries without an id are ignored."""
    merged: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key = entry.get("id")
        if not isinstance(key, str):
            continue
        merged[key] = merge_entry(merged[key], entry) if key in merged else dict(entry)
    return merged


class DeltaQuery:
    """Async iterator over the entries of ONE delta round; afterwards ``delta_link`` holds the next start.

    Raises DeltaTokenExpired when Graph no longer knows the delta link: restart with a full sync.
    """

    def __init__(
        self,
        client: GraphClient,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        delta_link: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._start = delta_link or path
        self._params = None if delta_link else dict(params or {})
        self._headers = dict(headers or {})
        self._started = False
        self.delta_link: str | None = None
        self.pages = 0

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._started:
            raise GraphError("a DeltaQuery runs once", hint="call client.delta() again with its delta_link")
        self._started = True
        return self._entries()

    async def _entries(self) -> AsyncIterator[dict[str, Any]]:
        pending: dict[str, Any] | None = None
        final_link: str | None = None
        async for body in follow_links(self._client, self._start, params=self._params, headers=self._headers):
            self.pages += 1
            value = body.get("value")
            for position, entry in enumerate(value if isinstance(value, list) else []):
                if position % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the next page's request (and other types) go out meanwhile
                if not isinstance(entry, dict):
                    continue
                if pending is not None and entry.get("id") == pending.get("id"):
                    pending = merge_entry(pending, entry)
                    continue
                if pending is not None:
                    yield pending
                pending = dict(entry)
            delta = body.get("@odata.deltaLink")
            if isinstance(delta, str):
                final_link = delta
        if pending is not None:
            yield pending
        self.delta_link = final_link
