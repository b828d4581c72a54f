"""Who made a change: the archived directory audit log joined to changes by target object id.

A change between two snapshots is matched with the audit records of that window (plus a margin, since
Entra's clock and delivery lag a little) that name the changed object among their ``targetResources``. For
relationship changes the changed object is the group or unit that owns the link; role assignments, grants
and app role assignments are also found through the principal (or client) they concern, by activity. Among
the matches the most telling record wins (a delete for a removal, a record naming a changed property for a
modification), then the latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from core.backup.logs import read_archived
from core.diff.model import Attribution, Change
from core.registry import DIRECTORY_AUDITS
from core.snapshots import BlobRepository

MARGIN = timedelta(minutes=5)

# Audit records may name a related object instead of the changed one: (its property, an activity word).
_RELATED: dict[str, tuple[tuple[str, str], ...]] = {
    "unifiedRoleAssignment": (("principalId", "role"),),
    "unifiedRoleEligibilitySchedule": (("principalId", "role"),),
    "oauth2PermissionGrant": (("clientId", "consent"), ("clientId", "permission grant")),
    "appRoleAssignment": (("principalId", "app role"), ("resourceId", "app role")),
}
_ADD_WORDS = ("add", "create", "consent", "assign", "restore")
_REMOVE_WORDS = ("delete", "remove", "revoke")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    activity: str
    attribution: Attribution
    display_name: str | None  # the person's display name, when the record carries it
    properties: frozenset[str]  # names of the properties the record says it modified (casefolded)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def audit_records(
    repo: BlobRepository,
    record: Mapping[str, Any],
    since: datetime,
    until: datetime,
    margin: timedelta = MARGIN,
) -> list[dict[str, Any]]:
    """The directory audit records archived up to the snapshot ``record``, read only for the days of
    ``[since - margin, until + margin]``."""
    state = (record.get("logs") or {}).get(DIRECTORY_AUDITS.name) or {}
    first, last = (since - margin).date(), (until + margin).date()
    days = {day: blob for day, blob in (state.get("days") or {}).items() if first <= _day(day) <= last}
    return read_archived(repo, {"days": days}) if days else []


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return date.min


def _entry(record: Mapping[str, Any]) -> AuditEntry | None:
    at = parse_time(record.get("activityDateTime"))
    if at is None:
        return None
    activity = str(record.get("activityDisplayName") or "")
    initiated = record.get("initiatedBy") or {}
    user, app = initiated.get("user"), initiated.get("app")
    display: str | None = None
    if isinstance(user, Mapping) and (user.get("userPrincipalName") or user.get("id")):
        attribution = Attribution(
            actor=str(user.get("userPrincipalName") or user.get("id")),
            actor_type="user",
            activity=activity,
            at=str(record["activityDateTime"]),
            actor_id=user.get("id"),
        )
        display = user.get("displayName") or None
    elif isinstance(app, Mapping) and (app.get("displayName") or app.get("appId")):
        attribution = Attribution(
            actor=str(app.get("displayName") or app.get("appId")),
            actor_type="app",
            activity=activity,
            at=str(record["activityDateTime"]),
            actor_id=app.get("servicePrincipalId") or app.get("appId"),
        )
    else:
        return None
    properties = frozenset(
        str(p.get("displayName")).casefold()
        for target in record.get("targetResources") or []
        for p in target.get("modifiedProperties") or []
        if isinstance(p, Mapping) and p.get("displayName")
    )
    return AuditEntry(at, activity, attribution, display, properties)


class Attributor:
    """Attributes changes of one diff window from the audit records of that window."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]],
        since: datetime,
        until: datetime,
        margin: timedelta = MARGIN,
    ) -> None:
        self._by_target: dict[str, list[AuditEntry]] = {}
        self.names: dict[str, str] = {}  # actor (UPN or app name) -> display name
        start, end = since - margin, until + margin
        for record in records:
            entry = _entry(record)
            if entry is None or not start <= entry.at <= end:
                continue
            if entry.display_name:
                self.names.setdefault(entry.attribution.actor, entry.display_name)
            for target in record.get("targetResources") or []:
                target_id = target.get("id") if isinstance(target, Mapping) else None
                if target_id:
                    self._by_target.setdefault(str(target_id).casefold(), []).append(entry)

    def attribution(self, change: Change) -> Attribution | None:
        direct = self._candidates(change.id)
        if direct:
            return self._best(change, direct)
        obj = change.after if change.after is not None else change.before
        for prop, word in _RELATED.get(change.type, ()):
            related = obj.get(prop) if obj else None
            if isinstance(related, str):
                found = [e for e in self._candidates(related) if word in e.activity.casefold()]
                if found:
                    return self._best(change, found)
        return None

    def attribute(self, changes: Sequence[Change]) -> tuple[Change, ...]:
        """The changes, each with its attribution where the log has one."""
        return tuple(
            replace(c, attribution=found) if (found := self.attribution(c)) is not None else c
            for c in changes
        )

    def _candidates(self, object_id: str) -> list[AuditEntry]:
        return self._by_target.get(object_id.casefold(), [])

    def _best(self, change: Change, entries: list[AuditEntry]) -> Attribution:
        fields = {f.path.split(".")[0].split("[")[0].casefold() for f in change.fields}
        words = {"added": _ADD_WORDS, "removed": _REMOVE_WORDS}.get(change.change, ())

        link = change.link.relationship.casefold().rstrip("s") if change.link else None

        def telling(entry: AuditEntry) -> int:
            activity = entry.activity.casefold()
            if link is not None:
                return 1 if link in activity else 0
            if words and any(w in activity for w in words):
                return 1
            return 1 if fields & entry.properties else 0

        return max(entries, key=lambda e: (telling(e), e.at)).attribution
