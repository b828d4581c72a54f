"""Whole-tenant snapshots on top of the repository: records, relationship lists, manifest pages."""

from core.snapshots.canonical import canonical_json, load_json
from core.snapshots.manifest import Entry, TypeManifest
from core.snapshots.numbers import ObjectNumbers
from core.snapshots.port import BlobRepository, BlobWriter
from core.snapshots.snapshot import SnapshotReader, SnapshotWriter, StoredObject

__all__ = [
    "BlobRepository",
    "BlobWriter",
    "Entry",
    "ObjectNumbers",
    "SnapshotReader",
    "SnapshotWriter",
    "StoredObject",
    "TypeManifest",
    "canonical_json",
    "load_json",
]
