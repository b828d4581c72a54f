"""A dict-backed stand-in for the repository, for fast unit tests of the snapshot layer."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.port import BlobKind


class MemoryRepository:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.kinds: dict[str, BlobKind] = {}
        self.snapshots: dict[str, bytes] = {}
        self.written = 0
        self._ids = itertools.count(1)

    def add_blob(self, data: bytes, *, kind: BlobKind = "data") -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        if blob_id not in self.blobs:
            self.blobs[blob_id] = data
            self.kinds[blob_id] = kind
            self.written += len(data)
        return blob_id

    def flush(self) -> None:
        pass

    def read_blob(self, blob_id: str) -> bytes:
        return self.blobs[blob_id]

    def save_snapshot(self, record: dict[str, Any]) -> str:
        snapshot_id = f"{next(self._ids):016x}"
        self.snapshots[snapshot_id] = canonical_json(record)
        return snapshot_id

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        return {**load_json(self.snapshots[snapshot_id]), "id": snapshot_id}
