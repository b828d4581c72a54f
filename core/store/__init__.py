"""Storage port and adapters. ``S3Store`` lives in ``core.store.s3`` (imported on demand: boto3 is slow)."""

from core.store.file import FileStore
from core.store.open import open_store
from core.store.port import (
    AlreadyExists,
    Locked,
    NotFound,
    Retention,
    Store,
    StoreError,
    StoreProperties,
    StoreUnavailable,
)

__all__ = [
    "AlreadyExists",
    "FileStore",
    "Locked",
    "NotFound",
    "Retention",
    "Store",
    "StoreError",
    "StoreProperties",
    "StoreUnavailable",
    "open_store",
]
