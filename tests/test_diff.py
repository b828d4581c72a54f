"""The diff engine on hand-built snapshots: what it reports, and that it reads only what differs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from core.diff import Change, FieldChange, diff, field_changes, merge_removed
from core.registry import object_type
from core.snapshots import ObjectNumbers, SnapshotReader, SnapshotWriter
from tests.memory_repository import MemoryRepository

USER = object_type("user")
GROUP = object_type("group")
APP = object_type("application")
CA = object_type("conditionalAccessPolicy")
GRANT = object_type("oauth2PermissionGrant")

Build = Callable[[SnapshotWriter], None]


def guid(n: int) -> str:
    return str(uuid.UUID(int=(n * 2654435761) % (1 << 128)))


def user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": guid(n),
        "displayName": f"User {n}",
        "userPrincipalName": f"user{n}@contoso.example",
        "accountEnabled": True,
        "department": "Sales",
        "signInActivity": {"lastSignInDateTime": f"2026-11-01T00:{n % 60:02d}:00Z"},
        **extra,
    }


def policy(state: str = "enabled", exclude: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": "ca-1",
        "displayName": "Require MFA for admins",
        "state": state,
        "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": exclude or []}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


class Snapshots:
    """A memory repository and a chain of snapshots written the way backups write them."""

    def __init__(self) -> None:
        self.repo = MemoryRepository()
        self.records: list[dict[str, Any]] = []

    def take(
        self,
        build: Build,
        *,
        removed: dict[str, dict[str, str]] | None = None,
        numbers: ObjectNumbers | None = None,
    ) -> SnapshotReader:
        parent = self.records[-1] if self.records else None
        if numbers is None:
            numbers = SnapshotReader(self.repo, parent).numbers if parent else ObjectNumbers()
        writer = SnapshotWriter(self.repo, self.repo, tenant_id="t1", parent=parent, numbers=numbers)
        build(writer)
        kind = "incremental" if parent else "full"
        record = writer.finish(kind=kind, delta_tokens={}, extra={"removed": removed or {}})
        self.records.append(self.repo.load_snapshot(self.repo.save_snapshot(record)))
        return SnapshotReader(self.repo, self.records[-1])


def builders(w: SnapshotWriter, incremental: bool, *types: str) -> None:
    for name in types:
        w.builder(name, incremental=incremental)


def base_tenant(users: int = 50) -> Build:
    def build(w: SnapshotWriter) -> None:
        builders(w, False, "user", "group", "application", "conditionalAccessPolicy", "oauth2PermissionGrant")
        for n in range(users):
            w.put(USER, user(n), {"manager": guid(0) if n else None})
        w.put(
            GROUP,
            {"id": "g-1", "displayName": "Finance"},
            {"members": [guid(1), guid(2)], "owners": [guid(0)]},
        )
        w.put(APP, app([("k1", "old secret")]))
        w.put(CA, policy())
        w.put(
            GRANT, {"id": "grant-1", "clientId": "sp-1", "consentType": "AllPrincipals", "scope": "User.Read"}
        )

    return build


def put_user(w: SnapshotWriter, n: int, **extra: Any) -> None:
    """A user of ``base_tenant`` whose manager stays as it was."""
    w.put(USER, user(n, **extra), {"manager": guid(0) if n else None})


def app(secrets: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "app-1",
        "appId": "11111111-1111-1111-1111-111111111111",
        "displayName": "Payroll",
        "passwordCredentials": [
            {"keyId": key, "displayName": name, "endDateTime": "2027-01-01T00:00:00Z"}
            for key, name in secrets
        ],
        "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000"}],
        **extra,
    }


def by_key(changes: list[Change]) -> dict[tuple[str, str, str | None], Change]:
    return {(c.type, c.id, c.link.relationship if c.link else None): c for c in changes}


def test_added_removed_and_modified_with_nested_paths_and_objects() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def incident(w: SnapshotWriter) -> None:
        builders(w, True, "user")
        builders(w, False, "conditionalAccessPolicy")
        put_user(w, 3, department="Incident Response", signInActivity={"lastSignInDateTime": "now"})
        put_user(w, 4, signInActivity={"lastSignInDateTime": "changed only volatile"})
        w.delete(USER, guid(5))
        w.put(USER, user(900), {"manager": guid(0)})
        w.put(CA, policy("disabled", exclude=[guid(7)]))

    second = s.take(incident)
    changes = list(diff(first, second))
    found = by_key(changes)
    assert set(found) == {
        ("user", guid(3), None),
        ("user", guid(5), None),
        ("user", guid(900), None),
        ("conditionalAccessPolicy", "ca-1", None),
    }  # user 4 changed only a volatile property: not a change
    modified = found[("user", guid(3), None)]
    assert modified.change == "modified" and modified.display_name == "User 3"
    assert modified.fields == (FieldChange("department", "Sales", "Incident Response"),)
    assert modified.before is not None and modified.before["department"] == "Sales"
    assert modified.after is not None and modified.after["department"] == "Incident Response"
    assert "signInActivity" not in modified.after
    removed = found[("user", guid(5), None)]
    assert removed.change == "removed" and removed.before and removed.before["id"] == guid(5)
    assert removed.after is None and removed.display_name == "User 5"
    added = found[("user", guid(900), None)]
    assert (
        added.change == "added"
        and added.after
        and added.after["userPrincipalName"] == "user900@contoso.example"
    )
    ca = found[("conditionalAccessPolicy", "ca-1", None)]
    assert ca.fields == (
        FieldChange("conditions.users.excludeUsers", [], [guid(7)]),
        FieldChange("state", "enabled", "disabled"),
    )
    json_shape = ca.to_json()
    assert json_shape["fields"][1] == {"path": "state", "old": "enabled", "new": "disabled"}
    assert json_shape["change"] == "modified" and json_shape["display_name"] == "Require MFA for admins"
    assert list(diff(second, second)) == []
    assert list(diff(first, first)) == []


def test_lists_of_objects_are_matched_by_key_others_compared_whole() -> None:
    changes = field_changes(
        app([("k1", "old secret"), ("k2", "rotated")]),
        app([("k2", "rotated v2"), ("k3", "backdoor")], tags=["a"]),
    )
    k1 = {"keyId": "k1", "displayName": "old secret", "endDateTime": "2027-01-01T00:00:00Z"}
    k3 = {"keyId": "k3", "displayName": "backdoor", "endDateTime": "2027-01-01T00:00:00Z"}
    assert changes == [
        FieldChange("passwordCredentials[k1]", k1, None),
        FieldChange("passwordCredentials[k2].displayName", "rotated", "rotated v2"),
        FieldChange("passwordCredentials[k3]", None, k3),
        FieldChange("tags", None, ["a"]),
    ]
    # plain lists are one value; lists of objects without a distinct id too
    assert field_changes({"x": [1, 2]}, {"x": [2, 1, 3]}) == [FieldChange("x", [1, 2], [2, 1, 3])]
    dupes = [{"id": "a", "v": 1}, {"id": "a", "v": 2}]
    assert field_changes({"x": dupes}, {"x": dupes[:1]}) == [FieldChange("x", dupes, dupes[:1])]
    assert field_changes({"x": []}, {"x": [{"id": "a"}]}) == [FieldChange("x[a]", None, {"id": "a"})]


def test_credentials_added_to_an_application_through_snapshots() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def add_secret(w: SnapshotWriter) -> None:
        builders(w, True, "application")
        w.put(APP, app([("k1", "old secret"), ("k9", "added by attacker")]))

    (change,) = diff(first, s.take(add_secret))
    assert change.type == "application" and change.display_name == "Payroll"
    assert [f.path for f in change.fields] == ["passwordCredentials[k9]"]
    assert change.fields[0].old is None and change.fields[0].new["displayName"] == "added by attacker"


def test_relationship_changes_are_entries_of_their_own_with_names() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def members(w: SnapshotWriter) -> None:
        builders(w, True, "group", "user")
        w.put(
            GROUP,
            {"id": "g-1", "displayName": "Finance"},
            {"members": [guid(2), guid(3), guid(901)], "owners": [guid(0)]},
        )
        w.put(USER, user(901))  # a new user, named by the newer snapshot

    changes = list(diff(first, s.take(members)))
    found = by_key(changes)
    link = found[("group", "g-1", "members")]
    assert link.change == "modified" and link.fields == () and link.display_name == "Finance"
    assert link.link is not None
    assert link.link.added == tuple(sorted([guid(3), guid(901)])) and link.link.removed == (guid(1),)
    assert link.link.names == {guid(1): "User 1", guid(3): "User 3", guid(901): "User 901"}
    assert link.before == link.after == {"id": "g-1", "displayName": "Finance"}
    assert ("group", "g-1", None) not in found  # the group's own properties did not change
    assert link.to_json()["relationship"] == {
        "name": "members",
        "added": sorted([guid(3), guid(901)]),
        "removed": [guid(1)],
        "names": {guid(1): "User 1", guid(3): "User 3", guid(901): "User 901"},
    }


def test_manager_is_a_single_id_old_and_new() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def new_manager(w: SnapshotWriter) -> None:
        builders(w, True, "user")
        w.put(USER, user(8), {"manager": guid(9)})
        w.put(USER, user(9), {"manager": None})

    found = by_key(list(diff(first, s.take(new_manager))))
    moved = found[("user", guid(8), "manager")]
    assert moved.link is not None
    assert moved.link.added == (guid(9),) and moved.link.removed == (guid(0),)
    assert moved.fields == (FieldChange("manager", guid(0), guid(9)),)
    assert moved.link.names == {guid(0): "User 0", guid(9): "User 9"}
    cleared = found[("user", guid(9), "manager")]
    assert cleared.fields == (FieldChange("manager", guid(0), None),) and cleared.link
    assert cleared.link.added == () and cleared.link.removed == (guid(0),)


def test_long_membership_lists_read_only_the_chunk_that_changed() -> None:
    s = Snapshots()
    members = [guid(n) for n in range(10_000)]

    def full(w: SnapshotWriter) -> None:
        builders(w, False, "group", "user")
        for n in range(10_000):
            w.put(USER, {"id": guid(n), "displayName": f"U{n}"})
        w.put(GROUP, {"id": "g-all", "displayName": "All staff"}, {"members": members})

    first = s.take(full)

    def one_less(w: SnapshotWriter) -> None:
        builders(w, True, "group")
        w.put(
            GROUP, {"id": "g-all", "displayName": "All staff"}, {"members": members[:4000] + members[4001:]}
        )

    second = s.take(one_less)
    reads = count_reads(s.repo)
    (change,) = diff(first, second)
    assert change.link is not None and change.link.removed == (guid(4000),) and change.link.added == ()
    assert change.link.names == {guid(4000): "U4000"}
    chunk_reads = [b for b in reads if s.repo.blobs[b].startswith(b'{"numbers"')]
    assert len(chunk_reads) == 2  # the one range that differs, on each side; not all three ranges twice


def test_removed_reasons_from_the_records_else_the_registry() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def deletions(w: SnapshotWriter) -> None:
        builders(w, True, "user")
        builders(w, False, "conditionalAccessPolicy", "oauth2PermissionGrant")
        w.delete(USER, guid(10))
        w.delete(USER, guid(11))
        w.delete(USER, guid(12))

    second = s.take(deletions, removed={"user": {guid(10): "changed", guid(11): "deleted"}})
    reasons = {c.id: c.removed_reason for c in diff(first, second)}
    assert reasons == {
        guid(10): "soft_deleted",  # in the recycle bin
        guid(11): "hard_deleted",
        guid(12): "soft_deleted",  # nobody said: users have a recycle bin
        "ca-1": "soft_deleted",  # Conditional Access keeps deleted policies (beta deletedItems)
        "grant-1": "hard_deleted",  # grants have no recycle bin
    }

    def purge(w: SnapshotWriter) -> None:
        builders(w, True, "user")

    third = s.take(purge, removed={"user": {guid(10): "deleted"}})
    merged = merge_removed(s.records[1:])
    assert merged["user"][guid(10)] == "deleted"  # the later purge wins
    across = {c.id: c.removed_reason for c in diff(first, third, removed_reasons=merged)}
    assert across[guid(10)] == "hard_deleted" and across[guid(11)] == "hard_deleted"


def test_type_and_id_filters() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def changes(w: SnapshotWriter) -> None:
        builders(w, True, "user", "group")
        builders(w, False, "conditionalAccessPolicy")
        put_user(w, 1, jobTitle="CFO")
        put_user(w, 2, jobTitle="CEO")
        w.put(GROUP, {"id": "g-1", "displayName": "Finance 2"}, {"members": [guid(1)], "owners": [guid(0)]})
        w.put(CA, policy("disabled"))

    second = s.take(changes)
    assert {c.type for c in diff(first, second, types=["users"])} == {"user"}
    assert {(c.type, c.id) for c in diff(first, second, types=["conditionalAccessPolicy", "group"])} == {
        ("conditionalAccessPolicy", "ca-1"),
        ("group", "g-1"),
    }
    assert [(c.type, c.id) for c in diff(first, second, ids=[guid(2)])] == [("user", guid(2))]
    picked = list(diff(first, second, types=["group"], ids=["g-1", guid(2)]))
    assert {(c.id, c.link.relationship if c.link else None) for c in picked} == {
        ("g-1", None),
        ("g-1", "members"),
    }
    assert list(diff(first, second, ids=["no-such-id"])) == []


def count_reads(repo: MemoryRepository) -> list[str]:
    reads: list[str] = []
    original = repo.read_blob

    def counting(blob_id: str) -> bytes:
        reads.append(blob_id)
        return original(blob_id)

    repo.read_blob = counting  # type: ignore[method-assign]
    return reads


def tenant_of(users: int) -> Build:
    def build(w: SnapshotWriter) -> None:
        builders(w, False, "user")
        for n in range(users):
            w.put(USER, user(n))

    return build


def change_users(numbers: range | list[int]) -> Build:
    def build(w: SnapshotWriter) -> None:
        builders(w, True, "user")
        for n in numbers:
            w.put(USER, user(n, department=f"Changed {n}"))

    return build


def test_unchanged_pages_and_objects_are_never_read() -> None:
    s = Snapshots()
    users = 20_000
    first = s.take(tenant_of(users))
    total_blobs = len(s.repo.blobs)
    small = s.take(change_users(range(0, users, 2000)))  # 10 users
    half_percent = s.take(change_users(range(1, users, 200)))  # 100 users: 0.5%

    reads = count_reads(s.repo)
    assert len(list(diff(first, small))) == 10
    small_reads = len(reads)
    reads.clear()
    assert len(list(diff(small, half_percent))) == 100
    half_percent_reads = len(reads)
    # per changed object: its two records and at most one page on each side, plus the overlay deltas
    assert small_reads <= 4 * 10 + 2, small_reads
    assert half_percent_reads <= 4 * 100 + 3, half_percent_reads
    assert half_percent_reads < total_blobs / 40
    reads.clear()
    assert list(diff(half_percent, half_percent)) == []
    assert reads == []  # identical manifests: nothing read at all


@pytest.mark.parametrize("changed", [3000, 10])
def test_diff_agrees_with_comparing_every_object(changed: int) -> None:
    """Rebased pages (compared position by position), overlays, and re-bucketing all give the same answer."""
    s = Snapshots()
    first = s.take(tenant_of(6000))

    def mixed(w: SnapshotWriter) -> None:
        builders(w, True, "user")
        for n in range(0, changed * 2, 2):
            w.put(USER, user(n, department="Moved"))
        w.delete(USER, guid(1))
        w.put(USER, user(50_000))

    second = s.take(mixed)
    assert ("overlay" in second.record["types"]["user"]) == (changed < 1000)
    expected = brute_force(first, second)
    assert summary(diff(first, second)) == expected

    def grow(w: SnapshotWriter) -> None:  # enough new users to change the bucketing
        builders(w, True, "user")
        for n in range(100_000, 112_000):
            w.put(USER, user(n))

    third = s.take(grow)
    assert third.record["types"]["user"]["bits"] != second.record["types"]["user"]["bits"]
    assert summary(diff(second, third)) == brute_force(second, third)
    assert summary(diff(third, first)) == brute_force(third, first)


def test_links_compare_by_id_when_a_snapshot_numbers_objects_afresh() -> None:
    s = Snapshots()
    first = s.take(base_tenant())

    def renumbered(w: SnapshotWriter) -> None:
        for n in range(500, 520):  # other objects take the low numbers this time
            w.numbers.number(guid(n))
        base_tenant()(w)
        w.put(
            GROUP,
            {"id": "g-1", "displayName": "Finance"},
            {"members": [guid(2), guid(4)], "owners": [guid(0)]},
        )

    second = s.take(renumbered, numbers=ObjectNumbers())
    changes = list(diff(first, second))
    assert [(c.id, c.link.added, c.link.removed) for c in changes if c.link] == [
        ("g-1", (guid(4),), (guid(1),))
    ]
    assert [c for c in changes if not c.link] == []


def summary(changes: Any) -> set[tuple[str, str, str, tuple[FieldChange, ...]]]:
    return {(c.type, c.id, c.change, c.fields) for c in changes}


def brute_force(a: SnapshotReader, b: SnapshotReader) -> set[tuple[str, str, str, tuple[FieldChange, ...]]]:
    old = {o.id: o.object for o in a.objects("user")}
    new = {o.id: o.object for o in b.objects("user")}
    found: set[tuple[str, str, str, tuple[FieldChange, ...]]] = set()
    for oid in old.keys() | new.keys():
        if oid not in new:
            found.add(("user", oid, "removed", ()))
        elif oid not in old:
            found.add(("user", oid, "added", ()))
        elif old[oid] != new[oid]:
            found.add(("user", oid, "modified", tuple(field_changes(old[oid], new[oid]))))
    return found
