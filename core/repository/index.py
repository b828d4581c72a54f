"""Index files: which blobs sit where, so reads and dedup never open a pack header.

``index/<sha256 of its bytes>`` holds sealed JSON ``{"v": 2, "packs": [{"p": pack id, "s": [segment, …]}]}``
with segments encoded as in pack headers (``packs.Segment``): each pack id is written once, each blob costs
its 32 hex id and its raw length, about 20 bytes once compressed. An index lists only packs that were
completely uploaded before it was written; files stay small by capping their entries. The in-memory
``Index`` is the union of all index files, loaded once when the repository opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from core.repository.crypto import CorruptData, Sealer
from core.repository.packs import BlobEntry, Segment, segments_of
from core.store import AlreadyExists, Retention, Store

INDEX_PREFIX = "index/"
INDEX_VERSION = 2
MAX_INDEX_ENTRIES = 50_000  # ~40 bytes of JSON each before compression: far below 8 MiB; also caps a pack


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
            index.add(key, decode_index(sealer.open(store.get(key), f"index file {key}"), key))
        return index


def write_index(
    store: Store, sealer: Sealer, packs: Mapping[str, Sequence[BlobEntry]], retention: Retention | None
) -> dict[str, dict[str, Sequence[BlobEntry]]]:
    """Write ``packs`` as one index file (more when it has over MAX_INDEX_ENTRIES blobs); key -> packs."""
    written: dict[str, dict[str, Sequence[BlobEntry]]] = {}
    for chunk in _chunks(packs.items()):
        data = sealer.seal(encode_index(chunk))
        key = INDEX_PREFIX + hashlib.sha256(data).hexdigest()
        with contextlib.suppress(AlreadyExists):  # same bytes, same name: already there
            store.put(key, data, if_absent=True, retention=retention)
        written[key] = chunk
    return written


def encode_index(packs: Mapping[str, Sequence[BlobEntry]]) -> bytes:
    body = {
        "v": INDEX_VERSION,
        "packs": [{"p": p, "s": [s.to_json() for s in segments_of(es)]} for p, es in packs.items()],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_index(plain: bytes, key: str) -> dict[str, list[BlobEntry]]:
    try:
        body = json.loads(plain)
        if body["v"] != INDEX_VERSION:
            raise ValueError(f"index version {body['v']!r}")
        packs: dict[str, list[BlobEntry]] = {}
        for pack in body["packs"]:
            pack_id = str(pack["p"])
            packs[pack_id] = [e for s in pack["s"] for e in Segment.from_json(s).entries(pack_id)]
        return packs
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"index file {key} is malformed: run `rewind verify`") from None


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
