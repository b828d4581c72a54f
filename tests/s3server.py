"""A moto S3 server on 127.0.0.1 for tests that need a real S3 endpoint.

The server starts once per test process; each test module wraps it in its own session fixture::

    @pytest.fixture(scope="session")
    def s3() -> Iterator[MotoS3]:
        yield from s3server.serve()

Dummy AWS credentials and region are set only while the fixture is active, never at import.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_names = itertools.count(1)


@dataclass(frozen=True)
class MotoS3:
    endpoint_url: str

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, config=Config(s3={"addressing_style": "path"})
        )

    def make_bucket(self, *, lock: bool = False) -> str:
        """A fresh, empty bucket (with Object Lock, and so versioning, when ``lock``)."""
        name = f"rewind-test-{next(_names)}"
        if lock:
            self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            self.client().create_bucket(Bucket=name)
        return name


@functools.cache
def _server() -> MotoS3:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Left running until the process exits: it is a daemon thread, shared by every module's fixture.
    return MotoS3(f"http://{host}:{port}")


def serve() -> Iterator[MotoS3]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        yield _server()
