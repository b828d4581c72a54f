"""Index files: which blobs sit where, so reads and dedup never open a pack header.

``index/<sha256 of its bytes>`` holds sealed JSON ``{"version": 1, "packs": [{"id", "blobs": [[blob id,
kind, offset, length, raw length], …]}]}``. An index lists only packs that were completely uploaded before
it was written; files stay under 8 MiB by capping their entries. The in-memory ``Index`` is the union of
all index files, loaded once when the repository opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from core.repository.crypto import CorruptData, Sealer
from core.repository.packs import BlobEntry, parse_kind
from core.store import AlreadyExists, Retention, Store

INDEX_PREFIX = "index/"
MAX_INDEX_ENTRIES = 50_000  # ~110 bytes of JSON each, before compression: far below 8 MiB


class Index:
    def __init__(self) -> None:
        self.blobs: dict[str, BlobEntry] = {}
        self.packs: dict[str, list[BlobEntry]] = {}
        self.files: dict[str, frozenset[str]] = {}  # index file key -> the pack ids it lists

    def add(self, file_key: str, packs: Mapping[str, Sequence[BlobEntry]]) -> None:
        self.files[file_key] = frozenset(packs)
        for pack_id, entries in packs.items():
            if pack_id in self.packs:
                continue  # listed by an earlier file too (an index rewrite that was interrupted)
            self.packs[pack_id] = list(entries)
            for entry in entries:
                self.blobs.setdefault(entry.blob_id, entry)

    @classmethod
    def load(cls, store: Store, sealer: Sealer) -> Index:
        index = cls()
        for key in sorted(store.list(INDEX_PREFIX)):
            index.add(key, _decode(sealer.open(store.get(key), f"index file {key}"), key))
        return index


def write_index(
    store: Store, sealer: Sealer, packs: Mapping[str, Sequence[BlobEntry]], retention: Retention | None
) -> dict[str, dict[str, Sequence[BlobEntry]]]:
    """Write ``packs`` as one index file (more when it has over MAX_INDEX_ENTRIES blobs); key -> packs."""
    written: dict[str, dict[str, Sequence[BlobEntry]]] = {}
    for chunk in _chunks(packs.items()):
        body = {"version": 1, "packs": [{"id": p, "blobs": [_row(e) for e in es]} for p, es in chunk.items()]}
        data = sealer.seal(json.dumps(body, separators=(",", ":")).encode())
        key = INDEX_PREFIX + hashlib.sha256(data).hexdigest()
        with contextlib.suppress(AlreadyExists):  # same bytes, same name: already there
            store.put(key, data, if_absent=True, retention=retention)
        written[key] = chunk
    return written


def _chunks(
    packs: Iterable[tuple[str, Sequence[BlobEntry]]],
) -> Iterable[dict[str, Sequence[BlobEntry]]]:
    chunk: dict[str, Sequence[BlobEntry]] = {}
    count = 0
    for pack_id, entries in packs:
        if chunk and count + len(entries) > MAX_INDEX_ENTRIES:
            yield chunk
            chunk, count = {}, 0
        chunk[pack_id] = entries
        count += len(entries)
    if chunk:
        yield chunk


def _row(entry: BlobEntry) -> list[object]:
    return [entry.blob_id, entry.kind, entry.offset, entry.length, entry.raw_length]


def _decode(plain: bytes, key: str) -> dict[str, list[BlobEntry]]:
    try:
        body = json.loads(plain)
        return {
            str(p["id"]): [
                BlobEntry(str(b), parse_kind(k), str(p["id"]), int(o), int(n), int(r))
                for b, k, o, n, r in p["blobs"]
            ]
            for p in body["packs"]
        }
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"index file {key} is malformed: run `rewind verify`") from None
