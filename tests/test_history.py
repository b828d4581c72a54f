"""Object history across snapshots, and snapshot references: ids, 'latest', times, '2h ago'."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.catalog import Catalog, SnapshotRow
from core.diff import AmbiguousObject, FieldChange, ObjectNotFound, history
from core.maintenance import rebuild_catalog
from core.registry import object_type
from core.repository import Repository
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter
from core.store import FileStore
from core.timeref import TimeRefError, parse_time, resolve, split_references

TENANT = "t1"
USER = object_type("user")
GROUP = object_type("group")
ALICE, BOB, SAM_1, SAM_2 = "u-alice", "u-bob", "u-sam-1", "u-sam-2"

Build = Callable[[SnapshotWriter], None]


def person(oid: str, name: str, upn: str, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "displayName": name, "userPrincipalName": upn, "department": "Sales", **extra}


class Chain:
    """Snapshots in a real repository on disk, indexed by the catalog the way a rebuild indexes them."""

    def __init__(self, tmp: Path) -> None:
        self.repo = Repository.init(FileStore(tmp / "store"), key=None)
        self.catalog = Catalog(f"sqlite:///{tmp / 'catalog.db'}")
        self.ids: list[str] = []
        self._parent: dict[str, Any] | None = None

    def take(self, build: Build, removed: dict[str, dict[str, str]] | None = None) -> str:
        numbers = SnapshotReader(self.repo, self._parent).numbers if self._parent else ObjectNumbers()
        with self.repo.writer() as writer:
            snap = SnapshotWriter(self.repo, writer, tenant_id=TENANT, parent=self._parent, numbers=numbers)
            build(snap)
            writer.flush()
            kind = "incremental" if self._parent else "full"
            record = snap.finish(kind=kind, delta_tokens={}, extra={"removed": removed or {}})
        snapshot_id = self.repo.save_snapshot(record)
        self._parent = {**self.repo.load_snapshot(snapshot_id), "id": snapshot_id}
        self.ids.append(snapshot_id)
        rebuild_catalog(self.repo, self.catalog, TENANT)
        return snapshot_id


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = Chain(tmp_path)
    try:
        yield c
    finally:
        c.catalog.close()


def build_story(c: Chain) -> None:
    def first(w: SnapshotWriter) -> None:
        w.builder("user", incremental=False)
        w.builder("group", incremental=False)
        w.put(USER, person(ALICE, "Alice Martin", "alice@contoso.example"))
        w.put(USER, person(BOB, "Bob Stone", "bob@contoso.example"))
        w.put(USER, person(SAM_1, "Sam Lee", "sam.lee@contoso.example"))
        w.put(GROUP, {"id": "g-1", "displayName": "Sam Lee"}, {"members": [ALICE]})

    def promoted(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)
        w.put(
            USER,
            person(ALICE, "Alice Martin", "alice@contoso.example", department="Finance"),
            {"manager": BOB},
        )
        w.put(USER, person(SAM_2, "Sam Lee", "slee@contoso.example"))

    def unchanged(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)

    def deleted(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True).delete(ALICE)

    def recreated(w: SnapshotWriter) -> None:
        w.builder("user", incremental=True)
        w.put(USER, person(ALICE, "Alice Martin", "alice@contoso.example", department="Legal"))

    c.take(first)
    c.take(promoted)
    c.take(unchanged)
    c.take(deleted, removed={"user": {ALICE: "changed"}})
    c.take(recreated)


def test_history_lists_versions_changes_and_removals(chain: Chain) -> None:
    build_story(chain)
    s1, s2, s3, s4, s5 = chain.ids
    entries = history(chain.catalog, chain.repo, TENANT, "alice@contoso.example")
    assert [(e.event, e.snapshot_id) for e in entries] == [
        ("existing", s1),
        ("modified", s2),
        ("removed", s4),
        ("added", s5),
    ]
    existing, modified, removed, added = entries
    assert existing.until_snapshot_id == s1 and not existing.current
    assert modified.fields == (FieldChange("department", "Sales", "Finance"),)
    assert [(c.relationship, c.added, c.removed, c.names) for c in modified.links] == [
        ("manager", (BOB,), (), {BOB: "Bob Stone"})
    ]
    assert modified.until_snapshot_id == s3  # unchanged through the third snapshot
    assert removed.removed_reason == "soft_deleted" and removed.display_name == "Alice Martin"
    assert added.current and added.fields == (FieldChange("department", "Finance", "Legal"),)
    assert [(c.relationship, c.removed) for c in added.links] == [("manager", (BOB,))]
    assert added.to_json()["fields"] == [{"path": "department", "old": "Finance", "new": "Legal"}]
    assert removed.to_json()["removed_reason"] == "soft_deleted"
    # the same object by id and by display name, case-insensitively
    assert history(chain.catalog, chain.repo, TENANT, ALICE) == entries
    assert history(chain.catalog, chain.repo, TENANT, "  alice MARTIN ") == entries


def test_ambiguous_names_are_listed_never_guessed(chain: Chain) -> None:
    build_story(chain)
    with pytest.raises(AmbiguousObject) as caught:
        history(chain.catalog, chain.repo, TENANT, "Sam Lee")
    message = str(caught.value)
    assert "\n" not in message
    for candidate in (f"user {SAM_1}", f"user {SAM_2}", "group g-1"):
        assert candidate in message
    assert {(r.object_type, r.object_id) for r in caught.value.candidates} == {
        ("user", SAM_1),
        ("user", SAM_2),
        ("group", "g-1"),
    }
    only_group = history(chain.catalog, chain.repo, TENANT, "Sam Lee", type_name="groups")
    assert [(e.type, e.id, e.event) for e in only_group] == [("group", "g-1", "existing")]
    by_upn = history(chain.catalog, chain.repo, TENANT, "slee@contoso.example")
    assert [(e.id, e.event, e.snapshot_id) for e in by_upn] == [(SAM_2, "added", chain.ids[1])]


def test_unknown_objects_name_what_was_searched_and_near_misses(chain: Chain) -> None:
    build_story(chain)
    with pytest.raises(ObjectNotFound) as caught:
        history(chain.catalog, chain.repo, TENANT, "Bo")
    assert "'Bo'" in str(caught.value) and f"user {BOB} (Bob Stone" in str(caught.value)
    with pytest.raises(ObjectNotFound):
        history(chain.catalog, chain.repo, TENANT, "nobody@contoso.example")


# --- snapshot references ---------------------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def dated(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(f"sqlite:///{tmp_path / 'refs.db'}")
    for snapshot_id, hours_ago in (("aaaa1111", 50), ("bbbb2222", 26), ("cccc3333", 3), ("cccc4444", 1)):
        row = SnapshotRow(TENANT, snapshot_id, NOW - timedelta(hours=hours_ago), "incremental", None)
        catalog.add_snapshot(row)
    try:
        yield catalog
    finally:
        catalog.close()


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("latest", "cccc4444"),
        ("aaaa1111", "aaaa1111"),
        ("bbbb", "bbbb2222"),
        ("2h ago", "cccc3333"),
        ("2 hours ago", "cccc3333"),
        ("30m ago", "cccc4444"),
        ("90 min ago", "cccc3333"),
        ("1d ago", "bbbb2222"),
        ("yesterday", "bbbb2222"),
        ("2026-11-27T10:30:00Z", "cccc3333"),
        ("2026-11-27T11:30:00+01:00", "cccc3333"),
        ("2026-11-27", "bbbb2222"),
        ("3 days ago", None),
    ],
)
def test_references_resolve_to_the_newest_snapshot_at_or_before(
    dated: Catalog, ref: str, expected: str | None
) -> None:
    if expected is not None:
        assert resolve(dated, TENANT, ref, NOW).snapshot_id == expected
        return
    with pytest.raises(TimeRefError) as caught:
        resolve(dated, TENANT, ref, NOW)
    message = str(caught.value)
    assert "\n" not in message and "oldest is aaaa1111" in message


def test_bad_references_are_one_clear_line(dated: Catalog) -> None:
    for ref, words in (
        ("3 fortnights ago", "unknown time unit"),
        ("2026-13-45", "cannot read"),
        ("cccc", "ambiguous"),
    ):
        with pytest.raises(Exception) as caught:
            resolve(dated, TENANT, ref, NOW)
        assert words in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(TimeRefError, match="only `rewind diff`"):
        resolve(dated, TENANT, "live", NOW)
    assert parse_time("a1b2c3d4", NOW) is None  # a snapshot id, not a time
    assert split_references(["2h", "ago", "latest"]) == ["2h ago", "latest"]
    assert split_references(["2 hours ago", "live"]) == ["2 hours ago", "live"]
    assert split_references(["yesterday", "3", "days", "ago"]) == ["yesterday", "3 days ago"]
