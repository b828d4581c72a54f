"""Retention: which snapshots a prune keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import RewindError
from core.retention import Dated, RetentionPolicy, parse_duration, snapshots_to_keep

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def every_6h(days: int) -> list[Dated]:
    return [Dated(f"s{i:03d}", NOW - timedelta(hours=6 * i)) for i in range(days * 4)]


def test_keep_within_keeps_the_window() -> None:
    kept = snapshots_to_keep(every_6h(10), RetentionPolicy(keep_within=timedelta(days=1)), NOW)
    assert kept == {"s000", "s001", "s002", "s003", "s004"}


def test_keep_daily_keeps_the_newest_of_each_day() -> None:
    kept = snapshots_to_keep(every_6h(10), RetentionPolicy(keep_daily=3), NOW)
    # 12:00 today, 18:00 yesterday and 18:00 the day before
    assert kept == {"s000", "s003", "s007"}


def test_keep_monthly_and_the_newest_is_always_kept() -> None:
    snaps = [
        Dated("old-oct", datetime(2026, 10, 3, tzinfo=UTC)),
        Dated("old-sep", datetime(2026, 9, 3, tzinfo=UTC)),
    ]
    kept = snapshots_to_keep(snaps, RetentionPolicy(keep_within=timedelta(hours=1)), NOW)
    assert kept == {"old-oct"}
    assert snapshots_to_keep(snaps, RetentionPolicy(keep_monthly=2), NOW) == {"old-oct", "old-sep"}


def test_an_empty_policy_is_refused() -> None:
    with pytest.raises(RewindError, match="prune needs a policy"):
        snapshots_to_keep(every_6h(1), RetentionPolicy(), NOW)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("24h", 86400), ("30d", 2592000), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_bad_duration_is_one_line() -> None:
    with pytest.raises(RewindError, match=r"^'soon' is not a duration: write a number and a unit"):
        parse_duration("soon")
