"""Process settings a backup holds while it runs, and gives back after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core.backup.memory import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture
def default_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield 700, 10, 10
    gc.set_threshold(*before)


def test_collections_are_rarer_during_backups_and_restored_after_the_last(
    default_threshold: tuple[int, int, int],
) -> None:
    first, second = fewer_collections(), fewer_collections()
    with first:
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        second.__enter__()  # two backups overlap in one process (the scheduler)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)  # the other backup still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == default_threshold


def test_the_threshold_comes_back_when_a_backup_fails(default_threshold: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("Graph went away")
    assert gc.get_threshold() == default_threshold
