"""What the scheduler calls: alert after each backup, and the daily summary per destination.

Diffing and reading the catalog are blocking, so they run in a worker thread; delivery goes through the
:class:`~bot.destinations.Notifier` port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from bot.destinations import Notifier
from bot.messages import Message, alert_message, cut, summary_message
from core.alerts.aggregate import SUPPRESSION_WINDOW, TOP_ITEMS, Alert, aggregate, remember, screen
from core.alerts.analysis import analyse
from core.alerts.finding import Finding
from core.alerts.rules import RuleBook
from core.alerts.summary import build_summary
from core.catalog import Catalog
from core.catalog.notify import DestinationRow, destinations_for, muted
from core.errors import RewindError
from core.repository import Repository

log = structlog.get_logger(__name__)


class DeliveryError(RewindError):
    """Some destinations could not be reached; the others got their alert."""


@dataclass(frozen=True)
class SentAlert:
    destination: DestinationRow
    alert: Alert
    message: Message


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def alert_after_backup(
    catalog: Catalog,
    repo: Repository,
    tenant_id: str,
    before_snapshot_id: str,
    after_snapshot_id: str,
    notifier: Notifier,
    rules: RuleBook,
    now: datetime,
    *,
    window: timedelta = SUPPRESSION_WINDOW,
    top: int = TOP_ITEMS,
) -> list[SentAlert]:
    """Diff the two snapshots, evaluate the rules, attribute, and send each destination its one alert.

    Findings announced within ``window`` with the same resulting state are held back (and counted); what was
    delivered is recorded as announced. Raises :class:`DeliveryError` after trying every destination if
    some could not be reached.
    """
    rules.refresh()  # pick up an edited rule file; a broken one leaves the previous rules in force
    before = catalog.snapshot(tenant_id, before_snapshot_id)
    after = catalog.snapshot(tenant_id, after_snapshot_id)
    analysis = await asyncio.to_thread(analyse, catalog, repo, tenant_id, before, after, rules.current)
    if not analysis.findings:
        return []
    screened = screen(catalog, tenant_id, analysis.findings, now, window)
    sent: list[SentAlert] = []
    delivered: dict[str, Finding] = {}
    errors: list[str] = []
    for destination in destinations_for(catalog, tenant_id, "alerts"):
        quiet = muted(catalog, destination.destination_id, tenant_id, now)
        alert = aggregate(
            [f for f in screened.fresh if f.fingerprint not in quiet],
            tenant_id=tenant_id,
            before=analysis.before,
            after=analysis.after,
            min_severity=destination.min_severity,
            destination_id=destination.destination_id,
            top=top,
            suppressed=screened.repeated,
            actor_names=analysis.actor_names,
        )
        if alert is None:
            continue
        message = alert_message(alert, now=now, tz=zone(destination.timezone))
        try:
            await notifier.send(destination, message)
        except Exception as exc:  # one unreachable channel must not silence the others
            errors.append(f"{destination.platform} {destination.channel}: {_reason(exc)}")
            log.warning(
                "alert not delivered", destination=destination.destination_id, error=type(exc).__name__
            )
            continue
        sent.append(SentAlert(destination, alert, message))
        delivered.update((f.fingerprint, f) for f in alert.findings)
    remember(catalog, tenant_id, announced=delivered.values(), repeated=screened.repeated, now=now)
    if errors:
        raise DeliveryError(f"{len(errors)} destination(s) did not get the alert: {'; '.join(errors)}")
    return sent


def _reason(exc: Exception) -> str:
    # Only Rewind's own errors are known to be free of secrets; a library's may quote a webhook URL.
    return cut(str(exc), 160) if isinstance(exc, RewindError) and str(exc) else type(exc).__name__


async def send_daily_summary(
    catalog: Catalog,
    repo: Repository,
    tenant_id: str,
    destination: DestinationRow,
    notifier: Notifier,
    now: datetime,
    *,
    rules: RuleBook | None = None,
) -> Message:
    """Build the tenant's daily summary for ``now`` and send it to ``destination``; returns the message."""
    book = rules or RuleBook.from_environment()
    book.refresh()
    summary = await asyncio.to_thread(build_summary, catalog, repo, tenant_id, book.current, now)
    message = summary_message(summary, tz=zone(destination.timezone))
    await notifier.send(destination, message)
    return message
