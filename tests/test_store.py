"""The store port's contract, run against FileStore and against S3Store on a moto server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from core.errors import ConfigurationError
from core.store import (
    AlreadyExists,
    FileStore,
    Locked,
    NotFound,
    Retention,
    Store,
    StoreError,
    StoreUnavailable,
    open_store,
)
from core.store.s3 import S3Store
from tests import s3server
from tests.s3server import MotoS3


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    yield from s3server.serve()


@pytest.fixture(params=["file", "s3", "s3-check-then-put"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path / "store")
    s3: MotoS3 = request.getfixturevalue("s3")
    forced = False if request.param == "s3-check-then-put" else None
    return S3Store(s3.make_bucket(), "t/tenant-1", endpoint_url=s3.endpoint_url, conditional_writes=forced)


def test_put_get_overwrite_and_exists(store: Store) -> None:
    assert not store.exists("config")
    store.put("config", b"one")
    assert store.get("config") == b"one"
    store.put("config", b"two")
    assert store.get("config") == b"two"
    assert store.exists("config")
    store.put("empty", b"")
    assert store.get("empty") == b""


def test_get_range(store: Store) -> None:
    store.put("packs/ab/abcd", bytes(range(100)))
    assert store.get_range("packs/ab/abcd", 10, 5) == bytes(range(10, 15))
    assert store.get_range("packs/ab/abcd", 95, 5) == bytes(range(95, 100))
    assert store.get_range("packs/ab/abcd", 0, 0) == b""


def test_list_gives_keys_relative_to_the_root_under_a_prefix(store: Store) -> None:
    for key in ["packs/ab/ab01", "packs/cd/cd02", "index/i1", "snapshots/s1", "snapshots/s2", "config"]:
        store.put(key, key.encode())
    assert sorted(store.list("packs/")) == ["packs/ab/ab01", "packs/cd/cd02"]
    assert sorted(store.list("snapshots/s")) == ["snapshots/s1", "snapshots/s2"]
    assert sorted(store.list("snap")) == ["snapshots/s1", "snapshots/s2"]
    assert sorted(store.list("")) == sorted(
        ["config", "index/i1", "packs/ab/ab01", "packs/cd/cd02", "snapshots/s1", "snapshots/s2"]
    )
    assert list(store.list("nothing/")) == []


def test_delete_then_missing_key_is_not_found(store: Store) -> None:
    store.put("snapshots/s1", b"x")
    store.delete("snapshots/s1")
    assert not store.exists("snapshots/s1")
    assert list(store.list("snapshots/")) == []
    with pytest.raises(NotFound):
        store.get("snapshots/s1")
    with pytest.raises(NotFound):
        store.get_range("snapshots/s1", 0, 1)
    with pytest.raises(NotFound):
        store.delete("snapshots/s1")


def test_if_absent_refuses_an_existing_key_and_keeps_its_bytes(store: Store) -> None:
    store.put("keys/k1", b"first", if_absent=True)
    with pytest.raises(AlreadyExists) as caught:
        store.put("keys/k1", b"second", if_absent=True)
    assert "keys/k1" in str(caught.value) and "\n" not in str(caught.value)
    assert store.get("keys/k1") == b"first"


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "a/../../b", ""])
def test_keys_cannot_leave_the_root(store: Store, key: str) -> None:
    with pytest.raises(StoreError):
        store.put(key, b"x")


def test_unlocked_objects_are_not_locked(store: Store) -> None:
    store.put("config", b"x")
    assert store.is_locked("config") is False
    assert store.is_locked("missing") is False


# -- FileStore specifics --------------------------------------------------------------------------------


def test_file_store_hides_temp_files_and_leaves_none_behind(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put("packs/ab/ab01", b"pack")
    (tmp_path / "packs" / "ab" / ".tmp-deadbeef").write_bytes(b"half a pack")
    assert list(store.list("packs/")) == ["packs/ab/ab01"]
    with pytest.raises(StoreError):
        store.put("packs/ab/.tmp-x", b"x")
    assert sorted(p.name for p in (tmp_path / "packs" / "ab").iterdir()) == [".tmp-deadbeef", "ab01"]


def test_file_store_properties(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "new" / "dir")
    assert store.properties.conditional_writes and not store.properties.object_lock
    assert store.properties.location == str((tmp_path / "new" / "dir").resolve())


# -- S3 specifics ----------------------------------------------------------------------------------------


def test_s3_probe_finds_conditional_writes_on_moto(s3: MotoS3) -> None:
    store = S3Store(s3.make_bucket(), "p", endpoint_url=s3.endpoint_url)
    assert store.properties.conditional_writes is True
    assert store.properties.object_lock is False
    assert list(store.list("")) == []  # the probe object is not a key of the store


@pytest.mark.parametrize("mode", ["compliance", "governance"])
def test_s3_retention_refuses_delete_and_the_object_stays(s3: MotoS3, mode: Any) -> None:
    lock = Retention(mode, 1)
    store = open_store(f"s3://{s3.make_bucket(lock=True)}/t1", s3_endpoint_url=s3.endpoint_url, lock=lock)
    assert store.properties.object_lock
    store.put("packs/ab/ab01", b"locked bytes", if_absent=True, retention=lock)
    assert store.is_locked("packs/ab/ab01")
    with pytest.raises(Locked) as caught:
        store.delete("packs/ab/ab01")
    assert "packs/ab/ab01" in str(caught.value) and "\n" not in str(caught.value)
    assert store.get("packs/ab/ab01") == b"locked bytes"
    assert list(store.list("packs/")) == ["packs/ab/ab01"]


def test_s3_delete_on_a_versioned_bucket_removes_every_version(s3: MotoS3) -> None:
    bucket = s3.make_bucket(lock=True)
    store = S3Store(bucket, "", endpoint_url=s3.endpoint_url)
    store.put("index/i1", b"v1")
    store.put("index/i1", b"v2")
    store.delete("index/i1")
    versions = s3.client().list_object_versions(Bucket=bucket, Prefix="index/i1")
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    with pytest.raises(NotFound):
        store.delete("index/i1")


def test_s3_lock_on_a_bucket_without_object_lock_is_a_clear_error(s3: MotoS3) -> None:
    bucket = s3.make_bucket()
    with pytest.raises(StoreError) as caught:
        open_store(f"s3://{bucket}/t1", s3_endpoint_url=s3.endpoint_url, lock=Retention("compliance", 30))
    message = str(caught.value)
    assert message == (
        f"bucket {bucket} has no Object Lock: create it with object lock enabled, "
        "or turn locking off (REWIND_S3_LOCK_MODE=none)"
    )


def test_s3_unreachable_endpoint_is_one_line(s3: MotoS3) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailable) as caught:
        open_store("s3://backups/t1", s3_endpoint_url=f"http://127.0.0.1:{port}")
    message = str(caught.value)
    assert "\n" not in message and "backups" in message and f"127.0.0.1:{port}" in message
    assert "testing" not in message


def test_s3_missing_bucket_is_one_line(s3: MotoS3) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store("s3://no-such-bucket/t1", s3_endpoint_url=s3.endpoint_url)
    assert str(caught.value) == (
        f"bucket no-such-bucket does not exist at {s3.endpoint_url}: create it or fix the store URL"
    )


class _Body:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


def test_s3_put_survives_injected_slowdowns(s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    # The retry policy is botocore's; only its backoff sleep is cut to zero to keep the test fast.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    store = S3Store(s3.make_bucket(), "t1", endpoint_url=s3.endpoint_url)
    calls: list[str] = []

    def slow_down(request: Any, **_: Any) -> AWSResponse | None:
        calls.append(request.url)
        if len(calls) <= 3:
            return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Body())
        return None

    store.client.meta.events.register("before-send.s3.PutObject", slow_down)
    store.put("packs/ab/ab01", b"data")
    assert len(calls) == 4
    assert store.get("packs/ab/ab01") == b"data"


# -- open_store ------------------------------------------------------------------------------------------


def test_open_store_parses_urls(tmp_path: Path, s3: MotoS3) -> None:
    assert isinstance(open_store(tmp_path.as_uri()), FileStore)
    bucket = s3.make_bucket()
    store = open_store(f"s3://{bucket}/t/tenant-1", s3_endpoint_url=s3.endpoint_url)
    store.put("config", b"x")
    assert s3.client().get_object(Bucket=bucket, Key="t/tenant-1/config")["Body"].read() == b"x"
    assert store.properties.location == f"s3://{bucket}/t/tenant-1/ at {s3.endpoint_url}"


@pytest.mark.parametrize("url", ["relative/path", "ftp://host/x", "file://host/x", "s3://ab/x"])
def test_open_store_rejects_other_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_open_store_never_echoes_credentials_in_the_url() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store("s3://AKIAEXAMPLE:very-secret@bucket/x")
    assert "very-secret" not in str(caught.value) and "AKIAEXAMPLE" not in str(caught.value)


def test_open_store_refuses_a_lock_on_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot lock objects"):
        open_store(tmp_path.as_uri(), lock=Retention("governance", 7))
