"""``prune``: forget snapshots, then delete packs nothing references any more.

Order, after restic: delete snapshot records; mark every blob reachable from the snapshots left (locked ones
included); write a new index without the doomed packs; delete the old index files; only then delete the
packs. A pack is never deleted while it is locked, while it holds a reachable blob, or while an index file
that could not be deleted still lists it. Packs no index lists are deleted only after
``UNINDEXED_PACK_MARGIN`` (a live writer may not have written its index yet). Partly used packs are kept
whole: the data is small, and rewriting packs would fight Object Lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.repository.crypto import RepositoryError
from core.repository.index import write_index
from core.repository.packs import pack_id_of, pack_key, read_header
from core.repository.repository import UnknownSnapshot
from core.store import Locked, NotFound

if TYPE_CHECKING:
    from core.repository.repository import Repository

UNINDEXED_PACK_MARGIN = 3600.0  # seconds


@dataclass
class PruneReport:
    snapshots_deleted: list[str] = field(default_factory=list)
    snapshots_locked: list[str] = field(default_factory=list)
    packs_deleted: int = 0
    packs_locked: int = 0  # unreferenced, but retention still holds them
    packs_too_recent: int = 0  # unindexed, younger than the margin
    index_files_written: int = 0
    index_files_deleted: int = 0


def prune(repository: Repository, keep: set[str]) -> PruneReport:
    report = PruneReport()
    store = repository.store
    repository.refresh()
    keep_ids = {_resolve(repository, k) for k in keep}
    for snapshot_id in repository.snapshot_ids():
        if snapshot_id in keep_ids:
            continue
        if store.is_locked(f"snapshots/{snapshot_id}"):
            report.snapshots_locked.append(snapshot_id)
            continue
        try:
            repository.delete_snapshot(snapshot_id)
            report.snapshots_deleted.append(snapshot_id)
        except Locked:
            report.snapshots_locked.append(snapshot_id)
        except (NotFound, UnknownSnapshot):
            pass

    used = _used_packs(repository)
    index = repository.index
    doomed = {p for p in index.packs.keys() - used if not _locked(repository, p, report)}
    doomed_unindexed = _old_unindexed_packs(repository, report)

    # Index files Object Lock keeps will go on listing their packs, so those packs must stay.
    locked_files = {f for f in index.files if store.is_locked(f)}
    doomed -= {p for f in locked_files for p in index.files[f]}
    if doomed:
        covered = {p for f in locked_files for p in index.files[f]}
        survivors = {p: index.segments(p) for p in index.packs if p not in doomed and p not in covered}
        report.index_files_written = len(write_index(store, repository.sealer, survivors, repository.lock))
        for file_key in sorted(index.files.keys() - locked_files):
            try:
                store.delete(file_key)
                report.index_files_deleted += 1
            except Locked:
                doomed -= index.files[file_key]
            except NotFound:
                pass
    for pack_id in sorted(doomed | doomed_unindexed):
        try:
            store.delete(pack_key(pack_id))
            report.packs_deleted += 1
        except Locked:
            report.packs_locked += 1
        except NotFound:
            pass
    repository.refresh()
    return report


def _resolve(repository: Repository, snapshot_id: str) -> str:
    try:
        return repository.resolve_snapshot(snapshot_id)
    except UnknownSnapshot:
        return snapshot_id


def _used_packs(repository: Repository) -> set[str]:
    """Packs holding a blob reachable from any remaining snapshot; stops prune on any doubt."""
    reachable: set[str] = set()
    for snapshot_id in repository.snapshot_ids():
        try:
            roots = repository.load_snapshot(snapshot_id).get("roots", [])
        except UnknownSnapshot:
            continue
        blobs, problems = repository.reachable(roots)
        if problems:
            raise RepositoryError(
                f"prune stopped before deleting data: snapshot {snapshot_id}: {problems[0]}: "
                "run `rewind verify`"
            )
        reachable |= blobs
    return {repository.index.blobs[b].pack_id for b in reachable}


def _locked(repository: Repository, pack_id: str, report: PruneReport) -> bool:
    if repository.store.is_locked(pack_key(pack_id)):
        report.packs_locked += 1
        return True
    return False


def _old_unindexed_packs(repository: Repository, report: PruneReport) -> set[str]:
    found: set[str] = set()
    for key in repository.store.list("packs/"):
        pack_id = pack_id_of(key)
        if pack_id in repository.index.packs:
            continue
        try:
            created = read_header(repository.store.get(key), repository.sealer, pack_id).created
        except (RepositoryError, NotFound):
            continue  # unreadable: leave it for a person and `rewind verify`
        if repository.clock() - created < UNINDEXED_PACK_MARGIN:
            report.packs_too_recent += 1
        elif not _locked(repository, pack_id, report):
            found.add(pack_id)
    return found
