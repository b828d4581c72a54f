"""Suite-wide set-up: quiet structured logs, and the PostgreSQL server the catalog tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.logs import configure_logging
from tests import postgres

configure_logging("WARNING", json=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer | str]:
    """One throwaway PostgreSQL server for the session, or why it could not start (tests fail with it)."""
    try:
        server = postgres.start()
    except postgres.PostgresUnavailable as exc:
        yield str(exc)
        return
    yield server
    server.stop()
