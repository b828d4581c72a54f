"""``subscribe`` and ``unsubscribe``: a channel's alert and summary subscriptions, as catalog destinations.

Subscribing a channel the bot was removed from (and so paused) resumes it; ``alerts`` and ``summary`` are
kept independently, so subscribing one never turns the other off.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog import Catalog
from core.catalog.notify import (
    ALL_TENANTS,
    SEVERITIES,
    DestinationRow,
    add_destination,
    list_destinations,
    pause_destination,
    remove_destination,
    resume_destination,
)

KINDS = ("alerts", "summary")
__all__ = [
    "KINDS",
    "DestinationRow",
    "Subscription",
    "channel_rows",
    "pause_channel",
    "pause_gone",
    "subscribe",
    "unsubscribe",
]


@dataclass(frozen=True)
class Subscription:
    row: DestinationRow
    created: bool
    resumed: bool


def channel_rows(
    catalog: Catalog, platform: str, channel: str, tenant_id: str | None = None
) -> list[DestinationRow]:
    return [
        row
        for row in list_destinations(catalog)
        if row.platform == platform
        and row.channel == channel
        and (tenant_id is None or row.tenant_id == tenant_id)
    ]


def subscribe(
    catalog: Catalog,
    *,
    platform: str,
    channel: str,
    kind: str,
    tenant_id: str = ALL_TENANTS,
    min_severity: str | None = None,
    created_by: str | None = None,
) -> Subscription:
    if kind not in KINDS:
        raise ValueError(f"subscribe to alerts or summary, not {kind!r}")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise ValueError(f"unknown severity {min_severity!r}: choose {', '.join(SEVERITIES)}")
    existing = next(iter(channel_rows(catalog, platform, channel, tenant_id)), None)
    row, created = add_destination(
        catalog,
        platform=platform,
        channel=channel,
        tenant_id=tenant_id,
        alerts=kind == "alerts" or (existing is not None and existing.alerts),
        summary=kind == "summary" or (existing is not None and existing.summary),
        min_severity=min_severity or (existing.min_severity if existing else "warning"),
        summary_time=existing.summary_time if existing else "08:00",
        timezone=existing.timezone if existing else "UTC",
        created_by=created_by,
    )
    resumed = False
    if row.paused:
        row, resumed = resume_destination(catalog, row.destination_id), True
    return Subscription(row, created, resumed)


def unsubscribe(
    catalog: Catalog, *, platform: str, channel: str, kind: str | None = None, tenant_id: str | None = None
) -> list[DestinationRow]:
    """Stop ``kind`` (or everything) for this channel; a row left with neither is removed. Returns the rows
    changed."""
    changed: list[DestinationRow] = []
    for row in channel_rows(catalog, platform, channel, tenant_id):
        alerts = row.alerts and kind not in (None, "alerts")
        summary = row.summary and kind not in (None, "summary")
        if not alerts and not summary:
            changed.append(remove_destination(catalog, row.destination_id))
        elif (alerts, summary) != (row.alerts, row.summary):
            updated, _ = add_destination(
                catalog,
                platform=platform,
                channel=channel,
                tenant_id=row.tenant_id,
                alerts=alerts,
                summary=summary,
                min_severity=row.min_severity,
                summary_time=row.summary_time,
                timezone=row.timezone,
            )
            changed.append(updated)
    return changed


def pause_gone(catalog: Catalog, destination: DestinationRow, reason: str) -> DestinationRow:
    """The bot cannot post there any more: stop trying (and so report it once) until subscribed again."""
    return pause_destination(catalog, destination.destination_id, reason)


def pause_channel(catalog: Catalog, platform: str, channel: str, reason: str) -> list[DestinationRow]:
    """Pause every subscription of a channel the bot left; returns those newly paused."""
    return [
        pause_destination(catalog, row.destination_id, reason)
        for row in channel_rows(catalog, platform, channel)
        if not row.paused
    ]
