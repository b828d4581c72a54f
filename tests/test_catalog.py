"""The catalog on SQLite and on a real PostgreSQL server started for the session (tests/postgres.py)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.catalog import (
    Ambiguous,
    Catalog,
    CatalogError,
    NotFound,
    ObjectRef,
    ObjectVersion,
    SchemaTooNew,
    SnapshotRow,
    named_exactly,
)
from core.catalog.models import METADATA, VERSION_TABLE
from tests import postgres

T1 = "11111111-1111-1111-1111-111111111111"
T2 = "22222222-2222-2222-2222-222222222222"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_schemas = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'not' / 'yet' / 'catalog.db'}"
    server = request.getfixturevalue("postgres_server")
    if isinstance(server, str):
        pytest.fail(f"PostgreSQL could not be started for the catalog tests: {server}", pytrace=False)
    url: str = server.create_schema(f"catalog_{next(_schemas)}")
    return url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    opened = Catalog(catalog_url, clock=lambda: T0)
    yield opened
    opened.close()


def snap(snapshot_id: str, minutes: int, *, tenant: str = T1, kind: str = "full") -> SnapshotRow:
    return SnapshotRow(
        tenant_id=tenant,
        snapshot_id=snapshot_id,
        created_at=T0 + timedelta(minutes=minutes),
        kind=kind,  # type: ignore[arg-type]
        parent_id=None,
        counts={"users": 3},
        bytes_added=1234,
        status="complete",
        tool_version="0.1.0",
    )


def user(object_id: str, blob: str, name: str | None = None, upn: str | None = None) -> ObjectVersion:
    return ObjectVersion(
        "user", object_id, blob, name or f"User {object_id}", upn or f"{object_id}@contoso.com"
    )


def history(catalog: Catalog, object_id: str, tenant: str = T1) -> list[tuple[str, str, str, bool]]:
    return [
        (row.blob_id, row.first_snapshot_id, row.last_snapshot_id, row.current)
        for row in catalog.versions(tenant, "user", object_id)
    ]


def blob_in(catalog: Catalog, object_id: str, snapshot_id: str) -> str | None:
    row = catalog.version_at(T1, "user", object_id, snapshot_id)
    return None if row is None else row.blob_id


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_postgresql_server_starts(postgres_server: postgres.PostgresServer | str) -> None:
    if isinstance(postgres_server, str):
        pytest.fail(f"PostgreSQL could not be started: {postgres_server}", pytrace=False)
    assert postgres_server.port > 0


# --- schema and migrations --------------------------------------------------------------------------------


def test_migrations_build_the_models_schema_from_an_empty_database(catalog_url: str) -> None:
    Catalog(catalog_url).close()
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert {"tenants", "snapshots", "object_versions", "delta_tokens", VERSION_TABLE} <= tables
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert context.get_current_heads() == ("0004",)
            assert compare_metadata(context, METADATA) == []  # the migration and the models agree
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        engine.dispose()


def test_reopening_keeps_data_and_changes_no_schema(catalog_url: str) -> None:
    with Catalog(catalog_url) as first:
        first.add_snapshot(snap("aaaa1111", 0))
    with Catalog(catalog_url) as second:
        assert [s.snapshot_id for s in second.snapshots(T1)] == ["aaaa1111"]
    assert count_rows(catalog_url, VERSION_TABLE) == 1


def test_a_database_from_a_newer_rewind_is_refused_in_one_line(catalog_url: str) -> None:
    Catalog(catalog_url).close()
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00dfeed'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew) as caught:
        Catalog(catalog_url)
    assert "newer Rewind" in str(caught.value) and "f00dfeed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_urls_give_one_line_errors_without_the_password() -> None:
    with pytest.raises(CatalogError, match="sqlite and postgresql"):
        Catalog("mysql://root:hunter2@localhost/rewind")
    with pytest.raises(CatalogError) as caught:
        Catalog("postgresql://rewind:hunter2@127.0.0.1:1/rewind")  # nothing listens on port 1
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


# --- tenants and snapshots ------------------------------------------------------------------------------


def test_tenants_are_added_once_and_names_updated(catalog: Catalog) -> None:
    catalog.upsert_tenant(T2, display_name="Fabrikam")
    catalog.upsert_tenant(T1, display_name="Contoso", domain="contoso.com")
    catalog.upsert_tenant(T1, display_name="Contoso Ltd")  # domain left as it was
    catalog.add_snapshot(snap("bbbb0001", 0, tenant=T2))  # an existing tenant is not duplicated
    rows = catalog.tenants()
    assert [(t.tenant_id, t.display_name, t.domain) for t in rows] == [
        (T1, "Contoso Ltd", "contoso.com"),
        (T2, "Fabrikam", None),
    ]
    assert rows[0].added_at == T0


def test_snapshots_list_newest_first_and_adding_twice_is_idempotent(catalog: Catalog) -> None:
    for number, snapshot_id in enumerate(["aaaa0001", "aaaa0002", "bbbb0003"]):
        catalog.add_snapshot(snap(snapshot_id, number * 15))
    catalog.add_snapshot(snap("aaaa0002", 15))
    listed = catalog.snapshots(T1)
    assert [s.snapshot_id for s in listed] == ["bbbb0003", "aaaa0002", "aaaa0001"]
    assert [s.seq for s in listed] == [3, 2, 1]
    assert listed[0] == snap("bbbb0003", 30)  # every field round-trips; created_at stays aware UTC
    assert listed[0].created_at.tzinfo is not None
    assert [s.snapshot_id for s in catalog.snapshots(T1, limit=1)] == ["bbbb0003"]


def test_snapshot_refs_by_id_prefix_and_latest(catalog: Catalog) -> None:
    for number, snapshot_id in enumerate(["aaaa0001", "aaaa0002", "bbbb0003"]):
        catalog.add_snapshot(snap(snapshot_id, number * 15))
    assert catalog.snapshot(T1, "aaaa0002").snapshot_id == "aaaa0002"
    assert catalog.snapshot(T1, "bbbb").snapshot_id == "bbbb0003"
    assert catalog.snapshot(T1, "latest").snapshot_id == "bbbb0003"
    with pytest.raises(Ambiguous) as caught:
        catalog.snapshot(T1, "aaaa")
    assert sorted(caught.value.candidates) == ["aaaa0001", "aaaa0002"]
    assert "aaaa0001" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(NotFound, match="at least 4"):
        catalog.snapshot(T1, "bbb")
    with pytest.raises(NotFound):
        catalog.snapshot(T1, "cccc")
    with pytest.raises(NotFound, match="no snapshots"):
        catalog.snapshot(T2, "latest")
    with pytest.raises(NotFound):
        catalog.snapshot(T2, "aaaa0001")  # another tenant's snapshot


def test_snapshot_at_returns_the_newest_at_or_before(catalog: Catalog) -> None:
    for number, snapshot_id in enumerate(["aaaa0001", "aaaa0002", "aaaa0003"]):
        catalog.add_snapshot(snap(snapshot_id, number * 15))
    assert catalog.snapshot_at(T1, T0 - timedelta(seconds=1)) is None
    at_second = catalog.snapshot_at(T1, T0 + timedelta(minutes=15))
    assert at_second is not None and at_second.snapshot_id == "aaaa0002"
    between = catalog.snapshot_at(T1, T0 + timedelta(minutes=29))
    assert between is not None and between.snapshot_id == "aaaa0002"
    later = catalog.snapshot_at(T1, T0 + timedelta(days=9))
    assert later is not None and later.snapshot_id == "aaaa0003"
    other_zone = datetime(2026, 3, 1, 13, 20, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    in_paris = catalog.snapshot_at(T1, other_zone)  # 12:20 UTC
    assert in_paris is not None and in_paris.snapshot_id == "aaaa0002"
    with pytest.raises(ValueError, match="timezone"):
        catalog.snapshot_at(T1, datetime(2026, 3, 1))


def test_snapshots_must_be_added_oldest_first(catalog: Catalog) -> None:
    catalog.add_snapshot(snap("aaaa0002", 15))
    with pytest.raises(CatalogError, match="oldest first"):
        catalog.add_snapshot(snap("aaaa0001", 0))


# --- object versions ------------------------------------------------------------------------------------


def _three_snapshots(catalog: Catalog, style: str) -> None:
    """S1: a, b, c.  S2: b changed, c deleted.  S3: c re-created with its old content, d new."""
    kind = "full" if style == "full" else "incremental"
    catalog.add_snapshot(snap("s1", 0))
    catalog.record_versions(T1, "s1", [user("a", "A1"), user("b", "B1"), user("c", "C1")])
    catalog.add_snapshot(snap("s2", 15, kind=kind))
    catalog.add_snapshot(snap("s3", 30, kind=kind))  # added early: versions never assume the newest
    if style == "full":
        catalog.record_versions(T1, "s2", [user("a", "A1"), user("b", "B2")])
        catalog.record_versions(
            T1, "s3", [user("a", "A1"), user("b", "B2"), user("c", "C1"), user("d", "D1")]
        )
    else:
        catalog.record_versions(T1, "s2", [user("b", "B2")])
        catalog.carry_forward(T1, "s1", "s2", except_ids=["b", "c"])
        catalog.carry_forward(T1, "s2", "s3", except_ids=["c", "d"])  # before recording: order is free
        catalog.record_versions(T1, "s3", [user("c", "C1"), user("d", "D1")])


@pytest.mark.parametrize("style", ["full", "incremental"])
def test_versions_are_intervals_across_snapshots(catalog: Catalog, style: str) -> None:
    _three_snapshots(catalog, style)
    assert history(catalog, "a") == [("A1", "s1", "s3", True)]  # unchanged: still one row
    assert history(catalog, "b") == [("B1", "s1", "s1", False), ("B2", "s2", "s3", True)]
    assert history(catalog, "c") == [("C1", "s1", "s1", False), ("C1", "s3", "s3", True)]
    assert history(catalog, "d") == [("D1", "s3", "s3", True)]
    assert history(catalog, "nobody") == []

    table = {(o, s): blob_in(catalog, o, s) for o in "abcd" for s in ("s1", "s2", "s3")}
    assert table == {
        ("a", "s1"): "A1", ("a", "s2"): "A1", ("a", "s3"): "A1",
        ("b", "s1"): "B1", ("b", "s2"): "B2", ("b", "s3"): "B2",
        ("c", "s1"): "C1", ("c", "s2"): None, ("c", "s3"): "C1",
        ("d", "s1"): None, ("d", "s2"): None, ("d", "s3"): "D1",
    }  # fmt: skip
    first_b2 = catalog.versions(T1, "user", "b")[1]
    assert first_b2.first_seen_at == T0 + timedelta(minutes=15)
    assert first_b2.last_seen_at == T0 + timedelta(minutes=30)
    assert (first_b2.display_name, first_b2.principal_name) == ("User b", "b@contoso.com")
    with pytest.raises(NotFound):
        catalog.version_at(T1, "user", "a", "s9")


@pytest.mark.parametrize("style", ["full", "incremental"])
def test_recording_a_snapshot_again_changes_nothing(catalog: Catalog, catalog_url: str, style: str) -> None:
    _three_snapshots(catalog, style)
    before = {o: history(catalog, o) for o in "abcd"}
    rows = count_rows(catalog_url, "object_versions")
    _three_snapshots(catalog, style)  # snapshots are re-added, versions re-recorded, carried again
    assert {o: history(catalog, o) for o in "abcd"} == before
    assert count_rows(catalog_url, "object_versions") == rows == 6


def test_recording_a_snapshot_again_with_other_content_replaces_it(catalog: Catalog) -> None:
    catalog.add_snapshot(snap("s1", 0))
    catalog.record_versions(T1, "s1", [user("a", "A1"), user("b", "B1")])
    catalog.record_versions(T1, "s1", [user("a", "A2", "Renamed"), user("b", "B1")])
    assert history(catalog, "a") == [("A2", "s1", "s1", True)]
    assert [r.object_id for r in catalog.find_objects(T1, "renamed")] == ["a"]
    catalog.add_snapshot(snap("s2", 15))
    catalog.record_versions(T1, "s2", [])  # a full snapshot that found nothing: everything was deleted
    assert (blob_in(catalog, "a", "s2"), blob_in(catalog, "b", "s2")) == (None, None)
    assert (blob_in(catalog, "a", "s1"), blob_in(catalog, "b", "s1")) == ("A2", "B1")


def test_two_writers_recording_the_same_snapshot_leave_one_copy(catalog: Catalog, catalog_url: str) -> None:
    objects = [user(f"u{n:04d}", f"blob{n}") for n in range(3000)]
    catalog.add_snapshot(snap("s1", 0))
    catalog.add_snapshot(snap("s2", 15))
    catalog.record_versions(T1, "s1", objects)
    changed = [user(o.object_id, o.blob_id + "x") for o in objects[::3]]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with Catalog(catalog_url) as other:
                other.add_snapshot(snap("s3", 30))
                other.record_versions(T1, "s3", changed, complete=False)
                other.carry_forward(T1, "s2", "s3", except_ids=[o.object_id for o in changed])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s.snapshot_id for s in catalog.snapshots(T1)] == ["s3", "s2", "s1"]
    assert count_rows(catalog_url, "object_versions") == 3000 + 1000
    assert history(catalog, "u0003") == [("blob3", "s1", "s2", False), ("blob3x", "s3", "s3", True)]


def test_removing_snapshots_keeps_intervals_right(catalog: Catalog) -> None:
    _three_snapshots(catalog, "incremental")
    catalog.remove_snapshot(T1, "s2")
    assert history(catalog, "b") == [("B1", "s1", "s1", False), ("B2", "s3", "s3", True)]
    catalog.remove_snapshot(T1, "s3")  # the newest: what only it held goes, what it closed reopens
    catalog.remove_snapshot(T1, "s3")  # already gone: nothing to do
    assert history(catalog, "d") == []
    assert history(catalog, "c") == [("C1", "s1", "s1", True)]
    assert history(catalog, "b") == [("B1", "s1", "s1", True)]
    catalog.add_snapshot(snap("s4", 45, kind="incremental"))
    catalog.carry_forward(T1, "s1", "s4", except_ids=[])
    assert [blob_in(catalog, o, "s4") for o in "abcd"] == ["A1", "B1", "C1", None]


def test_out_of_order_or_skipping_carry_forward_is_refused(catalog: Catalog) -> None:
    _three_snapshots(catalog, "incremental")
    with pytest.raises(CatalogError, match="just before"):
        catalog.carry_forward(T1, "s1", "s3")
    with pytest.raises(CatalogError, match="older"):
        catalog.carry_forward(T1, "s3", "s2")
    with pytest.raises(CatalogError, match="oldest first"):
        catalog.record_versions(T1, "s2", [user("c", "C9")], complete=False)
    with pytest.raises(NotFound):
        catalog.record_versions(T1, "nope", [user("a", "A1")])


def test_many_versions_are_recorded_in_bulk(catalog: Catalog, catalog_url: str) -> None:
    everyone = [user(f"{n:06d}", f"b{n}") for n in range(100_000)]
    catalog.add_snapshot(snap("s1", 0))
    catalog.record_versions(T1, "s1", iter(everyone))  # a generator is enough
    catalog.add_snapshot(snap("s2", 15, kind="incremental"))
    changed = [user(o.object_id, o.blob_id + "'") for o in everyone[::200]]
    catalog.record_versions(T1, "s2", changed)
    catalog.carry_forward(T1, "s1", "s2", except_ids=[o.object_id for o in changed] + ["000001"])
    assert count_rows(catalog_url, "object_versions") == 100_000 + 500
    assert blob_in(catalog, "000400", "s2") == "b400'"
    assert blob_in(catalog, "099999", "s2") == "b99999"
    assert blob_in(catalog, "000001", "s2") is None
    assert history(catalog, "000200") == [("b200", "s1", "s1", False), ("b200'", "s2", "s2", True)]


# --- search, delta tokens, tenants ----------------------------------------------------------------------


def test_find_objects_by_id_principal_and_display_name(catalog: Catalog) -> None:
    catalog.add_snapshot(snap("s1", 0))
    catalog.record_versions(
        T1,
        "s1",
        [
            user("u-1", "1", "Adele Vance", "AdeleV@contoso.com"),
            user("u-2", "2", "Adele", "adele@contoso.com"),
            user("u-3", "3", "Alex Wilber", "AlexW@contoso.com"),
            ObjectVersion("group", "g-1", "4", "Adele's team", "adeles-team@contoso.com"),
            user("u-4", "5", "Ádám Kovács", "adam@contoso.com"),
        ],
    )
    catalog.add_snapshot(snap("s2", 15))
    catalog.record_versions(T1, "s2", [user("u-1", "1b", "Adele V.", "AdeleV@contoso.com")], complete=False)

    def ref(object_type: str, object_id: str, name: str, upn: str) -> ObjectRef:
        return ObjectRef(object_type, object_id, name, upn)

    assert catalog.find_objects(T1, "u-3") == [ref("user", "u-3", "Alex Wilber", "AlexW@contoso.com")]
    assert catalog.find_objects(T1, "adelev@CONTOSO.com") == [
        ref("user", "u-1", "Adele V.", "AdeleV@contoso.com"),
        ref("user", "u-1", "Adele Vance", "AdeleV@contoso.com"),  # a past name is still found
    ]
    exact_first = catalog.find_objects(T1, "ADELE")
    assert [(r.object_id, r.display_name) for r in exact_first] == [
        ("u-2", "Adele"),
        ("u-1", "Adele V."),
        ("u-1", "Adele Vance"),
        ("g-1", "Adele's team"),
    ]
    assert [r.object_id for r in catalog.find_objects(T1, "adele", object_type="group")] == ["g-1"]
    assert len(catalog.find_objects(T1, "adele", limit=2)) == 2
    assert [r.object_id for r in catalog.find_objects(T1, "ádám")] == ["u-4"]
    assert catalog.find_objects(T1, "zed") == []
    assert catalog.find_objects(T2, "adele") == []


def test_delta_tokens_are_set_replaced_and_removed(catalog: Catalog) -> None:
    assert catalog.delta_token(T1, "user") is None
    catalog.set_delta_tokens(T1, {"user": "tok-u1", "group": "tok-g1"})
    catalog.set_delta_tokens(T2, {"user": "other-tenant"})
    catalog.set_delta_tokens(T1, {"user": "tok-u2", "group": None})
    assert catalog.delta_token(T1, "user") == "tok-u2"
    assert catalog.delta_token(T1, "group") is None
    assert catalog.delta_token(T2, "user") == "other-tenant"


def test_tenants_are_isolated_and_clearing_one_keeps_the_others(catalog: Catalog) -> None:
    for tenant, blob in ((T1, "one"), (T2, "two")):
        catalog.add_snapshot(snap("same-id", 0, tenant=tenant))
        catalog.record_versions(tenant, "same-id", [user("shared-object", blob)])
        catalog.set_delta_tokens(tenant, {"user": f"token-{blob}"})
    assert [r.blob_id for r in catalog.versions(T1, "user", "shared-object")] == ["one"]
    assert [r.blob_id for r in catalog.versions(T2, "user", "shared-object")] == ["two"]
    catalog.remove_snapshot(T1, "same-id")
    assert [s.snapshot_id for s in catalog.snapshots(T2)] == ["same-id"]
    catalog.clear_tenant(T2)
    assert catalog.snapshots(T2) == [] and catalog.versions(T2, "user", "shared-object") == []
    assert catalog.delta_token(T2, "user") is None
    assert catalog.delta_token(T1, "user") == "token-one"
    assert {t.tenant_id for t in catalog.tenants()} == {T1, T2}
    catalog.add_snapshot(snap("rebuilt", 0, tenant=T2))  # a rebuild starts again from the oldest snapshot
    assert catalog.snapshot(T2, "latest").snapshot_id == "rebuilt"


def test_named_exactly_prefers_the_id_then_the_principal_name_then_the_display_name() -> None:
    alice = ObjectRef("user", "a1", "Alice", "alice@contoso.example")
    group = ObjectRef("group", "g1", "alice@contoso.example", None)  # a group named like her UPN
    renamed = ObjectRef("user", "a1", "Alice Smith", "alice@contoso.example")  # same object, later name
    finance = [ObjectRef("group", "g2", "Finance", None), ObjectRef("team", "t2", "finance", None)]
    refs = [alice, group, renamed, *finance]
    assert named_exactly(refs, " ALICE@contoso.example ") == [renamed]  # UPN before display name; once
    assert named_exactly(refs, "G1") == [group]  # an id before everything
    assert named_exactly(refs, "Finance") == finance  # two objects: the caller says it is ambiguous
    assert named_exactly(refs, "Ali") == []  # a prefix is not a name
