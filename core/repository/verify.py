"""``verify``: is every snapshot restorable? Structure always; pack contents when asked.

Structure: every index-listed pack exists, and every blob reachable from a snapshot's roots (through tree
blobs) is indexed and its pack exists. ``read_data`` (True, or a share such as 0.05) re-reads that share of
packs and checks each pack's hash, its header against the index, every segment in it, and every blob in
every segment (bypassing the segment cache); a 5% daily sample covers most data within weeks.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.repository.crypto import RepositoryError
from core.repository.packs import pack_id_of, pack_key, read_header
from core.store import StoreError

if TYPE_CHECKING:
    from core.repository.repository import Repository


@dataclass
class VerifyReport:
    snapshots: int = 0
    blobs_referenced: int = 0
    packs_indexed: int = 0
    packs_unindexed: int = 0  # uploaded by a writer that died before its index: garbage for prune
    packs_read: int = 0
    blobs_read: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def verify(repository: Repository, *, read_data: float | bool = False) -> VerifyReport:
    report = VerifyReport()
    repository.refresh()
    index = repository.index
    present = {pack_id_of(key) for key in repository.store.list("packs/")}
    report.packs_indexed = len(index.packs)
    report.packs_unindexed = len(present - index.packs.keys())
    report.errors += [
        f"pack {p} is in the index but missing from the store" for p in sorted(index.packs.keys() - present)
    ]
    for snapshot_id in repository.snapshot_ids():
        report.snapshots += 1
        try:
            record = repository.load_snapshot(snapshot_id)
        except RepositoryError as exc:
            report.errors.append(f"snapshot {snapshot_id}: {exc}")
            continue
        reachable, problems = repository.reachable(record.get("roots", []))
        report.blobs_referenced += len(reachable)
        report.errors += [f"snapshot {snapshot_id}: {problem}" for problem in problems]
        for blob_id in sorted(reachable):
            entry = index.blobs.get(blob_id)
            if entry is not None and entry.pack_id not in present:
                report.errors.append(
                    f"snapshot {snapshot_id}: blob {blob_id} is in missing pack {entry.pack_id}"
                )
    for pack_id in _sample(sorted(index.packs.keys() & present), read_data):
        _read_pack(repository, pack_id, report)
    return report


def _sample(pack_ids: list[str], read_data: float | bool) -> list[str]:
    if read_data is True:
        return pack_ids
    if read_data is False or read_data <= 0:
        return []
    if read_data >= 1:
        return pack_ids
    return random.sample(pack_ids, min(len(pack_ids), math.ceil(len(pack_ids) * read_data)))


def _read_pack(repository: Repository, pack_id: str, report: VerifyReport) -> None:
    report.packs_read += 1
    try:
        data = repository.store.get(pack_key(pack_id))
    except StoreError as exc:
        report.errors.append(f"pack {pack_id} cannot be read: {exc}")
        return
    if hashlib.sha256(data).hexdigest() != pack_id:
        report.errors.append(f"pack {pack_id} does not match its name: its bytes changed")
    try:
        header = [s.layout for s in read_header(data, repository.sealer, pack_id).segments]
        if header != [s.layout for s in repository.index.segments(pack_id)]:
            report.errors.append(f"pack {pack_id}: the index and the pack header disagree")
    except RepositoryError as exc:
        report.errors.append(str(exc))
    index = repository.index
    for place in index.pack_segments[pack_id]:
        segment = index.placed[place]
        count = len(segment.ids)
        report.blobs_read += count
        try:
            plain = repository.open_sealed(pack_id, segment.offset, data[segment.offset : segment.end])
        except RepositoryError as exc:
            report.errors.append(f"{exc} ({count} blobs in it cannot be read)")
            continue
        if segment.starts[-1] != len(plain):
            report.errors.append(
                f"pack {pack_id} segment at byte {segment.offset}: its length and its blobs' disagree"
            )
        for position in range(count):
            try:
                repository.cut_blob(segment, position, plain)
            except RepositoryError as exc:
                report.errors.append(str(exc))
