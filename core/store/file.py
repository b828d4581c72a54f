"""A store in a local directory (or a mounted share): one file per key, written atomically."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from core.store.port import (
    AlreadyExists,
    NotFound,
    Retention,
    StoreError,
    StoreProperties,
    StoreUnavailable,
    check_key,
)

TEMP_PREFIX = ".tmp-"


class FileStore:
    """Keys map to paths under ``root``. A reader never sees a half-written file: each put goes to a temp
    file in the target directory, is fsynced, then renamed (or hard-linked, for create-only puts)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create store directory {self.root}: {exc.strerror}") from None
        if not self.root.is_dir():
            raise StoreUnavailable(f"store path {self.root} is not a directory: point the store URL at one")
        self.properties = StoreProperties(conditional_writes=True, object_lock=False, location=str(self.root))

    def _path(self, key: str) -> Path:
        check_key(key)
        if any(part.startswith(TEMP_PREFIX) for part in key.split("/")):
            raise StoreError(f"invalid store key {key!r}: names starting with {TEMP_PREFIX} are reserved")
        return self.root.joinpath(*key.split("/"))

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, retention: Retention | None = None
    ) -> None:
        # A directory cannot lock files; the repository refuses a lock on a store without object_lock.
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                if if_absent:
                    self._link_new(temp, path, key)
                else:
                    os.replace(temp, path)
            finally:
                temp.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(
                f"cannot write {path}: {exc.strerror}: check free space and permissions"
            ) from None

    def _link_new(self, temp: Path, path: Path, key: str) -> None:
        try:
            os.link(temp, path)
        except FileExistsError:
            raise AlreadyExists(f"{key} already exists in {self.root}") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # No hard links on this filesystem: fall back to check-then-rename (not atomic across writers).
            if path.exists():
                raise AlreadyExists(f"{key} already exists in {self.root}") from None
            os.replace(temp, path)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{key} not found in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise StoreError(f"invalid range {offset}+{length} for {key}")
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{key} not found in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIX)]
            relative = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{key} not found in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot delete {path}: {exc.strerror}: check permissions") from None

    def is_locked(self, key: str) -> bool:
        return False

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open directories, which is fine.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
