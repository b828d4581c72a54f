"""Snapshot references as people type them: ids, prefixes, ``latest``, ISO times, ``2h ago``, ``yesterday``.

A time stands for the newest snapshot taken at or before it: the tenant as Rewind last saw it at that moment.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from core.catalog import Catalog, SnapshotRow
from core.errors import RewindError

LIVE = "live"
_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}
_RELATIVE = re.compile(r"^(\d+)\s*([a-z]+?)s?\s+ago$")
_HEX = re.compile(r"^[0-9a-f]+$")
# "2h ago" and "2 hours ago" as one reference, even when the shell split them into several arguments.
_REFERENCE = re.compile(r"\d+\s*[A-Za-z]+\s+ago\b|\S+", re.IGNORECASE)


class TimeRefError(RewindError):
    """A snapshot reference that cannot be read, or a time before the tenant's first snapshot."""


def split_references(words: list[str]) -> list[str]:
    """Command-line words to references: ``["2h", "ago", "latest"]`` -> ``["2h ago", "latest"]``."""
    return _REFERENCE.findall(" ".join(words))


def is_live(ref: str) -> bool:
    return ref.strip().lower() == LIVE


def parse_time(ref: str, now: datetime) -> datetime | None:
    """The moment a time reference names (aware, UTC), or None if ``ref`` is not a time."""
    text = ref.strip().lower()
    if text == "now":
        return now
    if text == "yesterday":  # the same time a day earlier, not midnight: "what changed since yesterday"
        return now - timedelta(days=1)
    if text == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    relative = _RELATIVE.match(text)
    if relative:
        unit = _UNITS.get(relative.group(2))
        if unit is None:
            raise TimeRefError(
                f"unknown time unit in {ref!r}: use s, m, h, d or w (e.g. '30m ago', '2 hours ago')"
            )
        return now - timedelta(**{unit: int(relative.group(1))})
    if _HEX.match(text) or not any(c in text for c in "-:"):
        return None  # a snapshot id or prefix
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise TimeRefError(
                f"cannot read {ref!r} as a time: use an ISO time (2026-11-27T09:00Z), a date, "
                "'2h ago', 'yesterday', 'latest' or a snapshot id"
            ) from None
        moment = datetime(day.year, day.month, day.day)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def resolve(catalog: Catalog, tenant: str, ref: str, now: datetime) -> SnapshotRow:
    """The snapshot a reference names; a time gives the newest snapshot at or before it."""
    text = ref.strip()
    if not text:
        raise TimeRefError(
            "empty snapshot reference: give a snapshot id, 'latest', or a time such as '2h ago'"
        )
    if is_live(text):
        raise TimeRefError("'live' means a new snapshot of the tenant: only `rewind diff` takes it")
    if text.lower() == "latest":
        return catalog.snapshot(tenant, "latest")
    moment = parse_time(text, now.astimezone(UTC))
    if moment is None:
        return catalog.snapshot(tenant, text)
    found = catalog.snapshot_at(tenant, moment)
    if found is not None:
        return found
    oldest = catalog.snapshots(tenant)[-1:]
    if not oldest:
        raise TimeRefError(f"tenant {tenant} has no snapshots yet: run `rewind backup` first")
    first = oldest[0]
    raise TimeRefError(
        f"no snapshot at or before {moment.isoformat(timespec='seconds')} ({text}): the oldest is "
        f"{first.snapshot_id[:12]} from {first.created_at.astimezone(UTC).isoformat(timespec='seconds')}"
    )


def utc_iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with a ``Z``, as Graph writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
