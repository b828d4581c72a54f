"""Which snapshots a retention policy keeps: within a window, the newest per day, the newest per month."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import RewindError

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w|y)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``30d``, ``2w``, ``1y``."""
    match = _DURATION.match(text.lower())
    if not match:
        raise RewindError(f"'{text}' is not a duration: write a number and a unit, e.g. 30d, 24h, 2w or 90m")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class RetentionPolicy:
    keep_within: timedelta | None = None
    keep_daily: int = 0
    keep_monthly: int = 0

    @property
    def empty(self) -> bool:
        return self.keep_within is None and not self.keep_daily and not self.keep_monthly


@dataclass(frozen=True)
class Dated:
    snapshot_id: str
    created_at: datetime


def snapshots_to_keep(snapshots: Sequence[Dated], policy: RetentionPolicy, now: datetime) -> set[str]:
    """The newest snapshot is always kept, whatever the policy, so a prune can never empty a tenant."""
    if policy.empty:
        raise RewindError("prune needs a policy: give --keep-within, --keep-daily or --keep-monthly")
    newest_first = sorted(snapshots, key=lambda s: s.created_at, reverse=True)
    keep = {newest_first[0].snapshot_id} if newest_first else set()
    if policy.keep_within is not None:
        keep |= {s.snapshot_id for s in newest_first if now - s.created_at <= policy.keep_within}
    for count, bucket in ((policy.keep_daily, "%Y-%m-%d"), (policy.keep_monthly, "%Y-%m")):
        seen: set[str] = set()
        for s in newest_first:
            key = s.created_at.strftime(bucket)
            if key not in seen and len(seen) < count:
                seen.add(key)
                keep.add(s.snapshot_id)
    return keep
