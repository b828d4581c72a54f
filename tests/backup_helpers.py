"""Shared set-up for backup tests: an emulated tenant, a repository, a catalog and a Graph client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.backup.engine import BackupEngine, BackupResult
from core.catalog import Catalog
from core.graph import ClientSecret, GraphClient, GraphConfig
from core.repository import Repository
from core.snapshots import SnapshotReader
from core.store import open_store
from emulator.testing import EmulatorHandle


def graph_config_for(handle: EmulatorHandle) -> GraphConfig:
    return GraphConfig(
        tenant_id=handle.tenant_id,
        client_id=handle.client_id,
        credential=ClientSecret(handle.client_secret),
        graph_url=handle.graph_url,
        authority_host=handle.authority_host,
        ca_bundle=handle.ca_path,
    )


@dataclass
class Rig:
    handle: EmulatorHandle
    graph: GraphClient
    repo: Repository
    catalog: Catalog

    async def backup(self, **kw: Any) -> BackupResult:
        return await BackupEngine(self.graph, self.repo, self.catalog, self.handle.tenant_id).run(**kw)

    def reader(self, snapshot_id: str) -> SnapshotReader:
        return SnapshotReader(self.repo, {**self.repo.load_snapshot(snapshot_id), "id": snapshot_id})


@asynccontextmanager
async def rig(handle: EmulatorHandle, tmp_path: Path, *, store_url: str | None = None) -> AsyncIterator[Rig]:
    store = open_store(store_url or (tmp_path / "store").as_uri())
    repo = Repository.open_or_init(store, key=None)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        async with GraphClient(graph_config_for(handle)) as graph:
            yield Rig(handle, graph, repo, catalog)
    finally:
        catalog.close()


def state_of(snap: SnapshotReader) -> dict[str, dict[str, Any]]:
    """Everything a snapshot says about the tenant, for comparing two snapshots."""
    return {
        name: {s.id: (s.object, {k: sorted(v) if isinstance(v, list) else v for k, v in s.links.items()})
               for s in snap.objects(name)}
        for name in snap.type_names()
    }  # fmt: skip
