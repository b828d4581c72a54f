"""Collections: follow ``@odata.nextLink`` page by page, holding at most two pages at a time.

A chain of pages is sequential (each page names the next), so its latency is the floor of a big read. While
the caller works on one page, the next is already being fetched: the caller's work hides behind Graph's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.graph.client import GraphClient


# Consumers process a page without awaiting anything, which would keep the prefetch from ever being sent;
# iterators hand control back to the event loop every this many items.
YIELD_EVERY = 50


async def follow_links(
    client: GraphClient,
    start: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    ahead: bool = True,
) -> AsyncIterator[dict[str, Any]]:
    """Yield each response body along ``@odata.nextLink``, fetching one page ahead unless ``ahead`` is
    False: then the next page is asked for only once the caller is done with this one, so that a chain of
    large pages paced by its own quota (a log archive) holds one page at a time, not two."""
    # ConsistencyLevel is not carried over to nextLink calls (reference section 2), so headers go on every
    # page; params only on the first: the nextLink already encodes the query.
    pending: asyncio.Future[dict[str, Any]] | None = asyncio.ensure_future(
        client.get(start, params=params, headers=headers)
    )
    try:
        while pending is not None:
            body = await pending
            pending = None
            link = body.get("@odata.nextLink")
            link = link if isinstance(link, str) and link else None
            if link and ahead:
                pending = asyncio.ensure_future(client.get(link, headers=headers))
            yield body
            del body  # the caller is done with it: let it go before the next page arrives
            if link and not ahead:
                pending = asyncio.ensure_future(client.get(link, headers=headers))
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


async def iter_pages(
    client: GraphClient,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    page_size: int | None = None,
    ahead: bool = True,
) -> AsyncIterator[list[dict[str, Any]]]:
    query = dict(params or {})
    if page_size is not None:
        query["$top"] = str(page_size)
    async for body in follow_links(client, path, params=query, headers=headers, ahead=ahead):
        value = body.get("value")
        page = [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
        del body, value
        yield page
        del page
