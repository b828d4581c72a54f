"""What the chat-agnostic bot needs from the rest of Rewind, handed in by the composition root.

bot/ never builds stores, catalogs or Graph clients itself (that is rewind/wiring.py's job): it receives them
here, so the Slack and the Teams adapters share one set of handlers over the same services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from bot.identity import EntraLookup
from core.backup.engine import BackupResult
from core.catalog import Catalog
from core.repository import Repository
from core.restore.identity import Person
from core.restore.model import Plan
from core.scheduling.plan import ScheduleConfig


class RequestLike(Protocol):
    """The fields of core.restore.service.RequestView the bot shows."""

    @property
    def request_id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def state(self) -> Any: ...  # core.restore.service.RequestState, a StrEnum
    @property
    def plan(self) -> Plan: ...
    @property
    def summary(self) -> str: ...
    @property
    def requester(self) -> Person: ...
    @property
    def approvals(self) -> tuple[Person, ...]: ...
    @property
    def rejected_by(self) -> Person | None: ...
    @property
    def required_approvals(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def origin(self) -> dict[str, Any] | None: ...
    @property
    def result(self) -> Any: ...  # core.restore.executor.RestoreResult | None
    @property
    def error(self) -> str | None: ...


class RestoreServicePort(Protocol):
    """core.restore.service.RestoreService, as far as the bot uses it."""

    async def request(
        self,
        tenant_id: str,
        selector: str,
        *,
        requester: Person,
        snapshot: str | None = None,
        origin: dict[str, Any] | None = None,
        plan: Plan | None = None,
    ) -> Any: ...
    async def approve(self, request_id: str, *, approver: Person) -> Any: ...
    async def reject(self, request_id: str, *, person: Person, reason: str | None = None) -> Any: ...
    async def cancel(self, request_id: str, *, person: Person) -> Any: ...
    async def execute(self, request_id: str, *, progress: Any = None) -> Any: ...
    def get(self, request_id: str) -> Any: ...
    def requests(
        self, tenant_id: str | None = None, *, states: Iterable[Any] | None = None, limit: int = 50
    ) -> list[Any]: ...
    def expire_due(self) -> list[Any]: ...
    def set_origin(self, request_id: str, origin: dict[str, Any]) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BotContext:
    catalog: Catalog
    repository_for: Callable[[str], Repository]
    restore: RestoreServicePort | None = None
    backup: Callable[[str], Awaitable[BackupResult]] | None = None  # an on-demand backup of a tenant
    default_tenant: str | None = None  # REWIND_TENANT_ID when it is a GUID
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    entra: EntraLookup | None = None
    clock: Callable[[], datetime] = _now
    timezone: tzinfo = UTC
    progress_interval: float = 5.0  # seconds between edits of a running restore's progress line
    # Serialises work on one key (an alert's Restore…, a request's execution) within this process.
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())
