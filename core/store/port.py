"""The storage port: a store moves named bytes and nothing else.

Keys are ``/``-separated paths relative to the store root (``packs/ab/abcd…``). Only ``core.repository``
knows what the bytes mean. Every adapter maps its own failures onto the errors below at the boundary, so
callers never see ``OSError`` or ``botocore`` exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from core.errors import RewindError


@dataclass(frozen=True)
class Retention:
    """Write-once protection for one object version: nobody deletes it for ``days`` days."""

    mode: Literal["governance", "compliance"]
    days: int

    def __post_init__(self) -> None:
        if self.mode not in ("governance", "compliance"):
            raise ValueError(f"retention mode must be governance or compliance, not {self.mode!r}")
        if self.days < 1:
            raise ValueError(f"retention must last at least one day, not {self.days}")


@dataclass(frozen=True)
class StoreProperties:
    conditional_writes: bool  # create-only puts are atomic on the server, not check-then-put
    object_lock: bool  # puts may carry a Retention that the server enforces
    location: str  # human-readable, never with credentials


class StoreError(RewindError):
    """A storage operation failed; the message names the bucket or path and the fix."""


class NotFound(StoreError):
    """The key does not exist."""


class AlreadyExists(StoreError):
    """A create-only put found the key already there."""


class Locked(StoreError):
    """Object Lock (retention or legal hold) refused a delete."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or used at all: endpoint down, bucket missing, access denied."""


@runtime_checkable
class Store(Protocol):
    properties: StoreProperties

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, retention: Retention | None = None
    ) -> None: ...

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...

    def is_locked(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    """Keys are relative, ``/``-separated and free of ``.``/``..`` parts, so no adapter can leave its root."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StoreError(f"invalid store key {key!r}: keys are relative paths like packs/ab/abcd")
    if any(part in ("", ".", "..") for part in parts):
        raise StoreError(f"invalid store key {key!r}: empty, '.' and '..' path parts are not allowed")
    return key
