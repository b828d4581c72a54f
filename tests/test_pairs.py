"""Which objects differ between two manifests: numbers compared as they are, ids named from the deltas."""

from __future__ import annotations

import uuid
from typing import Any

from core.diff.pairs import EntryPair, ManifestSource, differing
from core.registry import object_type
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter, TypeManifest
from core.snapshots.snapshot import parent_manifest
from tests.memory_repository import MemoryRepository

USER = object_type("user")


def guid(n: int) -> str:
    return str(uuid.UUID(int=(n * 2654435761) % (1 << 128)))


def user(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": guid(n), "displayName": f"User {n}", "userPrincipalName": f"u{n}@contoso.example", **extra}


class Chain:
    def __init__(self) -> None:
        self.repo = MemoryRepository()
        self.records: list[dict[str, Any]] = []

    def take(self, build: Any, numbers: ObjectNumbers | None = None) -> dict[str, Any]:
        parent = self.records[-1] if self.records else None
        if numbers is None:
            numbers = SnapshotReader(self.repo, parent).numbers if parent else ObjectNumbers()
        writer = SnapshotWriter(self.repo, self.repo, tenant_id="t1", parent=parent, numbers=numbers)
        writer.builder("user", incremental=parent is not None and numbers.known(guid(0)) is not None)
        build(writer)
        record = writer.finish(kind="incremental" if parent else "full", delta_tokens={}, extra={})
        self.records.append(self.repo.load_snapshot(self.repo.save_snapshot(record)))
        return self.records[-1]

    def manifest(self, record: dict[str, Any]) -> TypeManifest:
        return parent_manifest(record, "user") or TypeManifest()


def everyone(w: SnapshotWriter) -> None:
    for n in range(3000):
        w.put(USER, user(n))


def test_consecutive_snapshots_are_compared_by_number_and_named_from_their_deltas() -> None:
    chain = Chain()
    first = chain.take(everyone)

    def change(w: SnapshotWriter) -> None:
        for n in (3, 1500, 2999):
            w.put(USER, user(n, jobTitle="Changed"))
        w.put(USER, user(5000))
        w.delete(USER, guid(7))

    second = chain.take(change)
    reads: list[str] = []
    original = chain.repo.read_blob
    chain.repo.read_blob = lambda blob_id: reads.append(blob_id) or original(blob_id)  # type: ignore[method-assign]
    before, after = chain.manifest(first), chain.manifest(second)
    pairs = {p.id: p for p in differing(ManifestSource(chain.repo), before, after)}

    assert set(pairs) == {guid(3), guid(1500), guid(2999), guid(5000), guid(7)}
    assert pairs[guid(5000)].before is None and pairs[guid(5000)].name == "User 5000"
    assert pairs[guid(7)].after is None and pairs[guid(7)].name == "User 7"
    assert all(
        p.before and p.after and p.before != p.after for p in pairs.values() if p.id in {guid(3), guid(1500)}
    )
    ranges = [b for b in reads if chain.repo.blobs[b].startswith(b'{"guids"')]
    assert len(ranges) <= 2  # the table's growing tail, to check the numbering; no id is looked up in it


def test_lookups_by_id_and_id_filters_read_the_table() -> None:
    chain = Chain()
    first = chain.take(everyone)
    second = chain.take(lambda w: w.put(USER, user(42, displayName="Forty-two")))
    source = ManifestSource(chain.repo)
    found = source.lookup(chain.manifest(second), guid(42))
    assert found is not None and found["name"] == "Forty-two" and found["principal"] == "u42@contoso.example"
    assert source.lookup(chain.manifest(second), "no-such-id") is None
    picked = list(differing(source, chain.manifest(first), chain.manifest(second), ids=[guid(42), guid(43)]))
    assert [(p.id, p.name) for p in picked] == [(guid(42), "Forty-two")]
    assert isinstance(picked[0], EntryPair) and picked[0].before != picked[0].after


def test_snapshots_numbered_apart_are_compared_by_id() -> None:
    chain = Chain()
    first = chain.take(everyone)
    fresh = ObjectNumbers()
    for n in range(100_000, 100_050):  # other ids take the low numbers this time
        fresh.number(guid(n))

    def again(w: SnapshotWriter) -> None:
        for n in range(3000):
            w.put(USER, user(n) if n != 10 else user(n, displayName="Ten"))

    second = chain.take(again, numbers=fresh)
    pairs = list(differing(ManifestSource(chain.repo), chain.manifest(first), chain.manifest(second)))
    assert [(p.id, p.name) for p in pairs] == [(guid(10), "Ten")]
