"""Snapshot repository over a Store: packs, indexes, keys and encryption live here and only here."""

from core.repository.crypto import CorruptData, KeyRequired, RepositoryError, WrongKey
from core.repository.keys import Passphrase, RawKey, RepositoryKey
from core.repository.packs import PACK_SIZE, SEGMENT_SIZE, BlobKind
from core.repository.prune import PruneReport
from core.repository.repository import (
    NotARepository,
    Repository,
    RepositoryStats,
    RepositoryWriter,
    UnknownBlob,
    UnknownSnapshot,
)
from core.repository.verify import VerifyReport

__all__ = [
    "PACK_SIZE",
    "SEGMENT_SIZE",
    "BlobKind",
    "CorruptData",
    "KeyRequired",
    "NotARepository",
    "Passphrase",
    "PruneReport",
    "RawKey",
    "Repository",
    "RepositoryError",
    "RepositoryKey",
    "RepositoryStats",
    "RepositoryWriter",
    "UnknownBlob",
    "UnknownSnapshot",
    "VerifyReport",
    "WrongKey",
]
