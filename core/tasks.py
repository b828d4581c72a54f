"""Running awaitables together, all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence


async def all_or_cancel(jobs: Sequence[Awaitable[object]]) -> None:
    """Run ``jobs`` at once; on the first error cancel the others, wait for them, and raise that error
    itself (a TaskGroup would wrap it in an ExceptionGroup, which every caller would have to unwrap)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
