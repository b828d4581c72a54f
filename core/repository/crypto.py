"""Compression, sealing and keyed ids: the only place that touches plaintext bytes.

Every stored thing except ``config`` and key files goes through ``Sealer.seal``: zstd, then AES-256-GCM
with a random 96-bit nonce (``nonce ‖ ciphertext ‖ tag``). An unencrypted repository skips the cipher
but still compresses (with the frame checksum on, so a flipped byte is caught before anyone slices the
plaintext), and still names blobs by a keyed HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import RewindError

KEY_SIZE = 32
NONCE_SIZE = 12
# zstd's lazy2 search over a 512 KiB window (one segment): on Graph JSON, level 9's ratio (~3% smaller than
# level 6) at level 6's speed and ~3 MB of compressor state. Level 9 itself grows its state to ~10 MB on the
# larger inputs (index files), for no gain on data that are mostly ids.
ZSTD_PARAMETERS = {"window_log": 19, "hash_log": 19, "chain_log": 19, "search_log": 5, "min_match": 5}
ZSTD_SETTINGS: dict[str, object] = {"strategy": "lazy2", **ZSTD_PARAMETERS}  # as the repository config says
ID_BYTES = 16  # HMAC-SHA256-128, as kopia: 2^64 blobs before a collision is likely
MAX_PLAINTEXT = 256 * 1024 * 1024  # refuse decompression bombs in corrupt or hostile data


class RepositoryError(RewindError):
    """The repository is unusable or inconsistent; the message says what to do."""


class CorruptData(RepositoryError):
    """Stored bytes failed their authentication or hash check."""


class WrongKey(RepositoryError):
    """No key file opens with the given passphrase or key."""


class KeyRequired(RepositoryError):
    """The repository is encrypted and no passphrase or key was given."""


def keyed_id(id_key: bytes, data: bytes) -> str:
    """Truncated HMAC-SHA256: equal data dedups within one repository; the id reveals nothing without the key.

    32 hex characters rather than 64: ids are the incompressible part of every index, header and manifest.
    """
    return hmac.new(id_key, data, hashlib.sha256).digest()[:ID_BYTES].hex()


class Sealer:
    """Compress-then-encrypt under one master key (``None``: compress only). Not thread-safe."""

    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) != KEY_SIZE:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key) if key is not None else None
        params = zstandard.ZstdCompressionParameters(
            **ZSTD_PARAMETERS, strategy=zstandard.STRATEGY_LAZY2, write_checksum=int(key is None)
        )
        self._compressor = zstandard.ZstdCompressor(compression_params=params)
        self._decompressor = zstandard.ZstdDecompressor()

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def seal(self, plaintext: bytes) -> bytes:
        packed = self._compressor.compress(plaintext)
        if self._aead is None:
            return packed
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, packed, None)

    def open(self, sealed: bytes, what: str) -> bytes:
        """``what`` names the object in the CorruptData message (e.g. "index file 3fa…")."""
        packed = sealed
        if self._aead is not None:
            if len(sealed) < NONCE_SIZE + 16:
                raise CorruptData(f"{what} is truncated: run `rewind verify --read-data`")
            try:
                packed = self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], None)
            except InvalidTag:
                raise CorruptData(f"{what} failed its check: run `rewind verify --read-data`") from None
        try:
            if zstandard.frame_content_size(packed) > MAX_PLAINTEXT:
                raise zstandard.ZstdError("the frame claims more plaintext than any repository file holds")
            return self._decompressor.decompress(packed, max_output_size=MAX_PLAINTEXT)
        except zstandard.ZstdError:
            raise CorruptData(f"{what} failed its check: run `rewind verify --read-data`") from None
