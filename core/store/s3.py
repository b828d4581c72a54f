"""A store in an S3 bucket (AWS, MinIO, Ceph RGW, moto…), optionally under a key prefix.

Deletes remove object *versions*, so on a versioned bucket Object Lock really refuses them (a plain DELETE
there would only add a delete marker and "succeed"). moto answers ``get_object_retention`` with HTTP 500,
so retention is read from ``head_object``.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from core.store.port import (
    AlreadyExists,
    Locked,
    NotFound,
    Retention,
    StoreError,
    StoreProperties,
    StoreUnavailable,
    check_key,
)

T = TypeVar("T")
PROBE_KEY = ".rewind-probe"
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_DENIED = {"AccessDenied", "403", "Forbidden"}
_CONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_LOCK_OFF = "turn locking off (REWIND_S3_LOCK_MODE=none)"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


def make_client(endpoint_url: str | None, *, attempts: int = 8, connect_timeout: float = 10) -> Any:
    """Path-style addressing works on every S3 compatible; standard retries cover 503 SlowDown and 5xx."""
    config = Config(
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=connect_timeout,
        read_timeout=120,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        lock: Retention | None = None,
        conditional_writes: bool | None = None,
        client: Any = None,
    ) -> None:
        """Checks the bucket at once so a wrong URL fails here, in one line, not mid-backup.

        ``conditional_writes=None`` probes the server; tests pass a bool to force either put path.
        """
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.client = client or make_client(endpoint_url)
        where = f"s3://{bucket}/{self.prefix}"
        self._where = where + (f" at {endpoint_url}" if endpoint_url else "")
        self._check_bucket()
        lock_config = self._lock_configuration()
        if lock is not None and not lock_config:
            raise StoreError(
                f"bucket {bucket} has no Object Lock: create it with object lock enabled, or {_LOCK_OFF}"
            )
        self._versioned = lock_config or self._versioning_on()
        if conditional_writes is None:
            conditional_writes = self._probe_conditional_writes()
        self.properties = StoreProperties(conditional_writes, lock_config, self._where)

    # -- opening ---------------------------------------------------------------------------------------

    def _check_bucket(self) -> None:
        # A client with few retries: an unreachable endpoint should fail in seconds, not minutes.
        quick = make_client(self.endpoint_url, attempts=2, connect_timeout=5)
        endpoint = self.endpoint_url or "the default AWS endpoint"
        try:
            quick.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise StoreUnavailable(
                f"no S3 credentials for bucket {self.bucket} at {endpoint}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile)"
            ) from None
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING or code == "NoSuchBucket":
                raise StoreUnavailable(
                    f"bucket {self.bucket} does not exist at {endpoint}: create it or fix the store URL"
                ) from None
            if code in _DENIED:
                raise StoreUnavailable(
                    f"access denied to bucket {self.bucket} at {endpoint}: check the credentials and "
                    "the bucket policy"
                ) from None
            raise StoreUnavailable(f"bucket {self.bucket} at {endpoint} answered {code}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(
                f"cannot reach S3 at {endpoint} for bucket {self.bucket}: check the endpoint URL and the "
                f"network ({type(exc).__name__})"
            ) from None

    def _lock_configuration(self) -> bool:
        try:
            answer = self._call(
                "check Object Lock on",
                "",
                lambda: self.client.get_object_lock_configuration(Bucket=self.bucket),
            )
        except StoreError:
            return False  # ObjectLockConfigurationNotFoundError, or a server without Object Lock at all
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        return bool(enabled == "Enabled")

    def _versioning_on(self) -> bool:
        try:
            answer = self._call(
                "check versioning on", "", lambda: self.client.get_bucket_versioning(Bucket=self.bucket)
            )
        except StoreError:
            return False
        return answer.get("Status") in ("Enabled", "Suspended")

    def _probe_conditional_writes(self) -> bool:
        """Two create-only puts of one key: a server that honours If-None-Match refuses the second."""
        key = self.prefix + PROBE_KEY
        for _ in range(2):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=secrets.token_bytes(8),
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                )
            except ClientError as exc:
                return _code(exc) in _CONDITION_FAILED
            except BotoCoreError:
                return False
        return False

    # -- the port --------------------------------------------------------------------------------------

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, retention: Retention | None = None
    ) -> None:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "ChecksumAlgorithm": "SHA256",
        }
        if retention is not None:
            args["ObjectLockMode"] = retention.mode.upper()
            args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=retention.days)
        if if_absent:
            if self.properties.conditional_writes:
                args["IfNoneMatch"] = "*"
            elif self.exists(key):
                raise AlreadyExists(f"{key} already exists in {self._where}")
        self._call("write", key, lambda: self.client.put_object(**args))

    def get(self, key: str) -> bytes:
        answer = self._call(
            "read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        )
        return bytes(answer["Body"].read())

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise StoreError(f"invalid range {offset}+{length} for {key}")
        if length == 0:
            return b""
        span = f"bytes={offset}-{offset + length - 1}"
        answer = self._call(
            "read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=span)
        )
        return bytes(answer["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        iterator = iter(pages)
        while True:
            page = self._call("list", prefix or "/", lambda: next(iterator, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                key = str(item["Key"])[len(self.prefix) :]
                if key != PROBE_KEY:
                    yield key

    def delete(self, key: str) -> None:
        if self.is_locked(key):
            raise Locked(self._locked_message(key))
        if not self._versioned:
            self._head(key)  # S3 deletes a missing key silently; the port promises NotFound
            self._call(
                "delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
            )
            return
        versions = self._versions(key)
        if not any(not marker for _, marker in versions):
            raise NotFound(f"{key} not found in {self._where}")
        for version_id, _ in versions:
            self._delete_version(key, version_id)

    def _delete_version(self, key: str, version_id: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key), VersionId=version_id)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return
            if _code(exc) in _DENIED:  # how S3 refuses to delete a version under retention or legal hold
                raise Locked(self._locked_message(key)) from None
            raise self._translate("delete", key, exc) from None

    def is_locked(self, key: str) -> bool:
        try:
            head = self._head(key)
        except NotFound:
            return False
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return True
        until = head.get("ObjectLockRetainUntilDate")
        return isinstance(until, datetime) and until > datetime.now(UTC)

    # -- helpers ---------------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _head(self, key: str) -> dict[str, Any]:
        answer = self._call(
            "inspect", key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        )
        return dict(answer)

    def _versions(self, key: str) -> builtins.list[tuple[str, bool]]:
        """(version id, is delete marker) of exactly this key, newest first."""
        full = self._key(key)
        found: builtins.list[tuple[str, bool]] = []
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=full)
        iterator = iter(pages)
        while (page := self._call("list versions of", key, lambda: next(iterator, None))) is not None:
            found += [(str(v["VersionId"]), False) for v in page.get("Versions", []) if v["Key"] == full]
            found += [(str(m["VersionId"]), True) for m in page.get("DeleteMarkers", []) if m["Key"] == full]
        return found

    def _locked_message(self, key: str) -> str:
        return f"{key} in {self._where} is held by Object Lock: it can be deleted once its retention ends"

    def _call(self, verb: str, key: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(verb, key, exc) from None

    def _translate(self, verb: str, key: str, exc: ClientError | BotoCoreError) -> StoreError:
        if isinstance(exc, BotoCoreError):
            return StoreUnavailable(
                f"cannot reach S3 to {verb} {key} in {self._where}: {type(exc).__name__}; check the endpoint"
            )
        code = _code(exc)
        if code in _MISSING:
            return NotFound(f"{key} not found in {self._where}")
        if code in _CONDITION_FAILED:
            return AlreadyExists(f"{key} already exists in {self._where}")
        if code in _DENIED:
            return StoreError(
                f"access denied: cannot {verb} {key} in {self._where}: check credentials and policy"
            )
        return StoreError(f"cannot {verb} {key} in {self._where}: S3 answered {code}")

    def __repr__(self) -> str:
        return f"S3Store({self._where!r})"
