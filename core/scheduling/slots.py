"""Slot arithmetic: when each scheduled job is due, as pure functions of an instant.

A slot is the instant a run is due, in UTC; it names the run in the catalog, so two schedulers computing
the slot of one job at one moment always agree. ``Every`` slots are aligned to midnight UTC (so to the hour);
``Daily`` slots fall at a wall-clock time in an IANA time zone, one per local day whatever DST does: a time
that does not exist that day (spring forward) runs at the same offset as before the jump, i.e. an hour
later on the clock, and a time that exists twice (fall back) runs at its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY_MINUTES = 24 * 60
_LOCAL_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def check_interval(minutes: int) -> int:
    """Intervals must tile the hour (or the day, past an hour) so that slots fall at the same clock times."""
    if minutes <= 60:
        fits = minutes > 0 and 60 % minutes == 0
    else:
        fits = minutes % 60 == 0 and _DAY_MINUTES % minutes == 0
    if not fits:
        raise ValueError(
            f"must divide the hour or the day into equal slots (e.g. 5, 10, 15, 30, 60, 120), not {minutes}"
        )
    return minutes


def parse_local_time(text: str) -> time:
    match = _LOCAL_TIME.match(text.strip())
    if not match:
        raise ValueError(f"must be a 24-hour local time like 02:00 or 18:30, not {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone like UTC or Europe/Berlin, not {name!r}") from None


@dataclass(frozen=True)
class Every:
    """Every ``minutes``, aligned to midnight UTC."""

    minutes: int

    def __post_init__(self) -> None:
        check_interval(self.minutes)

    def __str__(self) -> str:
        return f"every {self.minutes} min"


@dataclass(frozen=True)
class Daily:
    """Once a day at a local wall-clock time ("HH:MM") in an IANA time zone."""

    at: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        parse_local_time(self.at)
        zone(self.timezone)

    def __str__(self) -> str:
        return f"daily at {self.at} {self.timezone}"

    def on(self, day: date) -> datetime:
        """The slot of a local calendar day, in UTC."""
        local = datetime.combine(day, parse_local_time(self.at), tzinfo=zone(self.timezone))  # fold=0
        return local.astimezone(UTC)


SlotRule = Every | Daily


def latest_slot(rule: SlotRule, now: datetime) -> datetime:
    """The newest slot at or before ``now`` (an aware datetime)."""
    now = _utc(now)
    if isinstance(rule, Every):
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        step = timedelta(minutes=rule.minutes)
        return midnight + step * ((now - midnight) // step)
    today = now.astimezone(zone(rule.timezone)).date()
    for back in range(3):
        slot = rule.on(today - timedelta(days=back))
        if slot <= now:
            return slot
    raise AssertionError("unreachable: yesterday's slot is always in the past")


def next_slot(rule: SlotRule, now: datetime) -> datetime:
    """The first slot strictly after ``now``."""
    now = _utc(now)
    if isinstance(rule, Every):
        return latest_slot(rule, now) + timedelta(minutes=rule.minutes)
    today = now.astimezone(zone(rule.timezone)).date()
    for ahead in range(-1, 3):
        slot = rule.on(today + timedelta(days=ahead))
        if slot > now:
            return slot
    raise AssertionError("unreachable: tomorrow's slot is always in the future")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("slot arithmetic needs a timezone-aware datetime, not a naive one")
    return value.astimezone(UTC)
