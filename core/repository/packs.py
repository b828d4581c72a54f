"""Packs: many blobs in one object, so a backup makes a few PUTs instead of one per object.

Layout: ``segment₁ ‖ … ‖ segmentₙ ‖ sealed header ‖ header length (4 bytes, little-endian)``. A segment is
consecutive blobs of one kind concatenated, up to ``SEGMENT_SIZE`` bytes of plaintext (a bigger blob gets a
segment of its own), compressed as one zstd frame and sealed: a Graph object alone compresses ~2.5x, a
segment of them ~10x. The header goes last so segments stream out as they are produced; it lists each
segment (offset in the pack, sealed length, kind, its blobs' raw lengths, in order) and the pack's creation
time (prune's safety margin for packs no index lists). A blob's offset within its decompressed segment is
the sum of the raw lengths before it, so it is not stored. Blob ids are not stored either: they are keyed
hashes of the blobs' bytes, so the index, which has them anyway, is the only copy, and ``verify`` checks it
against the header's layout and against each blob's recomputed id. A pack is named by the SHA-256 of its
bytes and stored at ``packs/<first 2 hex>/<sha256>``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.repository.crypto import ID_BYTES, CorruptData, Sealer

BlobKind = Literal["data", "tree", "volatile"]
KINDS: tuple[BlobKind, ...] = ("data", "tree", "volatile")
PACK_SIZE = 4 * 1024 * 1024  # a few PUTs per backup, and a bounded buffer while one fills
# Plaintext per segment: one ranged read and ~0.5 ms to decompress; a longer window compresses JSON better.
SEGMENT_SIZE = 512 * 1024
ID_HEX = 2 * ID_BYTES
_LENGTH = struct.Struct("<I")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class BlobEntry:
    blob_id: str
    kind: BlobKind
    pack_id: str
    segment_offset: int  # where the blob's sealed segment starts in the pack
    segment_length: int  # the sealed segment's bytes
    offset: int  # within the decompressed segment
    raw_length: int

    @property
    def segment(self) -> tuple[str, int]:
        return self.pack_id, self.segment_offset


@dataclass(frozen=True)
class Segment:
    """One segment as index files list it: ``{"at", "len", "kind", "ids", "raw"}``; pack headers leave out
    ``ids`` (``layout``).

    ``ids`` is the blobs' ids concatenated (fixed width) rather than a JSON list: ~1.4 fewer bytes per blob
    once compressed.
    """

    offset: int
    length: int
    kind: BlobKind
    ids: tuple[str, ...]
    raw: tuple[int, ...]

    @property
    def layout(self) -> tuple[int, int, BlobKind, tuple[int, ...]]:
        """Everything but the ids: what a pack header records."""
        return self.offset, self.length, self.kind, self.raw

    def to_json(self, *, ids: bool = True) -> dict[str, object]:
        out: dict[str, object] = {"at": self.offset, "len": self.length, "kind": self.kind, "raw": self.raw}
        if ids:
            out["ids"] = "".join(self.ids)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object], *, ids: bool = True) -> Segment:
        """ValueError, KeyError or TypeError when ``data`` is not a well-formed segment."""
        raw = data["raw"]
        if not isinstance(raw, list) or not raw:
            raise TypeError("segment raw lengths must be a non-empty list")
        blob_ids: tuple[str, ...] = ()
        if ids:
            joined = data["ids"]
            if not isinstance(joined, str):
                raise TypeError("segment ids must be a string")
            if len(joined) != ID_HEX * len(raw) or not _HEX.issuperset(joined):
                raise ValueError("segment ids do not match its raw lengths")
            blob_ids = tuple(joined[i : i + ID_HEX] for i in range(0, len(joined), ID_HEX))
        segment = cls(
            _count(data["at"]),
            _count(data["len"]),
            parse_kind(data["kind"]),
            blob_ids,
            tuple(_count(n) for n in raw),
        )
        if segment.length == 0:
            raise ValueError("empty segment")
        return segment


@dataclass(frozen=True)
class PackHeader:
    created: float
    segments: list[Segment]  # without blob ids: see the module docstring


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def pack_id_of(key: str) -> str:
    return key.rpartition("/")[2]


class PackBuilder:
    """Collects blobs into sealed segments in memory until the writer decides the pack is full."""

    def __init__(self, sealer: Sealer, segment_size: int) -> None:
        self._sealer = sealer
        self._segment_size = segment_size
        self._body = bytearray()
        self._segments: list[Segment] = []
        self._blobs = 0
        self._kind: BlobKind = "data"
        self._parts: list[bytes] = []  # the open segment's plaintext
        self._ids: list[str] = []
        self._open_size = 0

    def __len__(self) -> int:
        """Sealed bytes so far; the open segment counts once it is sealed."""
        return len(self._body)

    @property
    def blobs(self) -> int:
        return self._blobs

    @property
    def empty(self) -> bool:
        return self._blobs == 0

    def add(self, blob_id: str, kind: BlobKind, data: bytes) -> None:
        if self._ids and (kind != self._kind or self._open_size + len(data) > self._segment_size):
            self._seal_segment()
        self._kind = kind
        self._parts.append(data)
        self._ids.append(blob_id)
        self._open_size += len(data)
        self._blobs += 1
        if self._open_size >= self._segment_size:
            self._seal_segment()

    def finish(self, created: float) -> tuple[str, bytes, list[Segment]]:
        """(pack id, pack bytes, its segments); the builder is empty afterwards."""
        if self._ids:
            self._seal_segment()
        body = {"created": created, "segments": [s.to_json(ids=False) for s in self._segments]}
        header = self._sealer.seal(json.dumps(body, separators=(",", ":")).encode())
        self._body += header + _LENGTH.pack(len(header))
        data = bytes(self._body)  # two copies of the pack at most, not three
        pack_id = hashlib.sha256(data).hexdigest()
        segments = self._segments
        self._body = bytearray()
        self._segments = []
        self._blobs = 0
        return pack_id, data, segments

    def _seal_segment(self) -> None:
        sealed = self._sealer.seal(b"".join(self._parts))
        raw = tuple(len(p) for p in self._parts)
        self._segments.append(Segment(len(self._body), len(sealed), self._kind, tuple(self._ids), raw))
        self._body += sealed
        self._parts, self._ids, self._open_size = [], [], 0


def read_header(data: bytes, sealer: Sealer, pack_id: str) -> PackHeader:
    """Parse a whole pack's trailing header; CorruptData when it does not open or does not fit."""
    what = f"pack {pack_id} header"
    if len(data) < _LENGTH.size:
        raise CorruptData(f"{what} is truncated: run `rewind verify --read-data`")
    (size,) = _LENGTH.unpack(data[-_LENGTH.size :])
    start = len(data) - _LENGTH.size - size
    if start < 0:
        raise CorruptData(f"{what} has an impossible length: run `rewind verify --read-data`")
    try:
        parsed = json.loads(sealer.open(data[start : -_LENGTH.size], what))
        segments = [Segment.from_json(s, ids=False) for s in parsed["segments"]]
        created = float(parsed["created"])
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"{what} is malformed: run `rewind verify --read-data`") from None
    if any(s.offset + s.length > start for s in segments):
        raise CorruptData(f"{what} points outside the pack: run `rewind verify --read-data`")
    return PackHeader(created, segments)


def parse_kind(value: object) -> BlobKind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown blob kind {value!r}")


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a byte count, not {value!r}")
    return value
