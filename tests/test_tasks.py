"""all_or_cancel: the first error itself, and nothing left running behind it."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import all_or_cancel


async def test_the_first_error_is_raised_as_itself_and_the_others_are_cancelled() -> None:
    finished: list[str] = []
    cancelled: list[str] = []

    async def slow(name: str) -> None:
        try:
            await asyncio.sleep(5)
            finished.append(name)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def failing() -> None:
        await asyncio.sleep(0)
        raise LookupError("Graph said 404")

    with pytest.raises(LookupError, match="Graph said 404"):
        await all_or_cancel([slow("a"), failing(), slow("b")])
    assert finished == [] and sorted(cancelled) == ["a", "b"]


async def test_every_job_runs_when_none_fails() -> None:
    done: list[int] = []

    async def job(n: int) -> None:
        await asyncio.sleep(0)
        done.append(n)

    await all_or_cancel([job(n) for n in range(5)])
    assert sorted(done) == [0, 1, 2, 3, 4]
