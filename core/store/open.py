"""Store URL -> store: ``file:///absolute/path`` or ``s3://bucket/prefix``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.errors import ConfigurationError
from core.store.file import FileStore
from core.store.port import Retention, Store, StoreError

_SHAPE = "must be file:///absolute/path or s3://bucket/prefix"


def open_store(url: str, *, s3_endpoint_url: str | None = None, lock: Retention | None = None) -> Store:
    """``lock``: objects the repository writes will carry this retention, so the store must enforce it."""
    parts = urlsplit(url)
    shown = _without_credentials(url)
    if parts.username or parts.password:
        raise ConfigurationError(
            f"REWIND_STORE_URL {shown} carries credentials: put them in the environment or an AWS profile"
        )
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigurationError(f"REWIND_STORE_URL {shown} {_SHAPE}")
        if lock is not None:
            raise StoreError(
                f"{unquote(parts.path)} is a directory and cannot lock objects: use an S3 bucket with Object "
                "Lock, or turn locking off (REWIND_S3_LOCK_MODE=none)"
            )
        return FileStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if len(parts.netloc) < 3:
            raise ConfigurationError(f"REWIND_STORE_URL {shown} {_SHAPE} (bucket names have 3+ characters)")
        from core.store.s3 import S3Store  # boto3 is slow to import; file stores never need it

        return S3Store(parts.netloc, unquote(parts.path), endpoint_url=s3_endpoint_url, lock=lock)
    raise ConfigurationError(f"REWIND_STORE_URL {shown} {_SHAPE}")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
