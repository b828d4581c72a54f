"""Packs: many sealed blobs in one object, so a backup makes a few PUTs instead of one per object.

Layout: ``blob₁ ‖ … ‖ blobₙ ‖ sealed header ‖ header length (4 bytes, little-endian)``. The header goes last
so blobs stream out as they are produced; it lists each blob's id, kind, offset, stored length and raw
length, plus the pack's creation time (prune's safety margin for packs no index lists). A pack is named by
the SHA-256 of its bytes and stored at ``packs/<first 2 hex>/<sha256>``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Literal

from core.repository.crypto import CorruptData, Sealer

BlobKind = Literal["data", "tree", "volatile"]
KINDS: tuple[BlobKind, ...] = ("data", "tree", "volatile")
PACK_SIZE = 8 * 1024 * 1024
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class BlobEntry:
    blob_id: str
    kind: BlobKind
    pack_id: str
    offset: int
    length: int  # stored (sealed) bytes
    raw_length: int  # plaintext bytes


@dataclass(frozen=True)
class PackHeader:
    created: float
    entries: list[BlobEntry]


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def pack_id_of(key: str) -> str:
    return key.rpartition("/")[2]


class PackBuilder:
    """Collects sealed blobs in memory until the writer decides the pack is full."""

    def __init__(self) -> None:
        self._body = bytearray()
        self._rows: list[tuple[str, BlobKind, int, int, int]] = []

    def __len__(self) -> int:
        return len(self._body)

    @property
    def empty(self) -> bool:
        return not self._rows

    def add(self, blob_id: str, kind: BlobKind, sealed: bytes, raw_length: int) -> None:
        self._rows.append((blob_id, kind, len(self._body), len(sealed), raw_length))
        self._body += sealed

    def finish(self, sealer: Sealer, created: float) -> tuple[str, bytes, list[BlobEntry]]:
        """(pack id, pack bytes, entries); the builder is empty afterwards."""
        header = sealer.seal(json.dumps({"created": created, "blobs": self._rows}).encode())
        data = bytes(self._body) + header + _LENGTH.pack(len(header))
        pack_id = hashlib.sha256(data).hexdigest()
        entries = [BlobEntry(b, k, pack_id, o, n, r) for b, k, o, n, r in self._rows]
        self._body = bytearray()
        self._rows = []
        return pack_id, data, entries


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
        entries = [
            BlobEntry(str(b), parse_kind(k), pack_id, int(o), int(n), int(r))
            for b, k, o, n, r in parsed["blobs"]
        ]
        created = float(parsed["created"])
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"{what} is malformed: run `rewind verify --read-data`") from None
    if any(e.offset < 0 or e.offset + e.length > start for e in entries):
        raise CorruptData(f"{what} points outside the pack: run `rewind verify --read-data`")
    return PackHeader(created, entries)


def parse_kind(value: object) -> BlobKind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown blob kind {value!r}")
