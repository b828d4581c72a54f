"""The backup service: one snapshot of a whole tenant, full or incremental, written crash-safely.

Order of writes (restic's invariant, then ours): packs, index, snapshot record, then the catalog. A run killed
anywhere leaves no snapshot that looks complete, and the next run reuses every blob already indexed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from core.backup.logs import LogArchiveResult, archive_window
from core.backup.memory import fewer_collections, pin_mmap_threshold
from core.backup.readers import (
    Sink,
    TypeOutcome,
    properties,
    read_delta_changes,
    read_delta_full,
    read_list,
    read_relationship,
)
from core.catalog import Catalog, ObjectVersion, SnapshotRow
from core.errors import RewindError
from core.graph import DeltaTokenExpired, GraphClient, GraphError, NotFound
from core.registry import LOG_STREAMS, OBJECT_TYPES, ObjectType, Refresh, object_type
from core.repository import Repository
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter, canonical_json, load_json
from core.snapshots.snapshot import LinkValue

log = structlog.get_logger("rewind.backup")
# Below the client's concurrency cap, so per-object fan-out never queues the delta chains behind it: a chain
# of pages is what bounds a full backup's duration.
RELATIONSHIP_CONCURRENCY = 8
TOOL_VERSION = "0.1.0"

Progress = Callable[[str, int], None]


@dataclass
class BackupResult:
    snapshot_id: str
    kind: str
    counts: dict[str, int]
    modes: dict[str, str]
    changed: dict[str, int]
    failures: dict[str, str]
    logs: dict[str, int]
    duration_s: float
    graph: dict[str, Any] = field(default_factory=dict)
    bytes_written: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "kind": self.kind,
            "counts": self.counts,
            "changed": self.changed,
            "modes": self.modes,
            "failures": self.failures,
            "logs": self.logs,
            "duration_s": round(self.duration_s, 3),
            "bytes_written": self.bytes_written,
            "graph": self.graph,
        }


class BackupError(RewindError):
    pass


class BackupEngine:
    def __init__(
        self,
        graph: GraphClient,
        repo: Repository,
        catalog: Catalog,
        tenant_id: str,
        *,
        progress: Progress | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.graph = graph
        self.repo = repo
        self.catalog = catalog
        self.tenant_id = tenant_id
        self.progress = progress or (lambda _name, _n: None)
        self.clock = clock

    async def run(self, *, full: bool = False, types: Sequence[str] | None = None) -> BackupResult:
        pin_mmap_threshold()
        with fewer_collections():
            return await self._run(full=full, types=types)

    async def _run(self, *, full: bool, types: Sequence[str] | None) -> BackupResult:
        started = time.monotonic()
        parent = self._latest_record()
        reader = SnapshotReader(self.repo, parent) if parent else None
        kind = "full" if full or reader is None else "incremental"
        selected = self._select(types)
        self.catalog.upsert_tenant(self.tenant_id)
        numbers = reader.numbers if reader else ObjectNumbers()
        bytes_before = self.repo.stats.bytes_written
        with self.repo.writer() as writer:
            snap = SnapshotWriter(self.repo, writer, tenant_id=self.tenant_id, parent=parent, numbers=numbers)
            run = _Run(self, snap, reader if kind == "incremental" else None, parent)
            logs_task = asyncio.create_task(run.archive_logs(writer))
            await run.read_all(selected, logs_task)
            logs = logs_task.result()
            writer.flush()
            record = snap.finish(
                kind=kind,
                delta_tokens=run.delta_tokens(),
                extra={
                    "logs": {name: r.state for name, r in logs.items()},
                    "removed": {name: o.removed for name, o in run.outcomes.items() if o.removed},
                    "failures": run.failures,
                    "tool_version": TOOL_VERSION,
                },
            )
            record["roots"] = sorted({*record["roots"], *(root for r in logs.values() for root in r.roots)})
        snapshot_id = self.repo.save_snapshot(record)
        bytes_written = self.repo.stats.bytes_written - bytes_before
        gone = snap.deleted_ids(run.parent)
        if run.parent is None:
            numbers.release()  # saved with the snapshot; a full run has no parent to look ids up in
        changed = {name: len(ids) for name, ids in gone.items() if ids}
        versioned: set[str] = set()

        def counted() -> Iterator[ObjectVersion]:  # streamed: a full backup has one per object
            for v in run.versions():
                changed[v.object_type] = changed.get(v.object_type, 0) + 1
                if run.parent is not None:
                    versioned.add(v.object_id)
                yield v

        self._catalog_snapshot(snapshot_id, record, parent, run, counted(), versioned, gone, bytes_written)
        result = BackupResult(
            snapshot_id=snapshot_id,
            kind=kind,
            counts=dict(record["counts"]),
            modes={name: o.mode for name, o in run.outcomes.items()},
            changed=changed,
            failures=run.failures,
            logs=dict(run.log_counts),
            duration_s=time.monotonic() - started,
            graph=self.graph.metrics.snapshot(),
            bytes_written=bytes_written,
        )
        log.info(
            "backup finished", tenant=self.tenant_id, snapshot=snapshot_id, kind=kind, counts=result.counts
        )
        return result

    def _latest_record(self) -> dict[str, Any] | None:
        rows = self.catalog.snapshots(self.tenant_id, limit=1)
        if not rows:
            return None
        record = self.repo.load_snapshot(rows[0].snapshot_id)
        return {**record, "id": rows[0].snapshot_id}

    def _select(self, names: Sequence[str] | None) -> list[ObjectType]:
        if not names:
            return list(OBJECT_TYPES)
        chosen = {object_type(n).name for n in names}
        for name in list(chosen):  # a child type needs its parent's list to know where to look
            parent = object_type(name).parent
            if parent:
                chosen.add(parent)
        return [t for t in OBJECT_TYPES if t.name in chosen]

    def _catalog_snapshot(
        self,
        snapshot_id: str,
        record: dict[str, Any],
        parent: dict[str, Any] | None,
        run: _Run,
        versions: Iterable[ObjectVersion],
        versioned: set[str],
        gone: dict[str, set[str]],
        size: int,
    ) -> None:
        self.catalog.add_snapshot(
            SnapshotRow(
                tenant_id=self.tenant_id,
                snapshot_id=snapshot_id,
                created_at=datetime.fromisoformat(record["created_at"].replace("Z", "+00:00")),
                kind=record["kind"],
                parent_id=parent["id"] if parent else None,
                counts=dict(record["counts"]),
                bytes_added=size,
                status="complete",
                tool_version=TOOL_VERSION,
            )
        )
        if run.parent is None:  # a full snapshot lists every object: the catalog closes what is missing
            self.catalog.record_versions(self.tenant_id, snapshot_id, versions, complete=not run.failures)
        else:
            self.catalog.record_versions(self.tenant_id, snapshot_id, versions, complete=False)
            except_ids = versioned.union(*gone.values())  # filled while record_versions consumed them
            self.catalog.carry_forward(
                self.tenant_id, parent["id"] if parent else "", snapshot_id, except_ids
            )
        self.catalog.set_delta_tokens(self.tenant_id, run.delta_tokens_for_catalog())


def _as_list(value: LinkValue) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class _Run:
    """State of one backup run; kept apart from the engine so the engine stays reusable."""

    def __init__(
        self,
        engine: BackupEngine,
        snap: SnapshotWriter,
        parent: SnapshotReader | None,
        record: dict[str, Any] | None,
    ) -> None:
        self.engine = engine
        self.graph = engine.graph
        self.snap = snap
        self.parent = parent
        self.parent_record = record or {}
        self.outcomes: dict[str, TypeOutcome] = {}
        self.failures: dict[str, str] = {}
        self.targets: set[str] = set()
        self.log_counts: dict[str, int] = {}
        self.fanout = asyncio.Semaphore(RELATIONSHIP_CONCURRENCY)  # shared by every per-object read
        # Objects waiting for per-object relationship reads, as canonical JSON: a parsed service principal
        # is tens of KB of dicts, and the owner reads of a large tenant take most of the run.
        self.held: dict[str, dict[str, tuple[bytes, dict[str, LinkValue]]]] = {}

    # --- logs -------------------------------------------------------------------------------------------
    async def archive_logs(self, writer: Any) -> dict[str, LogArchiveResult]:
        now = self.engine.clock()
        results: dict[str, LogArchiveResult] = {}
        for stream in LOG_STREAMS:
            previous = self.parent_record.get("logs", {}).get(stream.name)
            try:
                results[stream.name] = await archive_window(
                    self.graph, self.engine.repo, writer, stream, previous, now
                )
            except GraphError as exc:
                self.failures[stream.name] = str(exc)
                results[stream.name] = LogArchiveResult(dict(previous or {}))
        audits = results.get("directoryAudit")
        self.targets = set(audits.targets) if audits else set()
        self.log_counts = {name: result.count for name, result in results.items()}
        return results

    # --- top-level types ------------------------------------------------------------------------------
    async def read_all(self, types: Iterable[ObjectType], logs: asyncio.Task[Any]) -> None:
        chosen = list(types)
        top = [t for t in chosen if t.parent is None]
        children = [t for t in chosen if t.parent is not None]
        if self.parent is None:
            # A full read depends on nothing else: each type runs its whole pipeline as soon as it can.
            await asyncio.gather(
                logs, *(self._pipeline(t, [c for c in children if c.parent == t.name]) for t in top)
            )
            return
        # Incremental: per-object relationships need the audit log and every type's deletions first.
        await asyncio.gather(logs, *(self._read_type(t) for t in top))
        removed = {oid for o in self.outcomes.values() for oid in o.removed}
        for t in top:
            if t.name in self.held and t.name in self.outcomes:
                await self._complete_held(t, self.outcomes[t.name], removed)
        for child in children:
            await self._read_children_guarded(child)

    async def _pipeline(self, t: ObjectType, children: list[ObjectType]) -> None:
        await self._read_type(t)
        if t.name in self.held and t.name in self.outcomes:
            await self._complete_held(t, self.outcomes[t.name], set())
        for child in children:
            await self._read_children_guarded(child)

    async def _read_type(self, t: ObjectType) -> None:
        sink = self._sink_for(t)
        try:
            outcome = await self._read(t, sink)
        except GraphError as exc:
            self._fail(t, exc)
            return
        self.outcomes[t.name] = outcome
        self.engine.progress(t.name, outcome.read)

    async def _read(self, t: ObjectType, sink: Sink) -> TypeOutcome:
        if not t.has_delta:
            return await read_list(self.graph, t, self.snap, sink)
        token = self.parent_record.get("delta_tokens", {}).get(t.name) if self.parent else None
        if token and self.parent:
            try:
                return await read_delta_changes(self.graph, t, self.snap, self.parent, token, sink)
            except DeltaTokenExpired:
                log.warning("delta token expired; reading the type in full", type=t.name)
                self.snap.restart(t.name)
                self.held.pop(t.name, None)
                sink = self._sink_for(t)
        return await read_delta_full(self.graph, t, self.snap, sink)

    def _sink_for(self, t: ObjectType) -> Sink:
        if not any(r.refresh is Refresh.AUDIT for r in t.relationships):
            return self._put
        held = self.held.setdefault(t.name, {})

        def hold(kind: ObjectType, props: dict[str, Any], links: dict[str, LinkValue]) -> None:
            held[str(props[kind.id_field])] = (canonical_json(props), links)

        return hold

    def _put(
        self, t: ObjectType, props: dict[str, Any], links: dict[str, LinkValue], parent_id: str | None = None
    ) -> None:
        self.snap.put(t, props, links, parent_id=parent_id)

    async def _complete_held(self, t: ObjectType, outcome: TypeOutcome, removed: set[str]) -> None:
        """Add relationships that only per-object reads reveal, then store the held objects."""
        held = self.held.pop(t.name)
        audited = [r for r in t.relationships if r.refresh is Refresh.AUDIT]
        if self.parent and outcome.mode == "delta":
            # Relationships can change without the object changing: the audit log names such objects, and
            # a deleted member leaves every list it was in without an audit record naming the list.
            for entry in self.parent.entries(t.name):
                oid = entry.id
                if oid in held or oid in outcome.removed:
                    continue
                before = self.parent.get(t.name, oid) if (oid in self.targets or removed) else None
                if before is None:
                    continue
                linked = {i for r in audited for i in _as_list(before.links.get(r.name))}
                if oid in self.targets or linked & removed:
                    self.targets.add(oid)
                    held[oid] = (canonical_json(before.full()), dict(before.links))
        sem = self.fanout

        async def enrich(oid: str, links: dict[str, LinkValue]) -> None:
            async with sem:
                for rel in audited:
                    if (
                        self.parent
                        and outcome.mode == "delta"
                        and oid not in self.targets
                        and rel.name in links
                    ):
                        continue  # unchanged since the parent, per the audit log
                    try:
                        links[rel.name] = await read_relationship(self.graph, rel.path.format(id=oid))
                    except NotFound:
                        links[rel.name] = []

        try:
            await asyncio.gather(*(enrich(oid, links) for oid, (_props, links) in held.items()))
        except GraphError as exc:  # keep the objects; say which relationships could not be read
            self._fail(t, exc)
        incremental = self.parent is not None and outcome.mode == "delta"
        for oid, (props, links) in held.items():
            self._put(t, load_json(props), links)
            if incremental:  # see TypeOutcome.changed
                outcome.changed.add(oid)

    # --- child collections -----------------------------------------------------------------------------
    async def _read_children_guarded(self, t: ObjectType) -> None:
        try:
            await self._read_children_of(t)
        except GraphError as exc:
            self._fail(t, exc)

    async def _read_children_of(self, t: ObjectType) -> None:
        assert t.parent
        parent_outcome = self.outcomes.get(t.parent)
        incremental = (
            self.parent is not None and parent_outcome is not None and parent_outcome.mode == "delta"
        )
        builder = self.snap.builder(t.name, incremental=incremental)
        outcome = TypeOutcome(t.name, "children")
        owners = self._current_ids(t.parent)
        if incremental and self.parent and parent_outcome:
            removed_principals = {
                oid for o in self.outcomes.values() for oid in o.removed
            }  # assignments of deleted principals or parents go with them
            stale = set(parent_outcome.changed) | set(parent_outcome.removed) | (self.targets & owners)
            for entry in self.parent.entries(t.name):
                if entry.parent in stale or entry.principal in removed_principals:
                    builder.delete(entry.id)
                    outcome.changed.add(entry.id)
            owners = {o for o in owners if o in stale}
        sem = self.fanout

        async def read_for(owner: str) -> None:
            async with sem:
                try:
                    async for item in self.graph.iter_items(
                        t.list_path.format(parent=owner), params={"$top": "999"}
                    ):
                        self._put(t, properties(item), {}, owner)
                        outcome.read += 1
                        if incremental:
                            outcome.changed.add(str(item[t.id_field]))
                except NotFound:
                    return

        await asyncio.gather(*(read_for(o) for o in sorted(owners)))
        self.outcomes[t.name] = outcome
        self.engine.progress(t.name, outcome.read)

    def _current_ids(self, type_name: str) -> set[str]:
        """Ids of the objects of a type in the snapshot being written."""
        builder = self.snap.builder(type_name, incremental=self.parent is not None)
        ids = {e.id for e in (self.parent.entries(type_name) if self.parent else [])}
        for oid, entry in builder.changed_ids().items():
            if entry is None:
                ids.discard(oid)
            else:
                ids.add(oid)
        return ids

    # --- bookkeeping -----------------------------------------------------------------------------------
    def _fail(self, t: ObjectType, exc: GraphError) -> None:
        log.warning("type not backed up", type=t.name, error=str(exc))
        self.failures[t.name] = str(exc)

    def delta_tokens(self) -> dict[str, str]:
        tokens = dict(self.parent_record.get("delta_tokens", {}))
        for name, outcome in self.outcomes.items():
            if outcome.delta_link:
                tokens[name] = outcome.delta_link
        return tokens

    def delta_tokens_for_catalog(self) -> dict[str, str | None]:
        return {name: o.delta_link for name, o in self.outcomes.items() if o.delta_link}

    def versions(self) -> Iterator[ObjectVersion]:
        """Object versions new in this snapshot (types read whole also re-put unchanged objects). Drains
        the snapshot writer: call it last."""
        for name, e in self.snap.drain():
            before = self.parent.entry(name, e.id) if self.parent else None
            if before is None or before.blob != e.blob:
                yield ObjectVersion(name, e.id, e.blob, e.name, e.principal)
