"""Client-side throttling: token buckets that keep a tenant's requests just under Graph's quotas.

One ``GraphLimiter`` per tenant is shared by every GraphClient in the process (see ``shared_limiter``), so
parallel backups of the same tenant split one quota instead of each assuming it owns it. Costs are debited
before sending (``acquire``), corrected from ``x-ms-resource-unit`` afterwards (``settle``), and a 429 pauses
the whole bucket and halves its rate, which then recovers slowly (``throttled``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Protocol

from core.graph.config import GraphConfig
from core.graph.costs import RequestCost

_MIN_FACTOR = 0.05  # never slow below 5% of the nominal rate
_RECOVERY_PER_S = 0.01  # +1% of nominal per second: from half speed back to full in ~50 s
_CALM_S = 2.0
_EPSILON = 1e-6
_MIN_DELAY_S = 0.001  # 429s of requests already in flight when the first one arrived don't halve again
# The write quota is per app and tenant, and restores write through their own app registration, so no other
# client spends it: only a sliver is kept back, for the skew between our clock and Graph's window.
WRITE_HEADROOM = 0.99


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    def __init__(self, name: str, units: float, period_s: float, clock: Clock, *, headroom: float) -> None:
        self.name = name
        self.capacity = float(units)
        self.nominal_rate = units / period_s * headroom  # units per second
        self.factor = 1.0  # adaptive share of the nominal rate
        self.tokens = self.capacity
        self._clock = clock
        self._updated = clock.monotonic()
        self.paused_until = 0.0
        self._calm_until = 0.0
        self.waits = 0
        self.wait_s = 0.0
        self.throttles = 0

    @property
    def rate(self) -> float:
        return self.nominal_rate * self.factor

    def _refill(self, now: float) -> None:
        start = max(self._updated, self.paused_until)  # nothing refills while Graph says to stay away
        if now > start:
            elapsed = now - start
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.factor = min(1.0, self.factor + elapsed * _RECOVERY_PER_S)
        self._updated = max(self._updated, now)

    async def acquire(self, units: float) -> float:
        """Wait until ``units`` can be paid, pay them, and return the seconds waited."""
        if units <= 0:
            return 0.0
        waited = 0.0
        while True:
            now = self._clock.monotonic()
            self._refill(now)
            if now < self.paused_until:
                delay = self.paused_until - now
            else:
                # A request dearer than the whole bucket goes once the bucket is full, leaving a debt.
                need = min(units, self.capacity)
                if self.tokens >= need - _EPSILON:
                    self.tokens -= units
                    break
                # A floor on the delay: float rounding must not turn this into a busy loop.
                delay = max((need - self.tokens) / self.rate, _MIN_DELAY_S)
            await self._clock.sleep(delay)
            waited += delay
        if waited > 0:
            self.waits += 1
            self.wait_s += waited
        return waited

    def adjust(self, units: float) -> None:
        """Charge (or refund, when negative) the difference between estimated and actual cost."""
        self._refill(self._clock.monotonic())
        self.tokens = min(self.capacity, self.tokens - units)

    def throttled(self, retry_after_s: float | None) -> None:
        now = self._clock.monotonic()
        self._refill(now)
        self.throttles += 1
        self.tokens = min(self.tokens, 0.0)  # Graph's bucket is empty, so ours is too
        if retry_after_s is not None:
            self.paused_until = max(self.paused_until, now + retry_after_s)
        if now >= self._calm_until:
            self.factor = max(_MIN_FACTOR, self.factor / 2)
            self._calm_until = now + max(retry_after_s or 0.0, _CALM_S)

    def snapshot(self) -> dict[str, float]:
        return {
            "rate_per_s": round(self.rate, 3),
            "factor": round(self.factor, 3),
            "tokens": round(self.tokens, 3),
            "waits": self.waits,
            "wait_s": round(self.wait_s, 3),
            "throttles": self.throttles,
        }


class GraphLimiter:
    """Per-tenant buckets for identity resource units, writes, Conditional Access and reports (§5).

    ``headroom`` is the share of Graph's rate used for the shared read quotas (other tools of the tenant
    read too); ``write_headroom`` the share of the write quota (3,000 per 150 s per app and tenant).
    """

    def __init__(
        self,
        resource_units_per_10s: int = 8000,
        *,
        clock: Clock | None = None,
        headroom: float = 0.95,
        write_headroom: float = WRITE_HEADROOM,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.resource_units = TokenBucket(
            "resource_units", resource_units_per_10s, 10, self.clock, headroom=headroom
        )
        self.writes = TokenBucket("writes", 3000, 150, self.clock, headroom=write_headroom)
        self.conditional_access = TokenBucket("conditional_access", 1, 1, self.clock, headroom=headroom)
        self.reports = TokenBucket("reports", 5, 10, self.clock, headroom=headroom)

    def _buckets(self, cost: RequestCost) -> list[tuple[TokenBucket, float]]:
        pairs = [
            (self.resource_units, cost.resource_units),
            (self.writes, float(cost.writes)),
            (self.conditional_access, float(cost.conditional_access)),
            (self.reports, float(cost.reports)),
        ]
        return [(bucket, units) for bucket, units in pairs if units > 0]

    async def acquire(self, cost: RequestCost) -> float:
        waited = 0.0
        for bucket, units in self._buckets(cost):
            waited += await bucket.acquire(units)
        return waited

    def settle(self, estimated: RequestCost, actual_resource_units: float | None) -> None:
        if actual_resource_units is not None and estimated.resource_units > 0:
            self.resource_units.adjust(actual_resource_units - estimated.resource_units)

    def throttled(
        self, cost: RequestCost, retry_after_s: float | None, information: str | None = None
    ) -> None:
        if information and "write" in information.lower():
            bucket = self.writes
        elif cost.conditional_access:
            bucket = self.conditional_access
        elif cost.reports:
            bucket = self.reports
        else:
            bucket = self.resource_units
        bucket.throttled(retry_after_s)

    def snapshot(self) -> dict[str, Any]:
        buckets = (self.resource_units, self.writes, self.conditional_access, self.reports)
        return {bucket.name: bucket.snapshot() for bucket in buckets}


_registry: dict[tuple[str, str, int], GraphLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(config: GraphConfig) -> GraphLimiter:
    """The process-wide limiter for this tenant (keyed by Graph root, tenant and quota)."""
    key = (config.endpoints().graph_url, config.tenant_id.lower(), config.resource_units_per_10s)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = GraphLimiter(config.resource_units_per_10s)
        return limiter
