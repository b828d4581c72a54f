"""What a person asks to restore, as typed in the CLI or in chat, and the snapshot objects it stands for.

Grammar (case-insensitive keywords)::

    ID | UPN | NAME | TYPE:NAME | "NAME"   one object
    type TYPE | all TITLE                 every object of a type (``all conditional access policies``)
    deleted [since TIME]                  objects of the snapshot now deleted or gone
    objects TYPE/ID[,TYPE/ID...]          an explicit list (what an alert's button carries)
    alert FROM TO                         the objects an alert between two snapshots reported
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from core.catalog import Catalog, SnapshotRow
from core.catalog import ObjectRef as CatalogRef
from core.registry import OBJECT_TYPES, ObjectType, RestoreMode, UnknownType, object_type
from core.repository import Repository
from core.restore.errors import AmbiguousSelector, NotInSnapshot, SelectorError
from core.restore.live import LiveObject, LiveTenant, ObjectRef, Presence
from core.restore.model import PlanWarning
from core.snapshots import SnapshotReader
from core.timeref import TimeRefError
from core.timeref import resolve as resolve_snapshot

USAGE = (
    "usage: restore plan ID|UPN|NAME|TYPE:NAME | type TYPE | all TITLE | deleted [since TIME] | "
    "objects TYPE/ID[,TYPE/ID...] | alert FROM TO  [--from SNAPSHOT]"
)
SHOWN_CANDIDATES = 5
_DURATION = re.compile(r"^\d+\s*[a-z]+$", re.IGNORECASE)

SelectorKind = Literal["object", "type", "deleted", "objects", "alert"]


@dataclass(frozen=True)
class Selector:
    kind: SelectorKind
    text: str = ""  # object: the id, UPN or name; type: the type's registry name
    type_name: str | None = None  # object: the type prefix given (user:, group:)
    since: str | None = None  # deleted: the time after which deletions count
    refs: tuple[tuple[str, str], ...] = ()  # objects: (type, id)
    window: tuple[str, str] | None = None  # alert: (from snapshot, to snapshot)


@dataclass
class Selection:
    """The chosen snapshot and the objects of it the selector names, with what was learnt on the way."""

    snapshot: SnapshotRow
    reader: SnapshotReader
    refs: list[ObjectRef]
    notes: list[PlanWarning] = field(default_factory=list)
    prefetched: dict[str, LiveObject] = field(default_factory=dict)  # live reads already done


class ListsIds(Protocol):
    async def live_ids(self, type_name: str) -> set[str]: ...


def bad_syntax(problem: str) -> SelectorError:
    return SelectorError(f"{problem}; {USAGE}")


# --- parsing ------------------------------------------------------------------------------------------------


def parse_selector(text: str) -> Selector:
    """The selector a person typed; raises ``SelectorError`` (with the usage line) when it cannot be read."""
    raw = " ".join(text.split())
    if not raw:
        raise bad_syntax("nothing to restore was named")
    try:
        words = shlex.split(raw)
    except ValueError:
        raise bad_syntax(f"unbalanced quotes in {raw!r}") from None
    head = words[0].lower() if words else ""
    quoted = raw[0] in "\"'"
    if quoted:
        return Selector("object", " ".join(words))
    rest = words[1:]
    if head == "type":
        if not rest:
            raise bad_syntax("`type` needs a type name")
        return Selector("type", type_from_words(" ".join(rest)).name)
    if head == "all":
        if not rest:
            raise bad_syntax("`all` needs what to restore, e.g. `all conditional access policies`")
        return Selector("type", type_from_words(" ".join(rest)).name)
    if head == "deleted":
        if not rest:
            return Selector("deleted")
        if rest[0].lower() != "since" or len(rest) < 2:
            raise bad_syntax(f"cannot read {raw!r}: write `deleted since 1h` or `deleted`")
        return Selector("deleted", since=" ".join(rest[1:]))
    if head == "objects":
        return Selector("objects", refs=_object_list(" ".join(rest)))
    if head == "alert":
        if len(rest) != 2:
            raise bad_syntax("`alert` needs two snapshots: alert FROM TO")
        return Selector("alert", window=(rest[0], rest[1]))
    prefix, sep, name = raw.partition(":")
    if sep and name.strip() and " " not in prefix:
        try:
            kind = object_type(prefix)
        except UnknownType:
            kind = None
        if kind is not None:
            return Selector("object", _unquote(name.strip()), type_name=kind.name)
    return Selector("object", raw)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _object_list(text: str) -> tuple[tuple[str, str], ...]:
    items = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    if not items:
        raise bad_syntax("`objects` needs TYPE/ID items")
    refs: list[tuple[str, str]] = []
    for item in items:
        name, sep, object_id = item.partition("/")
        if not sep or not name or not object_id:
            raise bad_syntax(f"{item!r} is not TYPE/ID")
        try:
            refs.append((object_type(name).name, object_id))
        except UnknownType as exc:
            raise bad_syntax(str(exc)) from None
    return tuple(dict.fromkeys(refs))


def _singular(words: str) -> str:
    text = " ".join(words.lower().replace("(", " ").replace(")", " ").split())
    if text.endswith("ies"):
        return text[:-3] + "y"
    return text[:-1] if text.endswith("s") else text


def type_from_words(words: str) -> ObjectType:
    """A registry type by name or title, plural or singular: ``users``, ``Conditional Access policy``."""
    text = words.strip()
    if not text:
        raise bad_syntax("a type name is needed")
    wanted = _singular(text)
    for t in OBJECT_TYPES:
        names = {t.name.lower(), _singular(t.name), _singular(t.title), _singular(t.title.split(" (")[0])}
        if wanted in names or text.lower() in names:
            return t
    choices = ", ".join(sorted(t.name for t in OBJECT_TYPES))
    raise bad_syntax(f"unknown object type {text!r} (one of {choices})")


# --- resolving ----------------------------------------------------------------------------------------------


async def resolve_selection(
    selector: Selector,
    *,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    live: LiveTenant,
    snapshot: str | None,
    now: datetime,
) -> Selection:
    """The snapshot to restore from and the objects of it that ``selector`` names."""
    if selector.kind == "alert":
        return await _alert(selector, tenant_id, catalog, repository, snapshot, now)
    if selector.kind == "deleted":
        notes: list[PlanWarning] = []
        if snapshot or not selector.since:
            row = resolve_snapshot(catalog, tenant_id, snapshot or "latest", now)
        else:
            row, notes = _since(catalog, tenant_id, selector.since, now)
        selection = await _deleted(open_reader(repository, row), row, live)
        selection.notes.extend(notes)
        return selection
    row = resolve_snapshot(catalog, tenant_id, snapshot or "latest", now)
    reader = open_reader(repository, row)
    if selector.kind == "type":
        refs = [ObjectRef(selector.text, e.id) for e in reader.entries(selector.text)]
        return Selection(row, reader, refs)
    if selector.kind == "objects":
        missing = [(t, i) for t, i in selector.refs if reader.entry(t, i) is None]
        if missing:
            shown = ", ".join(f"{t}/{i}" for t, i in missing[:SHOWN_CANDIDATES])
            raise NotInSnapshot(
                f"snapshot {_when(row)} does not hold {shown}: choose the snapshot they were in with --from"
            )
        return Selection(row, reader, [ObjectRef(t, i) for t, i in selector.refs])
    found = find_one(catalog, tenant_id, selector.text, selector.type_name)
    if reader.entry(found.object_type, found.object_id) is None:
        holder = _snapshot_holding(catalog, tenant_id, found, row)
        if snapshot is not None or holder is None:
            raise NotInSnapshot(_not_in_snapshot(row, found, holder))
        row = holder  # no snapshot was asked for: the last one the object was in
        reader = open_reader(repository, row)
        if reader.entry(found.object_type, found.object_id) is None:
            raise NotInSnapshot(_not_in_snapshot(row, found, None))
    return Selection(row, reader, [ObjectRef(found.object_type, found.object_id)])


def open_reader(repository: Repository, row: SnapshotRow) -> SnapshotReader:
    return SnapshotReader(repository, {**repository.load_snapshot(row.snapshot_id), "id": row.snapshot_id})


def _since(
    catalog: Catalog, tenant_id: str, since: str, now: datetime
) -> tuple[SnapshotRow, list[PlanWarning]]:
    """The snapshot "since" names; when the tenant's first snapshot is younger, that one (and say so)."""
    text = since.strip()
    ref = f"{text} ago" if _DURATION.match(text) else text
    try:
        return resolve_snapshot(catalog, tenant_id, ref, now), []
    except TimeRefError:
        oldest = catalog.snapshots(tenant_id)[-1:]
        if not oldest:
            raise
    note = PlanWarning(
        "snapshot_after_since",
        f"no snapshot is as old as {since!r}: the tenant's first snapshot {_when(oldest[0])} is used",
    )
    return oldest[0], [note]


def find_one(catalog: Catalog, tenant_id: str, text: str, type_name: str | None) -> CatalogRef:
    """The one object (current or past) whose id, principal name or display name is ``text``."""
    needle = text.strip()
    key = needle.lower()
    refs = catalog.find_objects(tenant_id, needle, object_type=type_name, limit=50)
    stages = (
        [r for r in refs if r.object_id.lower() == key],
        [r for r in refs if (r.principal_name or "").lower() == key],
        [r for r in refs if (r.display_name or "").lower() == key],
    )
    for matches in stages:
        distinct = list({(r.object_type, r.object_id): r for r in matches}.values())
        if len(distinct) == 1:
            return distinct[0]
        if distinct:
            candidates = [describe(r) for r in distinct]
            more = (
                f"; and {len(distinct) - SHOWN_CANDIDATES} more" if len(distinct) > SHOWN_CANDIDATES else ""
            )
            raise AmbiguousSelector(
                f"{len(distinct)} objects are named {needle!r}: "
                f"{'; '.join(candidates[:SHOWN_CANDIDATES])}{more}; pick one by its id "
                f"(e.g. `restore plan {distinct[0].object_id}`)",
                candidates,
            )
    scope = f"{type_name} " if type_name else ""
    similar = [describe(r) for r in refs[:3]]
    hint = f" (names starting so: {'; '.join(similar)})" if similar else ""
    raise SelectorError(
        f"no {scope}object called {needle!r} in tenant {tenant_id}{hint}: "
        f"try `rewind history {needle}` or an id"
    )


def describe(ref: CatalogRef) -> str:
    return " ".join(
        part for part in (ref.object_type, ref.object_id, ref.display_name or ref.principal_name) if part
    )


def _when(row: SnapshotRow) -> str:
    return f"{row.snapshot_id[:8]} ({row.created_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')})"


def _snapshot_holding(
    catalog: Catalog, tenant_id: str, ref: CatalogRef, chosen: SnapshotRow
) -> SnapshotRow | None:
    """The newest snapshot not after ``chosen`` that holds the object; else the first one that does."""
    versions = catalog.versions(tenant_id, ref.object_type, ref.object_id)
    earlier = [v for v in versions if v.first_seen_at <= chosen.created_at]
    pick = (
        max(earlier, key=lambda v: v.last_seen_at).last_snapshot_id
        if earlier
        else (versions[0].first_snapshot_id if versions else None)
    )
    if pick is None:
        return None
    return catalog.snapshot(tenant_id, pick)


def _not_in_snapshot(row: SnapshotRow, ref: CatalogRef, holder: SnapshotRow | None) -> str:
    name = ref.display_name or ref.principal_name or ref.object_id
    message = f"snapshot {_when(row)} has no {ref.object_type} {name!r}"
    if holder is not None and holder.snapshot_id != row.snapshot_id:
        relation = "last" if holder.created_at <= row.created_at else "first"
        return (
            f"{message}: it is {relation} in snapshot {_when(holder)}; use --from {holder.snapshot_id[:12]}"
        )
    return f"{message}: choose a snapshot that holds it with --from (see `rewind history {ref.object_id}`)"


# --- deleted since ------------------------------------------------------------------------------------------

_LIVE_CHECK_CHUNK = 500  # objects read live per round, so memory stays bounded on large tenants


def deletable(t: ObjectType) -> bool:
    return t.restore is not RestoreMode.READ_ONLY and not t.singleton and t.restore is not RestoreMode.PATCH


async def _deleted(reader: SnapshotReader, row: SnapshotRow, live: LiveTenant) -> Selection:
    """Objects of the snapshot that are not live now: listed ids where the port can list, else read."""
    candidates: list[ObjectRef] = []
    for name in reader.type_names():
        t = object_type(name)
        if not deletable(t):
            continue
        ids = [e.id for e in reader.entries(name)]
        # Child types have no list of their own, and Conditional Access lists cost a second each:
        # the batched read below settles those.
        if t.parent is None and t.throttle_class != "conditional_access" and hasattr(live, "live_ids"):
            lister: ListsIds = live  # type: ignore[assignment]
            present = await lister.live_ids(name)
            ids = [i for i in ids if i not in present]
        candidates.extend(ObjectRef(name, i) for i in ids)
    remember = getattr(live, "remember_parents", None)
    if remember is not None:
        remember(parents_of(reader, candidates))
    prefetched: dict[str, LiveObject] = {}
    refs: list[ObjectRef] = []
    for start in range(0, len(candidates), _LIVE_CHECK_CHUNK):
        for found in await live.fetch_many(candidates[start : start + _LIVE_CHECK_CHUNK]):
            if found.presence is not Presence.PRESENT:
                prefetched[found.ref.key] = found
                refs.append(found.ref)
    return Selection(row, reader, refs, prefetched=prefetched)


def parents_of(reader: SnapshotReader, refs: Sequence[ObjectRef]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ref in refs:
        if object_type(ref.object_type).parent:
            entry = reader.entry(ref.object_type, ref.object_id)
            if entry is not None and entry.parent:
                out[ref.key] = entry.parent
    return out


# --- alerts -------------------------------------------------------------------------------------------------


async def _alert(
    selector: Selector,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    snapshot: str | None,
    now: datetime,
) -> Selection:
    from core.alerts.analysis import analyse  # the alert machinery is only needed for this selector
    from core.alerts.rules import RuleBook

    assert selector.window is not None
    before = resolve_snapshot(catalog, tenant_id, selector.window[0], now)
    after = resolve_snapshot(catalog, tenant_id, selector.window[1], now)
    if after.created_at < before.created_at:
        raise bad_syntax(f"alert {selector.window[0]} {selector.window[1]}: FROM must be the older snapshot")
    analysis = await asyncio.to_thread(
        analyse, catalog, repository, tenant_id, before, after, RuleBook.from_environment().current
    )
    objects: dict[tuple[str, str], Any] = {}
    for finding in analysis.findings:
        for change in finding.changes:
            objects.setdefault((change.type, change.id), change)
    row = resolve_snapshot(catalog, tenant_id, snapshot, now) if snapshot else before
    reader = open_reader(repository, row)
    refs: list[ObjectRef] = []
    created = 0
    for (type_name, object_id), _change in sorted(objects.items()):
        if reader.entry(type_name, object_id) is None:
            created += 1
            continue
        refs.append(ObjectRef(type_name, object_id))
    notes: list[PlanWarning] = []
    if created:
        notes.append(
            PlanWarning(
                "created_since",
                f"{created} object(s) in the alert were created after snapshot {row.snapshot_id[:8]}: "
                "restore puts objects back, it does not delete new ones",
            )
        )
    if not objects:
        notes.append(
            PlanWarning("empty_alert", "the alert's window holds no findings under the current rules")
        )
    return Selection(row, reader, refs, notes)
