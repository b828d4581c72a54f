"""What the snapshot layer needs from the repository: named, deduplicated blobs and snapshot records."""

from __future__ import annotations

from typing import Any, Literal, Protocol

BlobKind = Literal["data", "tree", "volatile"]


class BlobWriter(Protocol):
    def add_blob(self, data: bytes, *, kind: BlobKind = "data") -> str: ...

    def flush(self) -> None: ...


class BlobRepository(Protocol):
    def read_blob(self, blob_id: str) -> bytes: ...

    def save_snapshot(self, record: dict[str, Any]) -> str: ...

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any]: ...
