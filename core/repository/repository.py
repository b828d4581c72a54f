"""The snapshot repository: deduplicated, compressed, optionally encrypted blobs in packs on any Store.

Store layout::

    config                   plaintext JSON: version, id, encrypted, compression, segment and pack
                             parameters, and the id key when the repository is not encrypted
    keys/<sha256>            key files wrapping the master keys (encrypted repositories only)
    packs/<2 hex>/<sha256>   sealed segments of blobs + sealed trailing header (see packs.py)
    index/<sha256>           sealed JSON: pack -> segments -> blobs (see index.py)
    snapshots/<random id>    sealed JSON snapshot records, write-once

Reachability convention (verify and prune rely on it): a snapshot record has ``"roots": [blob ids]``;
a blob of kind ``"tree"`` is JSON whose ``"blobs": [ids]`` lists the blobs it references (which may be
trees again); ``"data"`` and ``"volatile"`` blobs are leaves.

Crash safety follows restic's order: packs, then the index listing them, then the snapshot record (whose
roots must already be indexed). A process killed anywhere leaves at worst packs no index lists; the next
writer ignores them and prune deletes them after ``UNINDEXED_PACK_MARGIN``.

Blob ids are 128-bit keyed hashes (``crypto.keyed_id``). Reading a blob fetches its whole segment with one
ranged read; the last few decompressed segments stay in a per-repository ``SegmentCache``.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from core.repository.cache import SegmentCache
from core.repository.crypto import (
    ZSTD_SETTINGS,
    CorruptData,
    KeyRequired,
    RepositoryError,
    Sealer,
    WrongKey,
    keyed_id,
)
from core.repository.index import (
    MAX_INDEX_ENTRIES,
    Index,
    Placed,
    blob_count,
    write_index,
)
from core.repository.keys import MasterKeys, Passphrase, RepositoryKey, unwrap, wrap
from core.repository.packs import (
    KINDS,
    PACK_SIZE,
    SEGMENT_SIZE,
    BlobEntry,
    BlobKind,
    PackBuilder,
    Segment,
    pack_key,
)
from core.store import AlreadyExists, NotFound, Retention, Store, StoreError

if TYPE_CHECKING:
    from core.repository.prune import PruneReport
    from core.repository.verify import VerifyReport

FORMAT_VERSION = 3  # 2: compressed segments, 128-bit blob ids; 3: pack headers without blob ids
CONFIG_KEY = "config"
KEYS_PREFIX = "keys/"
SNAPSHOTS_PREFIX = "snapshots/"
MIN_PREFIX = 6
READ_GAP = 256 * 1024  # bytes of unwanted segments worth reading to save a request
READ_SPAN = 16 * 1024 * 1024
_CHECK_FAILED = "failed its check: run `rewind verify --read-data`"


class NotARepository(RepositoryError):
    """The store holds no (readable) repository config."""


class UnknownSnapshot(RepositoryError):
    """No snapshot, or more than one, matches the given id or prefix."""


class UnknownBlob(RepositoryError):
    """The blob id is in no index file of this repository."""


@dataclass
class RepositoryStats:
    bytes_written: int = 0
    packs_written: int = 0
    blobs_written: int = 0
    blobs_deduplicated: int = 0


@dataclass(frozen=True, repr=False)
class _Config:
    id: str
    encrypted: bool
    pack_size: int
    segment_size: int
    id_key: bytes


class Repository:
    """Open with ``open``/``init``/``open_or_init``. One writer at a time (the catalog holds the lease)."""

    def __init__(
        self,
        store: Store,
        config: _Config,
        sealer: Sealer,
        *,
        master: MasterKeys | None,
        lock: Retention | None,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.id = config.id
        self.encrypted = config.encrypted
        self.pack_size = config.pack_size
        self.segment_size = config.segment_size
        self.lock = lock
        self.clock = clock
        self.stats = RepositoryStats()
        self._id_key = config.id_key
        self._master = master
        self.sealer = sealer
        self.segments = SegmentCache()
        self.index = Index.load(store, sealer)

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        store: Store,
        *,
        key: RepositoryKey | None,
        lock: Retention | None = None,
        pack_size: int = PACK_SIZE,
        segment_size: int = SEGMENT_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> Repository:
        _check_lock(store, lock)
        if pack_size < 1 or segment_size < 1:
            raise ValueError("pack and segment sizes must be positive")
        where = store.properties.location
        if store.exists(CONFIG_KEY):
            raise AlreadyExists(f"{where} already holds a Rewind repository: open it instead")
        repository_id = os.urandom(16).hex()
        master = MasterKeys.generate(repository_id) if key is not None else None
        id_key = master.id_key if master is not None else os.urandom(32)
        body: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "id": repository_id,
            "encrypted": master is not None,
            "compression": {"algorithm": "zstd", **ZSTD_SETTINGS},
            "chunker": {"kind": "none"},  # one blob per Graph object: they are small
            "segment_size": segment_size,
            "pack_size": pack_size,
        }
        if master is None:
            body["id_key"] = id_key.hex()
        elif key is not None:
            _put_key_file(store, wrap(master, key), lock)
        try:
            store.put(CONFIG_KEY, json.dumps(body, indent=1).encode(), if_absent=True, retention=lock)
        except AlreadyExists:
            raise AlreadyExists(f"{where} already holds a Rewind repository: open it instead") from None
        config = _Config(repository_id, master is not None, pack_size, segment_size, id_key)
        sealer = Sealer(master.encryption_key if master else None)
        return cls(store, config, sealer, master=master, lock=lock, clock=clock)

    @classmethod
    def open(
        cls,
        store: Store,
        *,
        key: RepositoryKey | None,
        lock: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Repository:
        _check_lock(store, lock)
        where = store.properties.location
        try:
            body = json.loads(store.get(CONFIG_KEY))
            version, repository_id, encrypted = int(body["version"]), str(body["id"]), bool(body["encrypted"])
            pack_size, segment_size = int(body["pack_size"]), int(body.get("segment_size", SEGMENT_SIZE))
        except NotFound:
            raise NotARepository(
                f"{where} holds no Rewind repository (no config): check the store URL"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise NotARepository(
                f"{where}/config is not a Rewind repository config: check the store URL"
            ) from None
        if version > FORMAT_VERSION:
            raise RepositoryError(
                f"repository format {version} is newer than this Rewind reads: upgrade Rewind"
            )
        if version < FORMAT_VERSION:
            raise RepositoryError(
                f"repository format {version} is a pre-release format this Rewind no longer reads: "
                "back up into a new repository"
            )
        if not encrypted:
            if key is not None:
                raise RepositoryError(
                    "this repository is not encrypted: unset REWIND_REPOSITORY_PASSPHRASE and "
                    "REWIND_REPOSITORY_KEY"
                )
            config = _Config(
                repository_id, False, pack_size, segment_size, bytes.fromhex(str(body["id_key"]))
            )
            return cls(store, config, Sealer(None), master=None, lock=lock, clock=clock)
        if key is None:
            raise KeyRequired(
                "this repository is encrypted: set REWIND_REPOSITORY_PASSPHRASE or REWIND_REPOSITORY_KEY"
            )
        master = _unlock(store, key, repository_id)
        config = _Config(repository_id, True, pack_size, segment_size, master.id_key)
        return cls(store, config, Sealer(master.encryption_key), master=master, lock=lock, clock=clock)

    @classmethod
    def open_or_init(
        cls,
        store: Store,
        *,
        key: RepositoryKey | None,
        lock: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Repository:
        if store.exists(CONFIG_KEY):
            return cls.open(store, key=key, lock=lock, clock=clock)
        try:
            return cls.init(store, key=key, lock=lock, clock=clock)
        except AlreadyExists:  # another process initialised it in between
            return cls.open(store, key=key, lock=lock, clock=clock)

    def add_key(self, key: RepositoryKey) -> str:
        """Another passphrase or raw key that opens this repository; returns the key file's key."""
        if self._master is None:
            raise RepositoryError("this repository is not encrypted: it has no keys to add to")
        return _put_key_file(self.store, wrap(self._master, key), self.lock)

    def refresh(self) -> None:
        """Reload the index, e.g. after another process wrote to the repository."""
        self.segments.clear()
        self.index = Index.load(self.store, self.sealer)

    # -- blobs -----------------------------------------------------------------------------------------

    def blob_id(self, data: bytes) -> str:
        return keyed_id(self._id_key, data)

    def has_blob(self, blob_id: str) -> bool:
        return blob_id in self.index.blobs

    def writer(self) -> RepositoryWriter:
        return RepositoryWriter(self)

    def read_blob(self, blob_id: str) -> bytes:
        entry = self._entry(blob_id)
        plain = self.segments.get(entry.segment)
        if plain is None:
            try:
                sealed = self.store.get_range(
                    pack_key(entry.pack_id), entry.segment_offset, entry.segment_length
                )
            except NotFound:
                raise CorruptData(
                    f"pack {entry.pack_id} holding blob {blob_id} is missing: run `rewind verify`"
                ) from None
            plain = self._remember(entry.segment, self.open_segment(entry, sealed, f"holding blob {blob_id}"))
        return self.check_blob(entry, plain)

    def read_blobs(self, blob_ids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Many blobs with few requests: each segment once, one ranged read per run of nearby segments.

        Diffs and restores read blobs by the hundred thousand: this works from the index's segments and
        builds no ``BlobEntry`` per blob (every object made here is more work for the garbage collector).
        Every blob is located before the first is yielded, so an index reloaded meanwhile (prune, verify)
        cannot move a blob under this reader.
        """
        index = self.index
        placed = index.placed
        by_segment: dict[int, list[int]] = {}  # segment place -> positions of the wanted blobs in it
        for blob_id in dict.fromkeys(blob_ids):
            found = index.locate(blob_id)
            if found is None:
                raise UnknownBlob(f"blob {blob_id} is in no index of this repository: run `rewind verify`")
            by_segment.setdefault(found[0], []).append(found[1])
        cold: dict[str, list[Placed]] = {}
        for place, positions in by_segment.items():
            segment = placed[place]
            plain = self.segments.get(segment.key)
            if plain is None:
                cold.setdefault(segment.pack_id, []).append(segment)
                continue
            for position in positions:
                yield self.cut_blob(segment, position, plain)
        for pack_id, segments in cold.items():
            for run in _runs(sorted(segments, key=_offset)):
                start = run[0].offset
                try:
                    span = self.store.get_range(pack_key(pack_id), start, run[-1].end - start)
                except NotFound:
                    raise CorruptData(f"pack {pack_id} is missing: run `rewind verify`") from None
                for segment in run:
                    sealed = span[segment.offset - start : segment.end - start]
                    opened = self.open_sealed(segment.pack_id, segment.offset, sealed, "")
                    plain = self._remember(segment.key, opened)
                    for position in by_segment[segment.place]:
                        yield self.cut_blob(segment, position, plain)

    def open_segment(self, entry: BlobEntry, sealed: bytes, detail: str = "") -> bytes:
        """Plaintext of the stored segment holding ``entry``; CorruptData naming the segment if it fails."""
        return self.open_sealed(entry.pack_id, entry.segment_offset, sealed, detail)

    def open_sealed(self, pack_id: str, offset: int, sealed: bytes, detail: str = "") -> bytes:
        """Plaintext of the segment at ``offset`` of a pack; CorruptData naming it if it fails."""
        what = f"pack {pack_id} segment at byte {offset}"
        return self.sealer.open(sealed, f"{what} {detail}" if detail else what)

    def check_blob(self, entry: BlobEntry, segment: bytes) -> bytes:
        """One blob's plaintext cut from its decompressed segment, checked against its keyed id."""
        return self._checked(entry.pack_id, entry.blob_id, segment, entry.offset, entry.raw_length)

    def _checked(self, pack_id: str, blob_id: str, segment: bytes, start: int, length: int) -> bytes:
        plain = segment[start : start + length]
        if len(plain) != length or self.blob_id(plain) != blob_id:
            raise CorruptData(f"pack {pack_id} blob {blob_id} {_CHECK_FAILED}")
        return plain

    def cut_blob(self, segment: Placed, position: int, plain: bytes) -> tuple[str, bytes]:
        """``check_blob`` for the blob at ``position`` of an indexed segment: (its id, its plaintext)."""
        blob_id = segment.ids[position]
        start, end = segment.starts[position], segment.starts[position + 1]
        return blob_id, self._checked(segment.pack_id, blob_id, plain, start, end - start)

    def _entry(self, blob_id: str) -> BlobEntry:
        entry = self.index.blobs.get(blob_id)
        if entry is None:
            raise UnknownBlob(f"blob {blob_id} is in no index of this repository: run `rewind verify`")
        return entry

    def _remember(self, segment: tuple[str, int], plain: bytes) -> bytes:
        if len(plain) <= self.segment_size:  # a lone oversized blob is read once, not worth the memory
            self.segments.put(segment, plain)
        return plain

    def reachable(self, roots: Iterable[str]) -> tuple[set[str], builtins.list[str]]:
        """Blob ids reachable from ``roots`` through tree blobs, and the problems met on the way."""
        seen: set[str] = set()
        problems: list[str] = []
        todo = list(roots)
        while todo:
            blob_id = todo.pop()
            if blob_id in seen:
                continue
            seen.add(blob_id)
            entry = self.index.blobs.get(blob_id)
            if entry is None:
                problems.append(f"blob {blob_id} is referenced but in no index")
                continue
            if entry.kind != "tree":
                continue
            try:
                children = json.loads(self.read_blob(blob_id)).get("blobs", [])
            except (RepositoryError, ValueError, AttributeError) as exc:
                problems.append(f"tree blob {blob_id} cannot be read: {exc}")
                continue
            todo.extend(str(child) for child in children)
        return seen, problems

    # -- snapshots -------------------------------------------------------------------------------------

    def save_snapshot(self, record: dict[str, Any]) -> str:
        roots = record.get("roots", [])
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            raise RepositoryError('a snapshot record\'s "roots" must be a list of blob ids')
        missing = [r for r in roots if not self.has_blob(r)]
        if missing:
            raise RepositoryError(
                f"snapshot root {missing[0]} is not in an uploaded index: "
                "call writer.flush() before save_snapshot"
            )
        snapshot_id = os.urandom(16).hex()
        data = self.sealer.seal(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
        self.put(SNAPSHOTS_PREFIX + snapshot_id, data)
        return snapshot_id

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        full = self.resolve_snapshot(snapshot_id)
        key = SNAPSHOTS_PREFIX + full
        try:
            record = json.loads(self.sealer.open(self.store.get(key), f"snapshot {full}"))
        except NotFound:
            raise UnknownSnapshot(f"snapshot {full} was deleted meanwhile") from None
        except ValueError:
            raise CorruptData(f"snapshot {full} is malformed: run `rewind verify`") from None
        if not isinstance(record, dict):
            raise CorruptData(f"snapshot {full} is malformed: run `rewind verify`")
        return record

    def list_snapshots(self) -> builtins.list[tuple[str, dict[str, Any]]]:
        return [(sid, self.load_snapshot(sid)) for sid in self.snapshot_ids()]

    def snapshot_ids(self) -> builtins.list[str]:
        return sorted(key.removeprefix(SNAPSHOTS_PREFIX) for key in self.store.list(SNAPSHOTS_PREFIX))

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.store.delete(SNAPSHOTS_PREFIX + self.resolve_snapshot(snapshot_id))

    def resolve_snapshot(self, prefix: str) -> str:
        """The full id for an id or a unique prefix of at least six characters."""
        prefix = prefix.strip().lower()
        if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
            raise UnknownSnapshot(
                f"{prefix!r} is not a snapshot id: give at least {MIN_PREFIX} hex characters"
            )
        if len(prefix) == 32 and self.store.exists(SNAPSHOTS_PREFIX + prefix):
            return prefix
        matches = [key for key in self.store.list(SNAPSHOTS_PREFIX + prefix)]
        if len(matches) != 1:
            found = "no snapshot" if not matches else f"{len(matches)} snapshots"
            raise UnknownSnapshot(f"{found} in {self.store.properties.location} match {prefix}: check the id")
        return matches[0].removeprefix(SNAPSHOTS_PREFIX)

    # -- upkeep ----------------------------------------------------------------------------------------

    def verify(self, *, read_data: float | bool = False) -> VerifyReport:
        from core.repository.verify import verify

        return verify(self, read_data=read_data)

    def prune(self, keep: set[str]) -> PruneReport:
        from core.repository.prune import prune

        return prune(self, keep)

    def put(self, key: str, data: bytes) -> None:
        """Create-only put under the repository's lock; every repository file is write-once."""
        with contextlib.suppress(AlreadyExists):  # content-addressed: the same name holds the same bytes
            self.store.put(key, data, if_absent=True, retention=self.lock)
            self.stats.bytes_written += len(data)

    def __repr__(self) -> str:
        return f"Repository({self.store.properties.location}, encrypted={self.encrypted})"

    def put_object(self, key: str, data: bytes) -> None:
        """A small write-once object beside the snapshots (the audit trail): sealed like every repository
        file, under the repository's lock; unlike ``put``, raises AlreadyExists when the key is taken."""
        self.store.put(key, self.sealer.seal(data), if_absent=True, retention=self.lock)


class RepositoryWriter:
    """Adds blobs into packs; ``flush`` (or leaving the ``with`` block cleanly) makes them durable."""

    def __init__(self, repository: Repository) -> None:
        self._repo = repository
        # One open pack per kind: trees are read on every walk and volatile blobs churn, so neither should
        # share segments (or packs, for prune) with the stable data.
        self._open = {kind: PackBuilder(repository.sealer, repository.segment_size) for kind in KINDS}
        self._pending: set[str] = set()  # added by this writer, not yet in an uploaded index
        self._unindexed: dict[str, list[Segment]] = {}
        self._unindexed_count = 0

    def add_blob(self, data: bytes, *, kind: BlobKind = "data") -> str:
        if kind not in KINDS:
            raise ValueError(f"blob kind must be one of {', '.join(KINDS)}, not {kind!r}")
        repo = self._repo
        blob_id = repo.blob_id(data)
        if blob_id in self._pending or repo.has_blob(blob_id):
            repo.stats.blobs_deduplicated += 1
            return blob_id
        builder = self._open[kind]
        builder.add(blob_id, kind, data)
        self._pending.add(blob_id)
        repo.stats.blobs_written += 1
        if len(builder) >= repo.pack_size or builder.blobs >= MAX_INDEX_ENTRIES:
            self._upload(builder)  # a pack never holds more blobs than one index file may list
        return blob_id

    def flush(self) -> None:
        for builder in self._open.values():
            if not builder.empty:
                self._upload(builder)
        if self._unindexed:
            self._write_index()

    def _upload(self, builder: PackBuilder) -> None:
        repo = self._repo
        pack_id, data, segments = builder.finish(repo.clock())
        repo.put(pack_key(pack_id), data)
        repo.stats.packs_written += 1
        self._unindexed[pack_id] = segments
        self._unindexed_count += blob_count(segments)
        if self._unindexed_count >= MAX_INDEX_ENTRIES:  # a long run indexes as it goes: a crash loses little
            self._write_index()

    def _write_index(self) -> None:
        repo = self._repo
        for key, packs in write_index(repo.store, repo.sealer, self._unindexed, repo.lock).items():
            repo.index.add(key, packs)
        indexed = {blob_id for segments in self._unindexed.values() for s in segments for blob_id in s.ids}
        self._pending = self._pending - indexed  # a new set: removing leaves a set's table at its largest
        self._unindexed = {}
        self._unindexed_count = 0

    def __enter__(self) -> RepositoryWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.flush()


def _check_lock(store: Store, lock: Retention | None) -> None:
    if lock is not None and not store.properties.object_lock:
        raise StoreError(
            f"{store.properties.location} cannot lock objects: use a bucket with Object Lock, "
            "or turn locking off (REWIND_S3_LOCK_MODE=none)"
        )


def _put_key_file(store: Store, data: bytes, lock: Retention | None) -> str:
    key = KEYS_PREFIX + hashlib.sha256(data).hexdigest()
    store.put(key, data, if_absent=True, retention=lock)
    return key


def _unlock(store: Store, key: RepositoryKey, repository_id: str) -> MasterKeys:
    key_files = sorted(store.list(KEYS_PREFIX))
    if not key_files:
        raise RepositoryError("this repository is encrypted but has no key files: restore keys/ from a copy")
    malformed: list[CorruptData] = []
    for name in key_files:
        try:
            master = unwrap(store.get(name), key)
        except CorruptData as exc:  # one damaged key file must not lock out the others
            malformed.append(exc)
            continue
        if master is not None and master.repository_id == repository_id:
            return master
    if len(malformed) == len(key_files):
        raise malformed[0]
    what = "passphrase" if isinstance(key, Passphrase) else "key"
    raise WrongKey(f"the {what} does not open this repository")


def _runs(segments: list[Placed]) -> Iterator[list[Placed]]:
    """Group segments (offset-sorted) whose gaps are small enough that reading the gap beats another
    request."""
    run: list[Placed] = []
    for segment in segments:
        if run and (segment.offset - run[-1].end > READ_GAP or segment.end - run[0].offset > READ_SPAN):
            yield run
            run = []
        run.append(segment)
    if run:
        yield run


def _offset(segment: Placed) -> int:
    return segment.offset
