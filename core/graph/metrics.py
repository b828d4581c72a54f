"""Plain counters a GraphClient keeps; ``snapshot()`` gives a dict for logs, doctor and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GraphMetrics:
    requests: int = 0  # HTTP requests sent, one per attempt; a $batch counts once
    batch_items: int = 0  # sub-requests sent inside $batch, one per attempt
    resource_units: float = 0.0  # sum of x-ms-resource-unit, batch items included
    throttled: int = 0  # 429s seen, batch items included
    retries: int = 0  # attempts after the first, batch items included
    limiter_waits: int = 0  # requests the limiter held back
    limiter_wait_s: float = 0.0  # summed over requests, so concurrent waits add up
    errors: Counter[str] = field(default_factory=Counter)  # final errors raised, by ErrorKind

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "batch_items": self.batch_items,
            "resource_units": self.resource_units,
            "throttled": self.throttled,
            "retries": self.retries,
            "limiter_waits": self.limiter_waits,
            "limiter_wait_s": round(self.limiter_wait_s, 3),
            "errors": dict(self.errors),
        }
