"""The snapshot layer: complete reads of every snapshot, page reuse, compact relationship lists."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from core.registry import object_type
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter, load_json
from core.snapshots.manifest import PageCache, bits_for
from core.snapshots.numbers import MalformedNumbers, decode_range, differences
from core.snapshots.snapshot import SnapshotFormatError
from tests.memory_repository import MemoryRepository

USER = object_type("user")
GROUP = object_type("group")


def guid(n: int) -> str:
    return str(uuid.UUID(int=(n * 2654435761) % (1 << 128)))


def user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": guid(n),
        "displayName": f"User {n}",
        "userPrincipalName": f"user{n}@contoso.example",
        "accountEnabled": True,
        "onPremisesLastSyncDateTime": f"2026-11-01T00:{n % 60:02d}:00Z",
        **extra,
    }


def take(repo: MemoryRepository, parent: dict[str, Any] | None, kind: str, build: Any) -> dict[str, Any]:
    numbers = ObjectNumbers()
    if parent:
        numbers = SnapshotReader(repo, parent).numbers
    writer = SnapshotWriter(repo, repo, tenant_id="t1", parent=parent, numbers=numbers)
    build(writer)
    record = writer.finish(kind=kind, delta_tokens={}, extra={})
    return repo.load_snapshot(repo.save_snapshot(record))


def users(count: int) -> Callable[[SnapshotWriter], None]:
    """A full round of ``count`` users."""

    def build(w: SnapshotWriter) -> None:
        w.builder("user", incremental=False)
        for n in range(count):
            w.put(USER, user(n))

    return build


def test_full_snapshot_round_trips_objects_links_and_volatile() -> None:
    repo = MemoryRepository()
    members = [guid(n) for n in range(3000)]

    def build(w: SnapshotWriter) -> None:
        w.builder("user", incremental=False)
        w.builder("group", incremental=False)
        for n in range(3000):
            w.put(USER, user(n), {"manager": guid(0) if n else None})
        w.put(GROUP, {"id": "g-all", "displayName": "All Staff"}, {"members": members, "owners": [guid(1)]})

    snap = SnapshotReader(repo, take(repo, None, "full", build))
    assert snap.record["counts"] == {"group": 1, "user": 3000}
    stored = snap.get("user", guid(42))
    assert stored is not None
    assert stored.object["userPrincipalName"] == "user42@contoso.example"
    assert "onPremisesLastSyncDateTime" not in stored.object  # volatile kept apart
    assert stored.full()["onPremisesLastSyncDateTime"] == "2026-11-01T00:42:00Z"
    assert stored.links == {"manager": guid(0)}
    group = snap.get("group", "g-all")
    assert group is not None
    assert sorted(group.links["members"] or []) == sorted(members)  # chunked: more than INLINE_LINKS
    assert group.links["owners"] == [guid(1)]
    assert len(list(snap.entries("user"))) == 3000
    assert snap.manifest("user").bits == bits_for(3000)


def test_incremental_rewrites_only_touched_pages_and_reads_complete() -> None:
    repo = MemoryRepository()

    full = users(5000)

    first = take(repo, None, "full", full)
    written_after_full = repo.written

    def incremental(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)
        w.put(USER, user(7, displayName="Renamed Seven"))
        w.delete(USER, guid(8))
        w.put(USER, user(9000))

    second = take(repo, first, "incremental", incremental)
    old_pages, new_pages = first["types"]["user"]["pages"], second["types"]["user"]["pages"]
    assert len(old_pages) == len(new_pages) > 4
    assert sum(a != b for a, b in zip(old_pages, new_pages, strict=True)) <= 3
    # three ~300-entry pages, the number table tail and a record: a fraction of the full snapshot
    assert repo.written - written_after_full < written_after_full / 5

    snap = SnapshotReader(repo, second)
    assert snap.record["counts"]["user"] == 5000  # +1 -1
    renamed = snap.get("user", guid(7))
    assert renamed is not None and renamed.object["displayName"] == "Renamed Seven"
    assert snap.get("user", guid(8)) is None
    assert snap.get("user", guid(9000)) is not None
    old = SnapshotReader(repo, first)  # the earlier snapshot is untouched
    assert old.get("user", guid(8)) is not None
    assert (old.get("user", guid(7)) or renamed).object["displayName"] == "User 7"


def test_identical_objects_deduplicate_and_one_member_change_rewrites_one_chunk() -> None:
    repo = MemoryRepository()
    members = [guid(n) for n in range(10_000)]

    def full(w: SnapshotWriter) -> None:
        w.builder("group", incremental=False)
        w.put(GROUP, {"id": "g-all", "displayName": "All Staff"}, {"members": members})

    first = take(repo, None, "full", full)
    before = repo.written

    def add_one(w: SnapshotWriter) -> None:
        w.builder("group", incremental=True)
        w.put(GROUP, {"id": "g-all", "displayName": "All Staff"}, {"members": [*members, guid(10_001)]})

    take(repo, first, "incremental", add_one)
    growth = repo.written - before
    assert growth < 60_000, growth  # one chunk, the record, one page and the numbers tail; not 10,000 ids


def test_numbers_are_stable_and_saved_in_ranges() -> None:
    repo = MemoryRepository()
    numbers = ObjectNumbers()
    assert numbers.numbers(["b", "a", "b"]) == [0, 1]
    chunks = numbers.save(repo)
    again = ObjectNumbers.load(repo, chunks)
    assert again.number("a") == 1 and again.number("c") == 2
    assert again.ids([0, 1, 2]) == ["b", "a", "c"]


def test_incremental_changes_go_to_an_overlay_until_it_is_rebased() -> None:
    repo = MemoryRepository()

    full = users(4000)

    snap = take(repo, None, "full", full)
    base_pages = snap["types"]["user"]["pages"]
    for round_ in range(3):

        def small(w: SnapshotWriter, r: int = round_) -> None:
            w.builder("user", incremental=True)
            w.put(USER, user(r, displayName=f"round {r}"))

        snap = take(repo, snap, "incremental", small)
        assert snap["types"]["user"]["pages"] == base_pages  # base untouched
        assert len(snap["types"]["user"]["overlay"]) == round_ + 1
    reader = SnapshotReader(repo, snap)
    assert [
        (reader.get("user", guid(r)) or reader.get("user", guid(0))).object["displayName"] for r in range(3)
    ] == [
        "round 0",
        "round 1",
        "round 2",
    ]
    assert len(list(reader.entries("user"))) == 4000

    def large(w: SnapshotWriter) -> None:  # past the threshold: pages are rewritten and the overlay emptied
        w.builder("user", incremental=True)
        for n in range(2100):
            w.put(USER, user(n, displayName=f"bulk {n}"))
        w.delete(USER, guid(3999))

    snap = take(repo, snap, "incremental", large)
    assert "overlay" not in snap["types"]["user"]
    assert snap["types"]["user"]["pages"] != base_pages
    reader = SnapshotReader(repo, snap)
    assert snap["counts"]["user"] == 3999 == len(list(reader.entries("user")))
    bulk = reader.get("user", guid(2))
    assert bulk is not None and bulk.object["displayName"] == "bulk 2"
    assert reader.get("user", guid(3999)) is None
    untouched = reader.get("user", guid(3000))
    assert untouched is not None and untouched.object["displayName"] == "User 3000"


def test_pages_are_columns_keyed_by_number_and_records_carry_no_type_or_id() -> None:
    repo = MemoryRepository()

    build = users(2000)

    record = take(repo, None, "full", build)
    pages = [load_json(repo.blobs[p]) for p in record["types"]["user"]["pages"]]
    assert sum(len(p["numbers"]) for p in pages) == 2000
    assert all(set(p) == {"blobs", "name", "numbers", "principal", "volatile"} for p in pages)
    # the ids are in the number table only: a GUID costs ~20 bytes wherever it is stored
    assert not any(
        guid(n).encode() in repo.blobs[p] for p in record["types"]["user"]["pages"] for n in range(2000)
    )
    steps = pages[0]["numbers"][1:]
    assert steps and all(0 < s < 2000 for s in steps)  # differences, not the numbers themselves
    first = load_json(repo.blobs[pages[0]["blobs"][0]])
    assert set(first) == {"object", "links"}
    snap = SnapshotReader(repo, record)
    entry = snap.entry("user", guid(1234))
    assert entry is not None and entry.name == "User 1234" and entry.principal == "user1234@contoso.example"
    assert entry.volatile == {"onPremisesLastSyncDateTime": "2026-11-01T00:34:00Z"}
    assert snap.entry("user", guid(99_999)) is None


def test_overlay_deltas_name_the_ids_they_change_and_delete() -> None:
    repo = MemoryRepository()

    full = users(3000)

    def change(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)
        w.put(USER, user(5, displayName="Five"))
        w.put(USER, user(7000))
        w.delete(USER, guid(6))
        w.delete(USER, "never-seen")  # nothing to delete: no change at all

    second = take(repo, take(repo, None, "full", full), "incremental", change)
    (delta_id,) = second["types"]["user"]["overlay"]
    delta = load_json(repo.blobs[delta_id])
    assert sorted(delta["ids"]) == sorted([guid(5), guid(7000), guid(6)])
    assert len(delta["numbers"]) == 2 and len(delta["deleted"]) == 1
    assert second["counts"]["user"] == 3000
    assert SnapshotReader(repo, second).numbers.known("never-seen") is None


def test_relationship_lists_are_stored_as_differences() -> None:
    repo = MemoryRepository()
    members = [guid(n) for n in range(3000)]

    def build(w: SnapshotWriter) -> None:
        w.builder("user", incremental=False)
        w.builder("group", incremental=False)
        for n in range(3000):
            w.put(USER, user(n))
        w.put(GROUP, {"id": "g-small", "displayName": "Small"}, {"members": [guid(9), guid(2), guid(30)]})
        w.put(GROUP, {"id": "g-all", "displayName": "All"}, {"members": members})

    snap = SnapshotReader(repo, take(repo, None, "full", build))
    small = snap.entry("group", "g-small")
    assert small is not None
    numbers = snap.numbers.numbers([guid(9), guid(2), guid(30)])
    assert load_json(repo.blobs[small.blob])["links"]["members"] == differences(numbers)
    everyone = snap.get("group", "g-all")
    assert everyone is not None and sorted(everyone.links["members"] or []) == sorted(members)
    entry = snap.entry("group", "g-all")
    assert entry is not None and entry.chunks
    for chunk in entry.chunks:
        steps = load_json(repo.blobs[chunk])["numbers"]
        assert all(s == 1 for s in steps[1:])  # consecutive members: every step is one


def test_the_number_table_packs_guids_and_keeps_every_other_id_as_it_is() -> None:
    repo = MemoryRepository()
    ids = [guid(1), "contoso.example", "authorizationPolicy", guid(2).upper(), guid(3), "Xj2-q_0AbC"]
    numbers = ObjectNumbers()
    numbers.numbers(ids)
    (chunk,) = numbers.save(repo)
    assert ObjectNumbers.load(repo, [chunk]).ids(list(range(len(ids)))) == ids
    assert guid(1).encode() not in repo.blobs[chunk]  # 16 bytes in base64, not 36 characters of text
    assert guid(2).upper().encode() in repo.blobs[chunk]  # not canonical: kept as written
    malformed = [
        b'{"guids":"","ids":[null],"start":0}',  # a place for a GUID that is not there
        b'{"guids":"' + base64.b64encode(bytes(20)) + b'","ids":[null,null],"start":0}',  # not 16 each
        b'{"ids":[],"start":0}',
        b"not json",
    ]
    for data in malformed:
        with pytest.raises(MalformedNumbers, match="object number table is malformed: run `rewind verify"):
            decode_range(data)


def test_a_snapshot_in_another_format_is_refused_with_a_way_out() -> None:
    repo = MemoryRepository()
    record = take(repo, None, "full", users(3))
    assert SnapshotReader(repo, record).get("user", guid(1)) is not None
    with pytest.raises(SnapshotFormatError, match=r"format 1, a pre-release format .* new repository"):
        SnapshotReader(repo, {**record, "format": 1})
    with pytest.raises(SnapshotFormatError, match="newer than this Rewind reads: upgrade it"):
        SnapshotReader(repo, {**record, "format": 99})


def test_drain_hands_over_every_entry_once() -> None:
    repo = MemoryRepository()
    writer = SnapshotWriter(repo, repo, tenant_id="t1", parent=None, numbers=ObjectNumbers())
    writer.builder("user", incremental=False)
    writer.builder("group", incremental=False)
    for n in range(10):
        writer.put(USER, user(n))
    writer.put(GROUP, {"id": "g-1", "displayName": "G"}, {"members": [guid(1)]})
    writer.finish(kind="full", delta_tokens={}, extra={})
    drained = sorted((name, e.id) for name, e in writer.drain())
    assert drained == sorted([("group", "g-1"), *(("user", guid(n)) for n in range(10))])
    assert list(writer.drain()) == []


def test_kept_pages_outlive_the_bounded_cache_and_empty_pages_are_cached_too() -> None:
    repo = MemoryRepository()
    reads: list[str] = []
    read_blob = repo.read_blob

    def counting(blob_id: str) -> bytes:
        reads.append(blob_id)
        return read_blob(blob_id)

    repo.read_blob = counting  # type: ignore[method-assign]
    empty = repo.add_blob(b'{"blobs":[]}', kind="tree")
    delta = repo.add_blob(b'{"blobs":["b1"],"deleted":[],"ids":["x"],"numbers":[5]}', kind="tree")
    others = [repo.add_blob(b'{"blobs":[],"numbers":[]}' + b" " * n, kind="tree") for n in range(1, 4)]
    pages = PageCache(repo, size=2)
    assert pages.keep(delta).numbers == [5]
    for page_id in [empty, empty, *others, *others]:
        pages.get(page_id)
    assert pages.get(delta) is pages.keep(delta)  # never evicted, however many pages pass through
    assert reads.count(delta) == 1 and reads.count(empty) == 1
