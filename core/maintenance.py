"""Repository upkeep: list, show, export, prune, and rebuild the catalog from the store alone."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.backup.logs import read_archived
from core.catalog import Catalog, ObjectVersion, SnapshotRow
from core.diff.pairs import ManifestSource, differing
from core.errors import RewindError
from core.registry import LOG_STREAMS, object_type
from core.repository import Repository
from core.retention import Dated, RetentionPolicy, snapshots_to_keep
from core.snapshots import Entry, SnapshotReader


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def open_snapshot(repo: Repository, catalog: Catalog, tenant_id: str, ref: str) -> SnapshotReader:
    row = catalog.snapshot(tenant_id, ref)
    return SnapshotReader(repo, {**repo.load_snapshot(row.snapshot_id), "id": row.snapshot_id})


def snapshot_summary(snap: SnapshotReader) -> dict[str, Any]:
    record = snap.record
    return {
        "id": record["id"],
        "created_at": record["created_at"],
        "kind": record["kind"],
        "parent": record.get("parent"),
        "counts": record.get("counts", {}),
        "failures": record.get("failures", {}),
        "logs": {name: state.get("total", 0) for name, state in record.get("logs", {}).items()},
    }


def list_entries(snap: SnapshotReader, type_name: str) -> list[dict[str, Any]]:
    t = object_type(type_name)
    return [
        {"id": e.id, "display_name": e.name, "principal_name": e.principal, "parent": e.parent}
        for e in sorted(snap.entries(t.name), key=lambda e: ((e.name or "").lower(), e.id))
    ]


def show_object(snap: SnapshotReader, type_name: str, object_id: str) -> dict[str, Any]:
    t = object_type(type_name)
    stored = snap.get(t.name, object_id)
    if stored is None:
        raise RewindError(
            f"snapshot {snap.record['id'][:12]} has no {t.name} with id {object_id}: "
            f"list them with `rewind show {snap.record['id'][:12]} {t.name}`"
        )
    return {"type": t.name, "id": object_id, "object": stored.full(), "links": stored.links}


def export_snapshot(snap: SnapshotReader, out: Path) -> dict[str, int]:
    """Plain NDJSON per type (and per log stream), readable with no Rewind installed."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name in snap.type_names():
        with (out / f"{name}.ndjson").open("w", encoding="utf-8") as fh:
            for stored in snap.objects(name):
                line = {**stored.full(), **{f"{rel}@rewind": ids for rel, ids in stored.links.items()}}
                fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                written[name] = written.get(name, 0) + 1
    for stream in LOG_STREAMS:
        state = snap.record.get("logs", {}).get(stream.name)
        if state:
            records = read_archived(snap.repo, state)
            with (out / f"{stream.name}.ndjson").open("w", encoding="utf-8") as fh:
                for record in records:
                    fh.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            written[stream.name] = len(records)
    (out / "snapshot.json").write_text(json.dumps(snapshot_summary(snap), indent=2, sort_keys=True) + "\n")
    return written


def prune(
    repo: Repository, catalog: Catalog, tenant_id: str, policy: RetentionPolicy, *, dry_run: bool
) -> dict[str, Any]:
    records = repo.list_snapshots()
    dated = [Dated(sid, parse_time(r["created_at"])) for sid, r in records]
    keep = snapshots_to_keep(dated, policy, datetime.now(UTC))
    forget = sorted(sid for sid, _ in records if sid not in keep)
    if dry_run:
        return {"keep": sorted(keep), "forget": forget, "dry_run": True}
    report = repo.prune(keep)
    for sid in report.snapshots_deleted:
        catalog.remove_snapshot(tenant_id, sid)
    return {
        "keep": sorted(keep),
        "forget": forget,
        "deleted": sorted(report.snapshots_deleted),
        "locked": sorted(report.snapshots_locked),
        "dry_run": False,
        "report": asdict(report),
    }


def rebuild_catalog(repo: Repository, catalog: Catalog, tenant_id: str) -> dict[str, int]:
    """Recreate the tenant's catalog from the store: snapshots oldest first, versions by what differs."""
    catalog.clear_tenant(tenant_id)
    catalog.upsert_tenant(tenant_id)
    records = sorted(repo.list_snapshots(), key=lambda item: item[1]["created_at"])
    previous: SnapshotReader | None = None
    versions = 0
    for sid, record in records:
        snap = SnapshotReader(repo, {**record, "id": sid})
        catalog.add_snapshot(
            SnapshotRow(
                tenant_id=tenant_id,
                snapshot_id=sid,
                created_at=parse_time(record["created_at"]),
                kind=record["kind"],
                parent_id=record.get("parent"),
                counts=dict(record.get("counts", {})),
                bytes_added=0,
                status="complete",
                tool_version=str(record.get("tool_version", "")),
            )
        )
        if previous is None:
            new = [_version(name, e) for name in snap.type_names() for e in snap.entries(name)]
            catalog.record_versions(tenant_id, sid, new, complete=True)
        else:
            new, gone = _differences(snap, previous)
            catalog.record_versions(tenant_id, sid, new, complete=False)
            catalog.carry_forward(tenant_id, previous.record["id"], sid, {v.object_id for v in new} | gone)
        versions += len(new)
        previous = snap
    if previous is not None:
        catalog.set_delta_tokens(tenant_id, dict(previous.record.get("delta_tokens", {})))
    return {"snapshots": len(records), "versions": versions}


def _version(type_name: str, entry: Entry) -> ObjectVersion:
    return ObjectVersion(type_name, entry.id, entry.blob, entry.name, entry.principal)


def _differences(snap: SnapshotReader, previous: SnapshotReader) -> tuple[list[ObjectVersion], set[str]]:
    """New versions and deleted ids between two snapshots, looking only where their manifests differ."""
    new: list[ObjectVersion] = []
    gone: set[str] = set()
    source = ManifestSource(snap.repo)
    for name in sorted(set(snap.type_names()) | set(previous.type_names())):
        for pair in differing(source, previous.manifest(name), snap.manifest(name)):
            current = snap.entry(name, pair.id) if pair.after is not None else None
            if current is None:
                gone.add(pair.id)
            else:
                new.append(_version(name, current))
    return new, gone
