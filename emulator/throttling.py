"""Graph's throttling: token buckets charged by the cost model of ``emulator.costs`` (reference section 5).

Three services are modelled, each with its own limits:

* identity and access (directory objects): a resource-unit (RU) bucket per app+tenant sized by the tenant,
  an RU bucket per app across tenants, and write quotas per app+tenant, per tenant and per app;
* Conditional Access and identity protection: one request per second per tenant, 429 without Retry-After;
* identity reports (``/auditLogs``): five requests per ten seconds per app per tenant.

A throttled request charges nothing. Time comes from an injectable monotonic clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from emulator.config import ThrottlingConfig
from emulator.costs import Service, is_write, resource_units, service_of

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """Holds up to ``capacity`` tokens and refills ``capacity`` every ``window_s`` seconds, continuously."""

    capacity: float
    window_s: float
    tokens: float
    updated: float

    @property
    def rate(self) -> float:
        return self.capacity / self.window_s

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def wait_s(self, cost: float) -> float:
        """Seconds until the bucket can pay ``cost`` (0: now); a cost over capacity waits until full."""
        short = min(cost, self.capacity) - self.tokens
        return 0.0 if short <= 1e-9 else short / self.rate

    def usage(self) -> float:
        return 1.0 - self.tokens / self.capacity


@dataclass(frozen=True)
class _Limit:
    key: tuple[str, ...]
    capacity: int
    window_s: float
    cost: int
    information: str | None  # x-ms-throttle-information
    scope: str  # x-ms-throttle-scope
    retry_after: bool  # Conditional Access 429s carry none


@dataclass
class Verdict:
    """The throttler's answer for one request: its cost and, when refused, how the 429 must look."""

    resource_units: int
    write: bool
    service: Service
    throttled: bool = False
    retry_after_s: int | None = None
    scope: str | None = None
    information: str | None = None
    limit_percentage: float | None = None
    # The app had been told to wait (Retry-After) and came back early.
    early_retry: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class Throttler:
    """Token buckets for every limit, keyed by app and tenant, charged per request."""

    def __init__(self, config: ThrottlingConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}

    def configure(self, config: ThrottlingConfig) -> None:
        """Swap limits; buckets start full again under the new sizes."""
        if config != self.config:
            self.config = config
            self._buckets.clear()
            self._blocked_until.clear()

    def ru_quota(self, tenant_users: int) -> int:
        c = self.config
        if tenant_users < c.medium_tenant_users:
            return c.ru_quota_small
        return c.ru_quota_medium if tenant_users <= c.large_tenant_users else c.ru_quota_large

    def _limits(
        self, service: Service, app: str, tenant: str, users: Callable[[], int], cost: int, write: bool
    ) -> list[_Limit]:
        c = self.config
        key_ru = ("ru", app, tenant)

        def limit(
            key: tuple[str, ...],
            capacity: int,
            window_s: float,
            charge: int,
            info: str | None,
            scope: str,
            retry_after: bool = True,
        ) -> _Limit:
            return _Limit(key, capacity, window_s, charge, info, f"{scope}/{app}/{tenant}", retry_after)

        if service == "conditional_access":
            window = c.conditional_access_window_s
            return [
                limit(("ca", tenant), c.conditional_access_limit, window, 1, None, "Tenant/ReadWrite", False)
            ]
        if service == "reports":
            info = "RequestLimitExceeded"
            return [
                limit(
                    ("reports", app, tenant),
                    c.reports_limit,
                    c.reports_window_s,
                    1,
                    info,
                    "Tenant_Application/Read",
                )
            ]
        ru, wle = "ResourceUnitLimitExceeded", "WriteLimitExceeded"
        quota = self._ru_quota_of(key_ru, users)
        limits = [
            limit(key_ru, quota, c.ru_window_s, cost, ru, "Tenant_Application/ReadWrite"),
            limit(("app-ru", app), c.app_ru_quota, c.app_ru_window_s, cost, ru, "Application/ReadWrite"),
        ]
        if write:
            limits += [
                limit(
                    ("write", app, tenant),
                    c.app_tenant_write_limit,
                    c.app_tenant_write_window_s,
                    1,
                    wle,
                    "Tenant_Application/Write",
                ),
                limit(
                    ("tenant-write", tenant),
                    c.tenant_write_limit,
                    c.tenant_write_window_s,
                    1,
                    wle,
                    "Tenant/Write",
                ),
                limit(
                    ("app-write", app), c.app_write_limit, c.app_write_window_s, 1, wle, "Application/Write"
                ),
            ]
        return limits

    def _ru_quota_of(self, key: tuple[str, ...], users: Callable[[], int]) -> int:
        bucket = self._buckets.get(key)
        return int(bucket.capacity) if bucket is not None else self.ru_quota(users())

    def _bucket(self, limit: _Limit, now: float) -> TokenBucket:
        bucket = self._buckets.get(limit.key)
        if bucket is None:
            bucket = TokenBucket(limit.capacity, limit.window_s, float(limit.capacity), now)
            self._buckets[limit.key] = bucket
        bucket.refill(now)
        return bucket

    def admit(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str],
        app_id: str,
        tenant_id: str,
        tenant_users: Callable[[], int],
    ) -> Verdict:
        """Charge one request, or refuse it (charging nothing) when any of its buckets cannot pay.

        ``tenant_users`` is asked only when the app+tenant bucket is first sized.
        """
        write = is_write(method, path)
        service = service_of(path)
        cost = resource_units(method, path, query) if service == "identity" else 1
        verdict = Verdict(resource_units=cost, write=write, service=service)
        verdict.headers["x-ms-resource-unit"] = str(cost)
        if not self.config.enabled:
            return verdict
        now = self.clock()
        verdict.early_retry = now < self._blocked_until.get((app_id, tenant_id), -math.inf)
        limits = self._limits(service, app_id, tenant_id, tenant_users, cost, write)
        buckets = [(limit, self._bucket(limit, now)) for limit in limits]
        refusals = [
            (bucket.wait_s(limit.cost), limit) for limit, bucket in buckets if bucket.wait_s(limit.cost) > 0
        ]
        if refusals:
            wait, limit = max(refusals, key=lambda r: r[0])
            verdict.throttled = True
            verdict.scope = limit.scope
            verdict.information = limit.information
            verdict.headers["x-ms-throttle-scope"] = limit.scope
            if limit.information:
                verdict.headers["x-ms-throttle-information"] = limit.information
            if limit.retry_after:
                verdict.retry_after_s = max(1, math.ceil(wait))
                verdict.headers["Retry-After"] = str(verdict.retry_after_s)
                self._blocked_until[(app_id, tenant_id)] = now + verdict.retry_after_s
            return verdict
        for limit, bucket in buckets:
            bucket.tokens -= limit.cost
        # Only the identity service reports how close a caller is to its limit.
        usage = max(bucket.usage() for _, bucket in buckets)
        if service == "identity" and usage > self.config.warn_ratio:
            verdict.limit_percentage = round(usage, 2)
            verdict.headers["x-ms-throttle-limit-percentage"] = f"{verdict.limit_percentage:g}"
        return verdict
