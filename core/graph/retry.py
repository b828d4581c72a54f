"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Statuses worth another attempt; 429 and 503 mean the request was not processed, so any method may retry.
RETRY_ANY_METHOD = frozenset({429, 503})
RETRY_IDEMPOTENT = frozenset({500, 502, 504})


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait per ``Retry-After`` (delta-seconds or HTTP-date); None when absent or invalid."""
    raw = headers.get("retry-after") or headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for failures that carry no ``Retry-After``."""

    base_s: float = 0.5
    cap_s: float = 30.0
    jitter: Callable[[], float] = field(default=random.random, repr=False)  # uniform in [0, 1)

    def backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (retry_number - 1))
        return ceiling * self.jitter()


def status_is_retryable(status: int, method: str, *, idempotent: bool | None = None) -> bool:
    if status in RETRY_ANY_METHOD:
        return True
    if idempotent is None:
        idempotent = method.upper() in IDEMPOTENT_METHODS
    return status in RETRY_IDEMPOTENT and idempotent
