"""Timestamps in Graph's ISO 8601 'Z' form, and a sortable normal form for comparisons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(ts: float, *, precise: bool = False) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    if precise:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def sortable(value: Any) -> str:
    """A fixed-width string that sorts like the instant it names (unparseable values sort first)."""
    moment = parse_dt(value)
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
