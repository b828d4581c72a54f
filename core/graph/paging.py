"""Collections: follow ``@odata.nextLink`` page by page, holding one page at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.graph.client import GraphClient


async def iter_pages(
    client: GraphClient,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    page_size: int | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    query = dict(params or {})
    if page_size is not None:
        query["$top"] = str(page_size)
    next_url: str | None = path
    first = True
    while next_url:
        # ConsistencyLevel is not carried over to nextLink calls (reference §2), so headers go on every page;
        # params only on the first: the nextLink already encodes the query.
        body = await client.get(next_url, params=query if first else None, headers=headers)
        first = False
        value = body.get("value")
        yield [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
        link = body.get("@odata.nextLink")
        next_url = link if isinstance(link, str) and link else None
