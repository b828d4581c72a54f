"""Index files: which blobs sit where, so reads and dedup never open a pack header.

``index/<sha256 of its bytes>`` holds sealed JSON ``{"v": 2, "packs": [{"p": pack id, "s": [segment, …]}]}``
with segments encoded as ``packs.Segment``: each pack id is written once, each blob costs its 32 hex id and
its raw length, about 20 bytes once compressed. An index lists only packs that were completely uploaded
before it was written; files stay small by capping their entries. The in-memory ``Index`` is the union of
all index files, loaded once when the repository opens.

The in-memory index is the one structure that grows with every blob a repository holds (a 100,000-user
tenant has ~120,000), so it keeps segments rather than a ``BlobEntry`` per blob: a blob costs a dict slot
and a small int locating it, and its ``BlobEntry`` is built when asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate

from core.repository.crypto import MAX_PLAINTEXT, CorruptData, Sealer
from core.repository.packs import BlobEntry, BlobKind, Segment
from core.store import AlreadyExists, Retention, Store

INDEX_PREFIX = "index/"
INDEX_VERSION = 2
MAX_INDEX_ENTRIES = 50_000  # ~40 bytes of JSON each before compression: far below 8 MiB; also caps a pack
POSITION_BITS = 16  # a segment holds fewer blobs than a pack, and a pack at most MAX_INDEX_ENTRIES
POSITION_MASK = (1 << POSITION_BITS) - 1


class Placed:
    """An indexed segment: where it is, and where each of its blobs starts in its plaintext."""

    __slots__ = ("ids", "key", "kind", "length", "offset", "pack_id", "place", "starts")

    def __init__(self, place: int, pack_id: str, segment: Segment) -> None:
        self.place = place  # its position in ``Index.placed``
        self.pack_id = pack_id
        self.offset = segment.offset
        self.length = segment.length
        self.key = (pack_id, segment.offset)  # as ``BlobEntry.segment`` and the segment cache have it
        self.kind: BlobKind = segment.kind
        self.ids = segment.ids
        self.starts = array("I", accumulate(segment.raw, initial=0))

    @property
    def end(self) -> int:
        return self.offset + self.length

    def entry(self, position: int) -> BlobEntry:
        start = self.starts[position]
        return BlobEntry(
            self.ids[position],
            self.kind,
            self.pack_id,
            self.offset,
            self.length,
            start,
            self.starts[position + 1] - start,
        )

    def segment(self) -> Segment:
        raw = tuple(b - a for a, b in zip(self.starts, self.starts[1:], strict=False))
        return Segment(self.offset, self.length, self.kind, self.ids, raw)


class BlobTable(Mapping[str, BlobEntry]):
    """Blob id -> ``BlobEntry``, built on demand from the index's segments."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def __getitem__(self, blob_id: str) -> BlobEntry:
        found = self._index.locate(blob_id)
        if found is None:
            raise KeyError(blob_id)
        place, position = found
        return self._index.placed[place].entry(position)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._index.where

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.where)

    def __len__(self) -> int:
        return len(self._index.where)


class PackTable(Mapping[str, list[BlobEntry]]):
    """Pack id -> the ``BlobEntry`` of every blob in it, in pack order."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def __getitem__(self, pack_id: str) -> list[BlobEntry]:
        placed = self._index.placed
        return [
            placed[n].entry(position)
            for n in self._index.pack_segments[pack_id]
            for position in range(len(placed[n].ids))
        ]

    def __contains__(self, pack_id: object) -> bool:
        return pack_id in self._index.pack_segments

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.pack_segments)

    def __len__(self) -> int:
        return len(self._index.pack_segments)


class Index:
    def __init__(self) -> None:
        self.files: dict[str, frozenset[str]] = {}  # index file key -> the pack ids it lists
        self.placed: list[Placed] = []
        self.pack_segments: dict[str, list[int]] = {}  # pack id -> its segments' places in ``placed``
        self.where: dict[str, int] = {}  # blob id -> segment place << POSITION_BITS | position in it
        self.blobs = BlobTable(self)
        self.packs = PackTable(self)

    def add(self, file_key: str, packs: Mapping[str, Sequence[Segment]]) -> None:
        self.files[file_key] = frozenset(packs)
        for pack_id, segments in packs.items():
            if pack_id in self.pack_segments:
                continue  # listed by an earlier file too (an index rewrite that was interrupted)
            places = self.pack_segments[pack_id] = []
            for segment in segments:
                place = len(self.placed)
                self.placed.append(Placed(place, pack_id, segment))
                places.append(place)
                for position, blob_id in enumerate(segment.ids):
                    self.where.setdefault(blob_id, place << POSITION_BITS | position)

    def locate(self, blob_id: str) -> tuple[int, int] | None:
        """(the place in ``placed`` of the blob's segment, its position there); None if no index lists it."""
        code = self.where.get(blob_id)
        return None if code is None else (code >> POSITION_BITS, code & POSITION_MASK)

    def segments(self, pack_id: str) -> list[Segment]:
        return [self.placed[n].segment() for n in self.pack_segments[pack_id]]

    @classmethod
    def load(cls, store: Store, sealer: Sealer) -> Index:
        index = cls()
        for key in sorted(store.list(INDEX_PREFIX)):
            index.add(key, decode_index(sealer.open(store.get(key), f"index file {key}"), key))
        return index


def write_index(
    store: Store, sealer: Sealer, packs: Mapping[str, Sequence[Segment]], retention: Retention | None
) -> dict[str, dict[str, Sequence[Segment]]]:
    """Write ``packs`` as one index file (more when it has over MAX_INDEX_ENTRIES blobs); key -> packs."""
    written: dict[str, dict[str, Sequence[Segment]]] = {}
    for chunk in _chunks(packs.items()):
        data = sealer.seal(encode_index(chunk))
        key = INDEX_PREFIX + hashlib.sha256(data).hexdigest()
        with contextlib.suppress(AlreadyExists):  # same bytes, same name: already there
            store.put(key, data, if_absent=True, retention=retention)
        written[key] = chunk
    return written


def encode_index(packs: Mapping[str, Sequence[Segment]]) -> bytes:
    body = {
        "v": INDEX_VERSION,
        "packs": [{"p": p, "s": [s.to_json() for s in ss]} for p, ss in packs.items()],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_index(plain: bytes, key: str) -> dict[str, list[Segment]]:
    try:
        body = json.loads(plain)
        if body["v"] != INDEX_VERSION:
            raise ValueError(f"index version {body['v']!r}")
        packs: dict[str, list[Segment]] = {}
        for pack in body["packs"]:
            segments = [Segment.from_json(s) for s in pack["s"]]
            if any(len(s.ids) > POSITION_MASK or sum(s.raw) > MAX_PLAINTEXT for s in segments):
                raise ValueError("a segment lists more blobs or bytes than a pack may hold")
            packs[str(pack["p"])] = segments
        return packs
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"index file {key} is malformed: run `rewind verify`") from None


def blob_count(segments: Iterable[Segment]) -> int:
    return sum(len(s.ids) for s in segments)


def _chunks(
    packs: Iterable[tuple[str, Sequence[Segment]]],
) -> Iterable[dict[str, Sequence[Segment]]]:
    chunk: dict[str, Sequence[Segment]] = {}
    count = 0
    for pack_id, segments in packs:
        blobs = blob_count(segments)
        if chunk and count + blobs > MAX_INDEX_ENTRIES:
            yield chunk
            chunk, count = {}, 0
        chunk[pack_id] = segments
        count += blobs
    if chunk:
        yield chunk
