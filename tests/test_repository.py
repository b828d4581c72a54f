"""The snapshot repository on a FileStore and on S3 (moto): round trips, segments, keys, verify, prune."""

from __future__ import annotations

import json
import shutil
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.repository import (
    CorruptData,
    KeyRequired,
    NotARepository,
    Passphrase,
    RawKey,
    Repository,
    RepositoryError,
    UnknownSnapshot,
    WrongKey,
)
from core.repository import index as index_module
from core.repository import repository as repository_module
from core.repository.packs import BlobEntry, pack_key, read_header
from core.store import AlreadyExists, FileStore, Locked, Retention, Store, StoreError
from core.store.s3 import S3Store
from tests import s3server
from tests.s3server import MotoS3

SMALL_PACKS = 4096  # several packs from a few hundred small blobs
SMALL_SEGMENTS = 1024  # about four small blobs per segment


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    yield from s3server.serve()


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path / "repo")
    s3: MotoS3 = request.getfixturevalue("s3")
    return S3Store(s3.make_bucket(), "t/tenant-1", endpoint_url=s3.endpoint_url)


def user(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=n * 7919 + 1)),
        "displayName": f"Zebulon Quixote-Marchetti {n}",
        "userPrincipalName": f"zebulon.{n}@contoso.example",
        "accountEnabled": n % 7 != 0,
        "department": ["Finance", "Engineering", "Sales"][n % 3],
        "jobTitle": "Analyst",
    }


def blob(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def backup(repo: Repository, objects: list[dict[str, Any]], **extra: Any) -> tuple[str, list[str]]:
    """One snapshot the lead's way: data blobs, a tree page listing them, a record with the page as root."""
    with repo.writer() as writer:
        ids = [writer.add_blob(blob(o)) for o in objects]
        volatile = writer.add_blob(b'{"signInActivity":[]}', kind="volatile")
        page = writer.add_blob(blob({"blobs": ids}), kind="tree")
    return repo.save_snapshot({"roots": [page, volatile], "time": "2026-11-27T00:00:00Z", **extra}), ids


def pack_keys(store: Store) -> set[str]:
    return set(store.list("packs/"))


def flip_byte_in_segment(store: Store, entry: BlobEntry) -> None:
    data = bytearray(store.get(pack_key(entry.pack_id)))
    data[entry.segment_offset + entry.segment_length // 2] ^= 0x01
    store.put(pack_key(entry.pack_id), bytes(data))


def segment_mates(repo: Repository, entry: BlobEntry) -> list[str]:
    return [e.blob_id for e in repo.index.packs[entry.pack_id] if e.segment == entry.segment]


@pytest.mark.parametrize("key", [None, Passphrase("correct horse"), RawKey(bytes(range(32)))])
def test_round_trip(store: Store, key: Any) -> None:
    repo = Repository.init(store, key=key, pack_size=SMALL_PACKS, segment_size=SMALL_SEGMENTS)
    objects = [user(n) for n in range(200)]
    snapshot_id, _ = backup(repo, objects, kind="full")

    reopened = Repository.open(store, key=key)
    record = reopened.load_snapshot(snapshot_id[:8])
    assert record["kind"] == "full" and len(record["roots"]) == 2
    page = json.loads(reopened.read_blob(record["roots"][0]))
    assert [json.loads(reopened.read_blob(i)) for i in page["blobs"]] == objects
    assert reopened.encrypted is (key is not None)
    assert len(pack_keys(store)) > 2  # small packs filled and were uploaded as they filled


class CountingStore(FileStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.ranged_reads = 0

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self.ranged_reads += 1
        return super().get_range(key, offset, length)


def test_read_blobs_reads_nearby_segments_with_one_request(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    repo = Repository.init(store, key=Passphrase("pw"), pack_size=SMALL_PACKS, segment_size=SMALL_SEGMENTS)
    _, ids = backup(repo, [user(n) for n in range(400)])
    packs = {repo.index.blobs[i].pack_id for i in ids}
    segments = {repo.index.blobs[i].segment for i in ids}
    assert len(segments) > len(packs) > 1
    wanted = list(reversed(ids[::2])) + ids[:3]
    got = dict(repo.read_blobs(wanted))
    assert got == {i: blob(user(n)) for n, i in enumerate(ids) if i in set(wanted)}
    assert store.ranged_reads == len(packs)


def test_a_blob_from_the_middle_of_a_segment_reads_back(tmp_path: Path) -> None:
    repo = Repository.init(FileStore(tmp_path), key=Passphrase("pw"))
    _, ids = backup(repo, [user(n) for n in range(50)])
    middle = repo.index.blobs[ids[25]]
    mates = segment_mates(repo, middle)
    assert len(mates) == 50 and 0 < mates.index(ids[25]) < 49 and middle.offset > 0
    fresh = Repository.open(FileStore(tmp_path), key=Passphrase("pw"))  # nothing cached
    assert fresh.read_blob(ids[25]) == blob(user(25))
    assert fresh.read_blob(ids[24]) + fresh.read_blob(ids[26]) == blob(user(24)) + blob(user(26))


def test_neighbouring_blobs_decompress_their_segment_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    repo = Repository.init(store, key=Passphrase("pw"), segment_size=SMALL_SEGMENTS)
    _, ids = backup(repo, [user(n) for n in range(200)])
    segments = {repo.index.blobs[i].segment for i in ids}
    assert len(segments) > 32  # more than the cache holds
    assert [repo.read_blob(i) for i in ids] == [blob(user(n)) for n in range(200)]
    assert store.ranged_reads == len(segments)
    assert len(repo.segments) == 32  # bounded: the oldest segments were dropped
    repo.read_blob(ids[0])
    assert store.ranged_reads == len(segments) + 1


def test_a_blob_bigger_than_a_segment_gets_its_own_segment(store: Store) -> None:
    repo = Repository.init(store, key=Passphrase("pw"), segment_size=SMALL_SEGMENTS)
    big = blob({"members": [user(n) for n in range(40)]})
    assert len(big) > 4 * SMALL_SEGMENTS
    with repo.writer() as writer:
        before = writer.add_blob(blob(user(1)))
        big_id = writer.add_blob(big)
        after = writer.add_blob(blob(user(2)))
    entry = repo.index.blobs[big_id]
    assert segment_mates(repo, entry) == [big_id] and entry.raw_length == len(big)
    assert {repo.index.blobs[i].segment for i in (before, after)}.isdisjoint({entry.segment})
    reopened = Repository.open(store, key=Passphrase("pw"))
    assert reopened.read_blob(big_id) == big
    assert dict(reopened.read_blobs([after, big_id, before])) == {
        before: blob(user(1)),
        big_id: big,
        after: blob(user(2)),
    }
    assert reopened.verify(read_data=True).ok


def test_the_segment_cache_never_crosses_repositories(tmp_path: Path) -> None:
    """A copy of a repository has the same pack names; its damaged copy must not read as the intact one."""
    repo = Repository.init(FileStore(tmp_path / "a"), key=None)
    _, ids = backup(repo, [user(n) for n in range(10)])
    assert repo.read_blob(ids[3]) == blob(user(3))  # its segment is cached now
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copy = Repository.open(FileStore(tmp_path / "b"), key=None)
    flip_byte_in_segment(copy.store, copy.index.blobs[ids[3]])
    with pytest.raises(CorruptData):
        copy.read_blob(ids[3])
    assert repo.read_blob(ids[3]) == blob(user(3))


def test_blob_ids_are_128_bit(tmp_path: Path) -> None:
    repo = Repository.init(FileStore(tmp_path), key=Passphrase("pw"))
    blob_id = repo.blob_id(b"{}")
    assert len(blob_id) == 32 and int(blob_id, 16) >= 0
    with repo.writer() as writer:
        assert writer.add_blob(b"{}") == blob_id
    assert repo.read_blob(blob_id) == b"{}"


def test_index_lists_each_pack_once_and_costs_little_per_blob(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    repo = Repository.init(store, key=None, pack_size=1024, segment_size=8 * SMALL_SEGMENTS)
    backup(repo, [user(n) for n in range(300)])
    (key,) = store.list("index/")
    plain = repo.sealer.open(store.get(key), key)
    assert len(repo.index.packs) > 3
    assert all(plain.count(p.encode()) == 1 for p in repo.index.packs)
    assert len(plain) < 45 * len(repo.index.blobs)  # 32 hex id + raw length, not a row per blob


def test_pack_headers_list_the_layout_and_leave_the_ids_to_the_index(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    repo = Repository.init(store, key=None, segment_size=SMALL_SEGMENTS)
    _, ids = backup(repo, [user(n) for n in range(40)])
    pack_id = repo.index.blobs[ids[0]].pack_id
    data = store.get(pack_key(pack_id))
    header = read_header(data, repo.sealer, pack_id)
    assert [s.ids for s in header.segments] == [()] * len(header.segments)
    assert [s.layout for s in header.segments] == [s.layout for s in repo.index.segments(pack_id)]
    (size,) = struct.unpack("<I", data[-4:])
    plain = repo.sealer.open(data[-4 - size : -4], "header")
    assert not any(i.encode() in plain for i in ids)  # 16 bytes of entropy each: in the index only
    entries = repo.index.packs[pack_id]
    assert [e.blob_id for e in entries if e.blob_id in ids] == [
        i for i in ids if i in {e.blob_id for e in entries}
    ]
    assert all(repo.index.blobs[e.blob_id] == e for e in entries)
    assert Repository.open(store, key=None).index.packs[pack_id] == entries


def test_data_tree_and_volatile_blobs_sit_in_separate_packs(store: Store) -> None:
    repo = Repository.init(store, key=None)
    _, ids = backup(repo, [user(n) for n in range(20)])
    data_packs = {repo.index.blobs[i].pack_id for i in ids}
    packs = {
        kind: {e.pack_id for e in repo.index.blobs.values() if e.kind == kind}
        for kind in ("tree", "volatile")
    }
    assert len(data_packs) == 1 and len(packs["tree"]) == 1 and len(packs["volatile"]) == 1
    assert len(data_packs | packs["tree"] | packs["volatile"]) == 3
    assert len({repo.index.blobs[i].segment for i in ids}) == 1  # the 20 users share one segment


def test_dedup_within_a_writer_and_across_reopen(store: Store) -> None:
    repo = Repository.init(store, key=Passphrase("pw"))
    with repo.writer() as writer:
        first = writer.add_blob(blob(user(1)))
        assert writer.add_blob(blob(user(1))) == first
    assert (repo.stats.blobs_written, repo.stats.blobs_deduplicated, repo.stats.packs_written) == (1, 1, 1)
    backup(repo, [user(n) for n in range(50)])
    packs_before = pack_keys(store)

    again = Repository.open(store, key=Passphrase("pw"))
    backup(again, [user(n) for n in range(50)])
    assert again.stats.blobs_written == 0 and again.stats.packs_written == 0
    assert again.stats.blobs_deduplicated == 52
    assert pack_keys(store) == packs_before
    assert len(again.list_snapshots()) == 2


def test_blob_ids_are_keyed_per_repository(tmp_path: Path) -> None:
    one = Repository.init(FileStore(tmp_path / "a"), key=None)
    two = Repository.init(FileStore(tmp_path / "b"), key=Passphrase("pw"))
    data = blob(user(1))
    assert one.blob_id(data) != two.blob_id(data)
    assert one.blob_id(data) == Repository.open(FileStore(tmp_path / "a"), key=None).blob_id(data)


def test_keys_wrong_missing_and_extra(store: Store) -> None:
    Repository.init(store, key=Passphrase("right"))
    with pytest.raises(WrongKey) as wrong:
        Repository.open(store, key=Passphrase("wrong"))
    assert str(wrong.value) == "the passphrase does not open this repository"
    with pytest.raises(KeyRequired) as missing:
        Repository.open(store, key=None)
    assert str(missing.value) == (
        "this repository is encrypted: set REWIND_REPOSITORY_PASSPHRASE or REWIND_REPOSITORY_KEY"
    )
    raw = RawKey(b"k" * 32)
    with pytest.raises(WrongKey):
        Repository.open(store, key=raw)
    Repository.open(store, key=Passphrase("right")).add_key(raw)
    assert Repository.open(store, key=raw).encrypted
    store.put("keys/damaged", b"not a key file")
    assert Repository.open(store, key=Passphrase("right")).encrypted


def test_secrets_never_show_in_reprs() -> None:
    assert "hunter2" not in repr(Passphrase("hunter2"))
    assert repr(RawKey(b"\x01" * 32)) == "RawKey(***)"


def test_not_a_repository_init_twice_and_open_or_init(store: Store) -> None:
    with pytest.raises(NotARepository):
        Repository.open(store, key=None)
    created = Repository.open_or_init(store, key=None)
    with pytest.raises(AlreadyExists):
        Repository.init(store, key=None)
    assert Repository.open_or_init(store, key=None).id == created.id
    with pytest.raises(RepositoryError, match="not encrypted"):
        Repository.open(store, key=Passphrase("pw"))


def test_nothing_stored_reveals_names_or_ids_when_encrypted(store: Store) -> None:
    repo = Repository.init(store, key=Passphrase("pw"))
    objects = [user(n) for n in range(30)]
    snapshot_id, ids = backup(repo, objects, tenant="contoso-tenant-marker")
    stored = [(key, store.get(key)) for key in store.list("")]
    everything = b"".join(key.encode() + data for key, data in stored)
    secrets = [objects[3]["id"], "Zebulon", "Quixote", "contoso", ids[0], ids[-1]]
    for secret in secrets:
        assert secret.encode() not in everything, secret
    assert snapshot_id.encode() in everything  # the record's own name, random, is all that shows


@pytest.mark.parametrize("key", [Passphrase("pw"), None])
def test_a_corrupt_segment_fails_every_blob_in_it_and_verify_names_it(store: Store, key: Any) -> None:
    repo = Repository.init(store, key=key, segment_size=SMALL_SEGMENTS)
    _, ids = backup(repo, [user(n) for n in range(30)])
    entry = repo.index.blobs[ids[9]]
    mates = segment_mates(repo, entry)
    assert len(mates) > 2
    flip_byte_in_segment(store, entry)

    for blob_id in mates:
        with pytest.raises(CorruptData) as caught:
            repo.read_blob(blob_id)
        assert str(caught.value) == (
            f"pack {entry.pack_id} segment at byte {entry.segment_offset} holding blob {blob_id} "
            "failed its check: run `rewind verify --read-data`"
        )
    with pytest.raises(CorruptData):
        dict(repo.read_blobs(mates[:1]))
    others = [i for i in ids if i not in mates]
    assert [repo.read_blob(i) for i in others] == [blob(user(ids.index(i))) for i in others]
    assert repo.verify().ok  # the structure is intact; only reading the data finds it
    report = repo.verify(read_data=True)
    assert not report.ok
    assert any(
        f"pack {entry.pack_id} segment at byte {entry.segment_offset} failed its check" in error
        and f"({len(mates)} blobs in it cannot be read)" in error
        for error in report.errors
    ), report.errors
    assert any("does not match its name" in error for error in report.errors)
    assert report.blobs_read == len(repo.index.blobs)


def test_a_blob_that_does_not_match_its_id_is_caught(tmp_path: Path) -> None:
    """An index whose raw lengths cut the wrong bytes from a segment that opens: the keyed hash catches it,
    and verify finds the index at odds with the pack header."""
    store = FileStore(tmp_path)
    repo = Repository.init(store, key=None)
    _, ids = backup(repo, [user(n) for n in range(10)])
    pack_id = repo.index.blobs[ids[2]].pack_id
    (key,) = [k for k in store.list("index/") if pack_id in repo.index.files[k]]
    body = json.loads(repo.sealer.open(store.get(key), key))
    (segment,) = [s for p in body["packs"] if p["p"] == pack_id for s in p["s"] if ids[2] in s["ids"]]
    position = segment["ids"].index(ids[2]) // 32
    segment["raw"][position - 1] += 1  # blob 2 now starts a byte late and ends where it did
    segment["raw"][position] -= 1
    store.delete(key)
    store.put("index/" + "f" * 64, repo.sealer.seal(json.dumps(body).encode()))

    reopened = Repository.open(store, key=None)
    with pytest.raises(CorruptData, match=f"pack {pack_id} blob {ids[2]} failed its check"):
        reopened.read_blob(ids[2])
    assert reopened.read_blob(ids[3]) == blob(user(3))
    report = reopened.verify(read_data=True)
    assert f"pack {pack_id}: the index and the pack header disagree" in report.errors
    assert sum(f"blob {i} failed its check" in e for e in report.errors for i in ids[1:3]) == 2


def test_an_index_claiming_an_impossible_segment_is_one_clear_line(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    repo = Repository.init(store, key=None)
    backup(repo, [user(n) for n in range(10)])
    (key,) = store.list("index/")
    body = json.loads(repo.sealer.open(store.get(key), key))
    body["packs"][0]["s"][0]["raw"][0] = 1 << 33  # past what any segment may hold
    store.delete(key)
    store.put("index/" + "e" * 64, repo.sealer.seal(json.dumps(body).encode()))
    with pytest.raises(CorruptData, match=r"index file index/e{64} is malformed"):
        Repository.open(store, key=None)


def test_blobs_being_read_stay_where_they_were_found_when_the_index_is_reloaded(tmp_path: Path) -> None:
    repo = Repository.init(FileStore(tmp_path), key=None, segment_size=SMALL_SEGMENTS)
    objects = [user(n) for n in range(40)]
    _, ids = backup(repo, objects)
    reading = repo.read_blobs(ids)
    first = next(reading)
    repo.index = index_module.Index()  # a reload (prune, verify) that no longer lists these packs
    assert dict([first, *reading]) == {i: blob(o) for i, o in zip(ids, objects, strict=True)}


def test_verify_passes_on_a_good_repository_and_finds_a_missing_pack(store: Store) -> None:
    repo = Repository.init(store, key=None, pack_size=SMALL_PACKS, segment_size=SMALL_SEGMENTS)
    snapshot_id, ids = backup(repo, [user(n) for n in range(300)])
    full = repo.verify(read_data=True)
    assert full.ok and full.snapshots == 1 and full.blobs_referenced == 302
    assert full.blobs_read == 302
    assert full.packs_read == full.packs_indexed == len(pack_keys(store))
    half = repo.verify(read_data=0.5)
    assert half.ok and 0 < half.packs_read < full.packs_read

    store.delete(pack_key(repo.index.blobs[ids[0]].pack_id))
    broken = repo.verify()
    assert not broken.ok and any(snapshot_id in e and ids[0] in e for e in broken.errors)


def test_snapshots_list_load_by_prefix_and_delete(store: Store) -> None:
    repo = Repository.init(store, key=Passphrase("pw"))
    first, _ = backup(repo, [user(1)], n=1)
    second, _ = backup(repo, [user(2)], n=2)
    assert first != second and len(first) == 32
    assert {sid: rec["n"] for sid, rec in repo.list_snapshots()} == {first: 1, second: 2}
    assert repo.load_snapshot(second[:6])["n"] == 2
    with pytest.raises(UnknownSnapshot):
        repo.load_snapshot(first[:5])
    with pytest.raises(UnknownSnapshot):
        repo.load_snapshot("0" * 32 if not first.startswith("0" * 6) else "f" * 32)
    repo.delete_snapshot(first)
    assert [sid for sid, _ in repo.list_snapshots()] == [second]


def test_save_snapshot_refuses_roots_that_are_not_indexed_yet(store: Store) -> None:
    repo = Repository.init(store, key=None)
    writer = repo.writer()
    page = writer.add_blob(blob({"blobs": []}), kind="tree")
    with pytest.raises(RepositoryError, match="flush"):
        repo.save_snapshot({"roots": [page]})
    writer.flush()
    assert repo.load_snapshot(repo.save_snapshot({"roots": [page]}))["roots"] == [page]


def test_prune_keeps_what_is_referenced_and_deletes_the_rest(store: Store) -> None:
    repo = Repository.init(store, key=Passphrase("pw"), pack_size=SMALL_PACKS, segment_size=SMALL_SEGMENTS)
    old, old_ids = backup(repo, [user(n) for n in range(0, 200)])
    new, new_ids = backup(repo, [user(n) for n in range(150, 350)])  # shares users 150..199 with old
    packs_before = pack_keys(store)

    report = repo.prune({new})
    assert report.snapshots_deleted == [old]
    assert 0 < report.packs_deleted < len(packs_before)
    assert report.index_files_written >= 1 and report.index_files_deleted >= 1
    assert [sid for sid, _ in repo.list_snapshots()] == [new]
    assert [json.loads(repo.read_blob(i))["id"] for i in new_ids] == [user(n)["id"] for n in range(150, 350)]
    assert repo.verify(read_data=True).ok
    reopened = Repository.open(store, key=Passphrase("pw"))
    assert not reopened.has_blob(old_ids[0]) or reopened.index.blobs[old_ids[0]].pack_id in {
        reopened.index.blobs[i].pack_id for i in new_ids
    }
    assert reopened.prune({new}).packs_deleted == 0  # nothing left to remove


def test_prune_removes_unindexed_packs_only_after_the_margin(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    store = FileStore(tmp_path)
    repo = Repository.init(
        store, key=None, pack_size=SMALL_PACKS, segment_size=SMALL_SEGMENTS, clock=lambda: now
    )
    kept, _ = backup(repo, [user(n) for n in range(5)])
    crashed = repo.writer()  # a writer that dies after uploading packs, before its index
    for n in range(100, 400):
        crashed.add_blob(blob(user(n)))
    orphans = pack_keys(store) - {pack_key(p) for p in repo.index.packs}
    assert orphans

    assert repo.prune({kept}).packs_too_recent == len(orphans)
    assert orphans <= pack_keys(store)
    repo.clock = lambda: now + 3601
    assert repo.prune({kept}).packs_deleted == len(orphans)
    assert not orphans & pack_keys(store)
    assert repo.verify(read_data=True).ok


class PartlyLockedStore(FileStore):
    """A directory where chosen keys behave like S3 objects under retention."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.locked: set[str] = set()
        self.properties = type(self.properties)(True, True, str(root))

    def is_locked(self, key: str) -> bool:
        return key in self.locked

    def delete(self, key: str) -> None:
        if key in self.locked:
            raise Locked(f"{key} is locked")
        super().delete(key)


def test_prune_keeps_packs_a_locked_index_file_still_lists(tmp_path: Path) -> None:
    store = PartlyLockedStore(tmp_path)
    repo = Repository.init(store, key=None)
    old, old_ids = backup(repo, [user(n) for n in range(10)])
    old_index = set(store.list("index/"))
    new, _ = backup(repo, [user(n) for n in range(100, 110)])
    store.locked |= old_index

    report = repo.prune({new})
    assert report.snapshots_deleted == [old] and report.packs_deleted == 0
    assert repo.has_blob(old_ids[0])
    assert repo.read_blob(old_ids[0]) == blob(user(0))
    assert repo.verify(read_data=True).ok


def test_prune_never_deletes_compliance_locked_objects(s3: MotoS3) -> None:
    lock = Retention("compliance", 1)
    store = S3Store(s3.make_bucket(lock=True), "t1", endpoint_url=s3.endpoint_url, lock=lock)
    repo = Repository.init(store, key=Passphrase("pw"), lock=lock)
    old, old_ids = backup(repo, [user(n) for n in range(10)])
    new, _ = backup(repo, [user(n) for n in range(100, 110)])
    everything = set(store.list(""))
    assert all(store.is_locked(k) for k in everything)

    report = repo.prune({new})
    assert report.snapshots_locked == [old] and report.snapshots_deleted == []
    assert report.packs_deleted == 0
    assert set(store.list("")) == everything
    assert repo.read_blob(old_ids[0]) == blob(user(0))
    assert repo.verify(read_data=True).ok


def test_a_lock_needs_a_store_that_can_lock(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot lock objects"):
        Repository.init(FileStore(tmp_path), key=None, lock=Retention("governance", 7))


def test_long_writers_split_index_files_and_all_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "MAX_INDEX_ENTRIES", 25)
    monkeypatch.setattr(repository_module, "MAX_INDEX_ENTRIES", 25)
    store = FileStore(tmp_path)
    repo = Repository.init(store, key=Passphrase("pw"))
    _, ids = backup(repo, [user(n) for n in range(120)])
    assert all(len(entries) <= 25 for entries in repo.index.packs.values())  # the cap bounds packs too
    assert len(list(store.list("index/"))) > 2
    reopened = Repository.open(store, key=Passphrase("pw"))
    assert all(reopened.has_blob(i) for i in ids)
    assert reopened.verify(read_data=True).ok


def test_a_format_1_repository_is_refused_with_a_way_out(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    Repository.init(store, key=None)
    config = json.loads(store.get("config"))
    store.put("config", json.dumps({**config, "version": 1}).encode())
    with pytest.raises(RepositoryError, match="pre-release format"):
        Repository.open(store, key=None)
    assert (
        json.loads(Repository.init(FileStore(tmp_path / "new"), key=None).store.get("config"))["version"] == 3
    )
