"""What the emulator saw, per tenant and app: the numbers tests and benchmarks assert on.

An *operation* is one Graph request: a plain request or one item of a ``$batch`` (the envelope itself is
counted under ``batches``). ``retries`` counts operations whose ``client-request-id`` the same app already
sent in that tenant (SDKs keep the id when they retry); ``early_retries`` counts operations that arrived
while the app was still inside a Retry-After it had been given.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

_REMEMBERED_REQUEST_IDS = 100_000
_SUMS = (
    "requests",
    "batches",
    "resource_units",
    "throttled",
    "writes",
    "items",
    "faults",
    "retries",
    "early_retries",
)


@dataclass
class Usage:
    requests: int = 0
    batches: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    resource_units: int = 0
    throttled: int = 0
    writes: int = 0
    items: int = 0
    faults: int = 0
    retries: int = 0
    early_retries: int = 0

    def add(self, other: Usage) -> None:
        for name in _SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_status.update(other.by_status)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SUMS}
        out["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        return out


class Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._usage: dict[tuple[str, str], Usage] = {}
        self._seen_ids: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self.tokens_issued = 0
        self.token_errors = 0

    def _of(self, tenant_id: str, app_id: str) -> Usage:
        return self._usage.setdefault((tenant_id, app_id), Usage())

    def batch(self, tenant_id: str, app_id: str) -> None:
        self._of(tenant_id, app_id).batches += 1

    def operation(
        self,
        tenant_id: str,
        app_id: str,
        *,
        status: int,
        resource_units: int = 0,
        write: bool = False,
        items: int = 0,
        fault: bool = False,
        client_request_id: str | None = None,
        early_retry: bool = False,
    ) -> None:
        usage = self._of(tenant_id, app_id)
        usage.requests += 1
        usage.by_status[status] += 1
        usage.resource_units += resource_units
        usage.throttled += status == 429
        usage.writes += write and status < 400
        usage.items += items
        usage.faults += fault
        usage.early_retries += early_retry
        if client_request_id:
            key = (tenant_id, app_id, client_request_id)
            if key in self._seen_ids:
                usage.retries += 1
            else:
                self._seen_ids[key] = None
                if len(self._seen_ids) > _REMEMBERED_REQUEST_IDS:
                    self._seen_ids.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        """``{"totals": {...}, "tenants": {tenant_id: {app_id: {...}}}, "tokens": {...}}``."""
        totals = Usage()
        tenants: dict[str, dict[str, Any]] = {}
        for (tenant_id, app_id), usage in sorted(self._usage.items()):
            totals.add(usage)
            tenants.setdefault(tenant_id, {})[app_id] = usage.as_dict()
        return {
            "totals": totals.as_dict(),
            "tenants": tenants,
            "tokens": {"issued": self.tokens_issued, "errors": self.token_errors},
        }
