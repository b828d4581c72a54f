"""The catalog's notification tables: alert destinations, per-tenant baselines and announced alerts.

Functions take a :class:`Catalog` and go through its ``reading()`` / ``writing()`` connections, so they share
its engine, locking and one-line error mapping. Rows come back as plain frozen dataclasses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.catalog.catalog import Catalog
from core.catalog.errors import Ambiguous, NotFound
from core.catalog.models import ANNOUNCEMENTS, BASELINES, DESTINATIONS, MUTES, SNAPSHOTS

PLATFORMS = ("test", "slack", "teams")
SEVERITIES = ("info", "warning", "critical")  # the alert rules' vocabulary, least severe first
ALL_TENANTS = "*"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DestinationKind = Literal["alerts", "summary"]


@dataclass(frozen=True)
class DestinationRow:
    destination_id: str
    platform: str
    channel: str
    tenant_id: str  # a tenant id or "*"
    alerts: bool
    summary: bool
    min_severity: str
    summary_time: str
    timezone: str
    paused: bool
    paused_reason: str | None
    created_at: datetime
    created_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.destination_id,
            "platform": self.platform,
            "channel": self.channel,
            "tenant_id": self.tenant_id,
            "alerts": self.alerts,
            "summary": self.summary,
            "min_severity": self.min_severity,
            "summary_time": self.summary_time,
            "timezone": self.timezone,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class BaselineRow:
    tenant_id: str
    snapshot_id: str
    set_at: datetime
    set_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "snapshot_id": self.snapshot_id,
            "set_at": self.set_at.isoformat(),
            "set_by": self.set_by,
        }


@dataclass(frozen=True)
class AnnouncementRow:
    tenant_id: str
    fingerprint: str
    state: str  # what the announced change left behind
    first_at: datetime  # when this state was announced
    last_at: datetime  # when it was last seen (announced or suppressed)
    count: int  # times seen since it was announced


# --- destinations ------------------------------------------------------------------------------------------


def check_destination(
    platform: str, channel: str, tenant_id: str, min_severity: str, summary_time: str, timezone: str
) -> None:
    """Raise a one-line ValueError for a destination setting that cannot work."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: choose {', '.join(PLATFORMS)}")
    if not channel.strip():
        raise ValueError("the channel must not be empty")
    if not tenant_id.strip():
        raise ValueError(f"the tenant must be a tenant id or {ALL_TENANTS!r} for every tenant")
    if min_severity not in SEVERITIES:
        raise ValueError(f"unknown severity {min_severity!r}: choose {', '.join(SEVERITIES)}")
    if not _TIME.match(summary_time):
        raise ValueError(f"summary time {summary_time!r} is not a 24-hour HH:MM time such as 08:00")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {timezone!r}: use an IANA name such as Europe/Paris or UTC"
        ) from None


def add_destination(
    catalog: Catalog,
    *,
    platform: str,
    channel: str,
    tenant_id: str,
    alerts: bool = True,
    summary: bool = True,
    min_severity: str = "warning",
    summary_time: str = "08:00",
    timezone: str = "UTC",
    created_by: str | None = None,
) -> tuple[DestinationRow, bool]:
    """Subscribe a channel; the same (platform, channel, tenant) again updates its settings in place.

    Returns the row and whether it was created.
    """
    check_destination(platform, channel, tenant_id, min_severity, summary_time, timezone)
    settings = {
        "alerts": alerts,
        "summary": summary,
        "min_severity": min_severity,
        "summary_time": summary_time,
        "timezone": timezone,
    }
    with catalog.writing() as conn:
        existing = conn.execute(
            sa.select(DESTINATIONS).where(
                DESTINATIONS.c.platform == platform,
                DESTINATIONS.c.channel == channel,
                DESTINATIONS.c.tenant_id == tenant_id,
            )
        ).first()
        if existing is not None:
            conn.execute(
                DESTINATIONS.update()
                .where(DESTINATIONS.c.destination_id == existing.destination_id)
                .values(**settings)
            )
            destination_id, created = str(existing.destination_id), False
        else:
            destination_id, created = f"dst-{uuid.uuid4().hex[:12]}", True
            conn.execute(
                DESTINATIONS.insert().values(
                    destination_id=destination_id,
                    platform=platform,
                    channel=channel,
                    tenant_id=tenant_id,
                    paused=False,
                    created_at=catalog.clock(),
                    created_by=created_by,
                    **settings,
                )
            )
        row = _destination_row(_require_destination(conn, destination_id))
    return row, created


def list_destinations(catalog: Catalog, tenant_id: str | None = None) -> list[DestinationRow]:
    """Every destination, or those of one tenant (its own and the "*" ones), oldest first."""
    query = sa.select(DESTINATIONS).order_by(DESTINATIONS.c.created_at, DESTINATIONS.c.destination_id)
    if tenant_id is not None:
        query = query.where(DESTINATIONS.c.tenant_id.in_([tenant_id, ALL_TENANTS]))
    with catalog.reading() as conn:
        return [_destination_row(row) for row in conn.execute(query)]


def destination(catalog: Catalog, ref: str) -> DestinationRow:
    """A destination by id or unique id prefix."""
    with catalog.reading() as conn:
        return _destination_row(_require_destination(conn, ref))


def destinations_for(catalog: Catalog, tenant_id: str, kind: DestinationKind) -> list[DestinationRow]:
    """Where a tenant's alerts (or summaries) go: its own and the "*" destinations that are not paused."""
    flag = DESTINATIONS.c.alerts if kind == "alerts" else DESTINATIONS.c.summary
    query = (
        sa.select(DESTINATIONS)
        .where(
            DESTINATIONS.c.tenant_id.in_([tenant_id, ALL_TENANTS]),
            flag.is_(True),
            DESTINATIONS.c.paused.is_(False),
        )
        .order_by(DESTINATIONS.c.created_at, DESTINATIONS.c.destination_id)
    )
    with catalog.reading() as conn:
        return [_destination_row(row) for row in conn.execute(query)]


def remove_destination(catalog: Catalog, ref: str) -> DestinationRow:
    with catalog.writing() as conn:
        row = _destination_row(_require_destination(conn, ref))
        conn.execute(DESTINATIONS.delete().where(DESTINATIONS.c.destination_id == row.destination_id))
    return row


def pause_destination(catalog: Catalog, ref: str, reason: str | None = None) -> DestinationRow:
    return _set_paused(catalog, ref, True, reason)


def resume_destination(catalog: Catalog, ref: str) -> DestinationRow:
    return _set_paused(catalog, ref, False, None)


def _set_paused(catalog: Catalog, ref: str, paused: bool, reason: str | None) -> DestinationRow:
    with catalog.writing() as conn:
        found = _destination_row(_require_destination(conn, ref))
        conn.execute(
            DESTINATIONS.update()
            .where(DESTINATIONS.c.destination_id == found.destination_id)
            .values(paused=paused, paused_reason=reason)
        )
        return _destination_row(_require_destination(conn, found.destination_id))


def _require_destination(conn: Connection, ref: str) -> Any:
    exact = conn.execute(sa.select(DESTINATIONS).where(DESTINATIONS.c.destination_id == ref)).first()
    if exact is not None:
        return exact
    matches = (
        conn.execute(
            sa.select(DESTINATIONS)
            .where(DESTINATIONS.c.destination_id.startswith(ref, autoescape=True))
            .limit(6)
        ).all()
        if ref
        else []
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = [str(m.destination_id) for m in matches]
        raise Ambiguous(f"destination {ref!r} is ambiguous: it starts {', '.join(ids)}", ids)
    raise NotFound(f"no destination {ref!r}: `rewind destinations list` shows them")


def _destination_row(row: Any) -> DestinationRow:
    return DestinationRow(
        destination_id=row.destination_id,
        platform=row.platform,
        channel=row.channel,
        tenant_id=row.tenant_id,
        alerts=bool(row.alerts),
        summary=bool(row.summary),
        min_severity=row.min_severity,
        summary_time=row.summary_time,
        timezone=row.timezone,
        paused=bool(row.paused),
        paused_reason=row.paused_reason,
        created_at=row.created_at,
        created_by=row.created_by,
    )


# --- baselines ---------------------------------------------------------------------------------------------


def set_baseline(catalog: Catalog, tenant_id: str, snapshot_id: str, set_by: str | None) -> BaselineRow:
    """Pin the tenant's approved state to a snapshot the catalog knows (replacing any earlier baseline)."""
    row = BaselineRow(tenant_id, snapshot_id, catalog.clock(), set_by)
    with catalog.writing() as conn:
        known = conn.execute(
            sa.select(SNAPSHOTS.c.snapshot_id).where(
                SNAPSHOTS.c.tenant_id == tenant_id, SNAPSHOTS.c.snapshot_id == snapshot_id
            )
        ).first()
        if known is None:
            raise NotFound(f"tenant {tenant_id} has no snapshot {snapshot_id!r} in the catalog")
        conn.execute(BASELINES.delete().where(BASELINES.c.tenant_id == tenant_id))
        conn.execute(
            BASELINES.insert().values(
                tenant_id=row.tenant_id, snapshot_id=row.snapshot_id, set_at=row.set_at, set_by=row.set_by
            )
        )
    return row


def baseline(catalog: Catalog, tenant_id: str) -> BaselineRow | None:
    with catalog.reading() as conn:
        row = conn.execute(sa.select(BASELINES).where(BASELINES.c.tenant_id == tenant_id)).first()
    if row is None:
        return None
    return BaselineRow(row.tenant_id, row.snapshot_id, row.set_at, row.set_by)


def clear_baseline(catalog: Catalog, tenant_id: str) -> bool:
    with catalog.writing() as conn:
        result = conn.execute(BASELINES.delete().where(BASELINES.c.tenant_id == tenant_id))
    return bool(result.rowcount)


# --- announcements -----------------------------------------------------------------------------------------


def announcements(
    catalog: Catalog, tenant_id: str, fingerprints: Iterable[str]
) -> dict[str, AnnouncementRow]:
    """The announcements recorded for these fingerprints, by fingerprint."""
    wanted = sorted(set(fingerprints))
    found: dict[str, AnnouncementRow] = {}
    with catalog.reading() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = sa.select(ANNOUNCEMENTS).where(
                ANNOUNCEMENTS.c.tenant_id == tenant_id, ANNOUNCEMENTS.c.fingerprint.in_(chunk)
            )
            for row in conn.execute(query):
                values = row._mapping  # not row.count: that is the tuple method
                found[values["fingerprint"]] = AnnouncementRow(
                    values["tenant_id"],
                    values["fingerprint"],
                    values["state"],
                    values["first_at"],
                    values["last_at"],
                    int(values["count"]),
                )
    return found


def record_announcements(
    catalog: Catalog,
    tenant_id: str,
    *,
    announced: Mapping[str, str],
    repeated: Iterable[str] = (),
    now: datetime,
) -> None:
    """In one transaction: ``announced`` (fingerprint -> state) start a new announcement; ``repeated``
    fingerprints were suppressed this time, so their count grows."""
    catalog.upsert_tenant(tenant_id)  # the table's foreign key; a no-op once snapshots exist
    with catalog.writing() as conn:
        for fingerprint, state in sorted(announced.items()):
            conn.execute(
                ANNOUNCEMENTS.delete().where(
                    ANNOUNCEMENTS.c.tenant_id == tenant_id, ANNOUNCEMENTS.c.fingerprint == fingerprint
                )
            )
            conn.execute(
                ANNOUNCEMENTS.insert().values(
                    tenant_id=tenant_id,
                    fingerprint=fingerprint,
                    state=state,
                    first_at=now,
                    last_at=now,
                    count=1,
                )
            )
        for fingerprint in sorted(set(repeated)):
            conn.execute(
                ANNOUNCEMENTS.update()
                .where(ANNOUNCEMENTS.c.tenant_id == tenant_id, ANNOUNCEMENTS.c.fingerprint == fingerprint)
                .values(count=ANNOUNCEMENTS.c.count + 1, last_at=now)
            )


def forget_announcements(catalog: Catalog, tenant_id: str, older_than: datetime) -> int:
    """Drop announcements last seen before ``older_than``; they can no longer suppress anything."""
    with catalog.writing() as conn:
        result = conn.execute(
            ANNOUNCEMENTS.delete().where(
                ANNOUNCEMENTS.c.tenant_id == tenant_id, ANNOUNCEMENTS.c.last_at < older_than
            )
        )
    return int(result.rowcount or 0)


__all__ = [
    "ALL_TENANTS",
    "PLATFORMS",
    "SEVERITIES",
    "AnnouncementRow",
    "BaselineRow",
    "DestinationRow",
    "add_destination",
    "announcements",
    "baseline",
    "clear_baseline",
    "destination",
    "destinations_for",
    "forget_announcements",
    "list_destinations",
    "pause_destination",
    "record_announcements",
    "remove_destination",
    "resume_destination",
    "set_baseline",
]


# --- mutes -------------------------------------------------------------------------------------------------


def mute(
    catalog: Catalog,
    destination_id: str,
    tenant_id: str,
    fingerprints: Iterable[str],
    *,
    until: datetime,
    muted_by: str | None = None,
) -> int:
    """Silence these findings in one destination until ``until`` (a later mute extends an earlier one)."""
    wanted = sorted(set(fingerprints))
    now = catalog.clock()
    with catalog.writing() as conn:
        destination_id = str(_require_destination(conn, destination_id).destination_id)
        for fingerprint in wanted:
            key = (MUTES.c.destination_id == destination_id) & (MUTES.c.fingerprint == fingerprint)
            conn.execute(MUTES.delete().where(key))
            conn.execute(
                MUTES.insert().values(
                    destination_id=destination_id,
                    fingerprint=fingerprint,
                    tenant_id=tenant_id,
                    until=until,
                    muted_by=muted_by,
                    muted_at=now,
                )
            )
    return len(wanted)


def muted(catalog: Catalog, destination_id: str, tenant_id: str, now: datetime) -> frozenset[str]:
    """The fingerprints muted in this destination for this tenant at ``now``."""
    query = sa.select(MUTES.c.fingerprint).where(
        MUTES.c.destination_id == destination_id, MUTES.c.tenant_id == tenant_id, MUTES.c.until > now
    )
    with catalog.reading() as conn:
        return frozenset(str(row[0]) for row in conn.execute(query))
