"""Reading one type from Graph into a snapshot: full delta rounds, incremental rounds, plain lists.

Every reader streams: objects go into the snapshot as they arrive, except group membership chunks, which
Graph may spread over repeated entries later in the round and so are gathered per group until it ends.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.graph import GraphClient
from core.registry import ObjectType, Refresh
from core.snapshots import SnapshotReader, SnapshotWriter, canonical_json, load_json
from core.snapshots.snapshot import LinkValue

# Where a reader hands each finished object; the engine may hold some back to add relationships first.
Sink = Callable[[ObjectType, dict[str, Any], dict[str, LinkValue]], None]

DELTA_PAGE = 999
# A group's entry carries up to a hundred member references, each a parsed dict, and the client holds two
# pages at a time: a full page of groups is ~25 MB of Python objects. Smaller pages cost a few more requests
# in a chain that is far shorter than the users' one.
LINKED_DELTA_PAGE = 200


@dataclass
class TypeOutcome:
    name: str
    mode: str  # "delta-full", "delta", "list", "children"
    read: int = 0  # objects received from Graph
    removed: dict[str, str] = field(default_factory=dict)  # id -> "changed" (recycle bin) or "deleted"
    # Ids an incremental round put or removed (children re-read theirs). A full round changes every id and
    # nobody asks, so it keeps none: at 100,000 users that is a few MB for nothing.
    changed: set[str] = field(default_factory=set)
    delta_link: str | None = None


def delta_links(t: ObjectType, entry: Mapping[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """The relationship changes an entry carries: name -> [(target id, removed?)]."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for rel in t.relationships:
        items = entry.get(f"{rel.name}@delta")
        if items is not None:
            found[rel.name] = [(str(i["id"]), "@removed" in i) for i in items]
    return found


def properties(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry without its annotations (``@odata.type``, ``manager@delta``): no property name has an @."""
    return {k: v for k, v in entry.items() if "@" not in k}


async def read_delta_full(graph: GraphClient, t: ObjectType, snap: SnapshotWriter, sink: Sink) -> TypeOutcome:
    """The initial delta round: every object, plus the deltaLink the next incremental starts from."""
    assert t.delta_path
    outcome = TypeOutcome(t.name, "delta-full")
    snap.builder(t.name, incremental=False)
    objects: dict[str, bytes] = {}  # canonical JSON until the round ends: a third of the parsed size
    links: dict[str, dict[str, array[int]]] = {}
    multi = [r for r in t.relationships if r.refresh is Refresh.DELTA and not r.single]
    query = graph.delta(t.delta_path, params=_select(t.delta_select()), headers=_page_size(t))
    async for entry in query:
        if "@removed" in entry:
            continue
        oid = str(entry["id"])
        outcome.read += 1
        props = properties(entry)
        changes = delta_links(t, entry)
        if not multi:  # nothing can follow later in the round: store it now
            single: dict[str, LinkValue] = {
                name: next((i for i, gone in items if not gone), None) for name, items in changes.items()
            }
            sink(t, props, single)
            continue
        if len(props) > 1 or oid not in objects:
            earlier = load_json(objects[oid]) if oid in objects else {}
            objects[oid] = canonical_json({**earlier, **props})
        held = links.setdefault(oid, {r.name: array("I") for r in multi})  # 4 bytes a membership
        for name, items in changes.items():
            held[name].extend(snap.numbers.number_all([i for i, gone in items if not gone]))
    for oid, data in objects.items():
        held = links.get(oid, {})
        sink(t, load_json(data), {name: snap.numbers.ids(sorted(set(nums))) for name, nums in held.items()})
    outcome.delta_link = query.delta_link
    return outcome


async def read_delta_changes(
    graph: GraphClient,
    t: ObjectType,
    snap: SnapshotWriter,
    parent: SnapshotReader,
    delta_link: str,
    sink: Sink,
) -> TypeOutcome:
    """An incremental round: apply what changed since ``delta_link`` onto the parent snapshot's objects."""
    outcome = TypeOutcome(t.name, "delta")
    snap.builder(t.name, incremental=True)
    pending: dict[str, tuple[dict[str, Any], dict[str, LinkValue]]] = {}
    assert t.delta_path
    query = graph.delta(t.delta_path, delta_link=delta_link, headers=_page_size(t))
    async for entry in query:
        oid = str(entry["id"])
        outcome.read += 1
        if "@removed" in entry:
            outcome.removed[oid] = str(entry["@removed"].get("reason", "deleted"))
            pending.pop(oid, None)
            snap.delete(t, oid)
            outcome.changed.add(oid)
            continue
        outcome.removed.pop(oid, None)
        if oid not in pending:
            before = parent.get(t.name, oid)
            pending[oid] = ({**before.object} if before else {}, dict(before.links) if before else {})
        props, links = pending[oid]
        props.update(properties(entry))
        for name, items in delta_links(t, entry).items():
            rel = next(r for r in t.relationships if r.name == name)
            if rel.single:
                links[name] = next((i for i, gone in items if not gone), None)
                continue
            current = set(links.get(name) or [])
            current |= {i for i, gone in items if not gone}
            current -= {i for i, gone in items if gone}
            links[name] = sorted(current)
    for oid, (props, links) in pending.items():
        sink(t, props, links)
        outcome.changed.add(oid)
    outcome.delta_link = query.delta_link
    return outcome


async def read_list(graph: GraphClient, t: ObjectType, snap: SnapshotWriter, sink: Sink) -> TypeOutcome:
    """Types without delta are small: read them whole every time; unchanged pages deduplicate to nothing."""
    outcome = TypeOutcome(t.name, "list")
    snap.builder(t.name, incremental=False)
    if t.singleton:
        obj = await graph.get(t.list_path)
        sink(t, {**properties(obj), t.id_field: obj.get(t.id_field) or t.name}, {})
        outcome.read = 1
        return outcome
    params = {"$top": str(t.page_size)} if t.page_size else None
    async for obj in graph.iter_items(t.list_path, params=params):
        sink(t, properties(obj), {})
        outcome.read += 1
    return outcome


async def read_relationship(graph: GraphClient, path: str) -> list[str]:
    return [str(o["id"]) async for o in graph.iter_items(path, params={"$select": "id", "$top": "999"})]


def _page_size(t: ObjectType) -> dict[str, str]:
    linked = any(r.refresh is Refresh.DELTA and not r.single for r in t.relationships)
    return {"Prefer": f"odata.maxpagesize={LINKED_DELTA_PAGE if linked else DELTA_PAGE}"}


def _select(fields: tuple[str, ...]) -> dict[str, str] | None:
    return {"$select": ",".join(fields)} if fields else None
