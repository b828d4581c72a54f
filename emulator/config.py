"""Every knob of the emulator's server, with the production value each one models.

The config is immutable; ``PATCH /_emulator/config`` and ``EmulatorHandle.configure`` build a new one with
:meth:`EmulatorConfig.patched` and the server swaps it in, so a request always sees one consistent config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)

Ratio = Annotated[float, Field(ge=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ThrottlingConfig(_Section):
    """Graph's identity-and-access limits (graph-api.md section 5, from Graph's throttling-limits page).

    Every limit is a token bucket that refills continuously: ``limit`` requests (or resource units) per
    ``window_s`` seconds, and a burst of up to ``limit`` at once.
    """

    enabled: bool = True
    """Off: no request is ever throttled (resource units are still computed and reported)."""
    ru_window_s: PositiveFloat = 10.0
    """Refill window of the per app+tenant resource-unit bucket."""
    ru_quota_small: PositiveInt = 3_500
    """RU per window for a tenant with fewer than ``medium_tenant_users`` users (S)."""
    ru_quota_medium: PositiveInt = 5_000
    """RU per window for a tenant of ``medium_tenant_users`` to ``large_tenant_users`` users (M)."""
    ru_quota_large: PositiveInt = 8_000
    """RU per window for a tenant with more than ``large_tenant_users`` users (L)."""
    medium_tenant_users: int = 50
    """Smallest user count of an M tenant."""
    large_tenant_users: int = 500
    """Largest user count of an M tenant; above it the tenant is L."""
    app_ru_quota: PositiveInt = 150_000
    """RU per ``app_ru_window_s`` for one app across all tenants."""
    app_ru_window_s: PositiveFloat = 20.0
    """Refill window of the per-app resource-unit bucket."""
    app_tenant_write_limit: PositiveInt = 3_000
    """Writes per ``app_tenant_write_window_s`` for one app in one tenant."""
    app_tenant_write_window_s: PositiveFloat = 150.0
    """Refill window of the per app+tenant write quota (2 min 30 s)."""
    tenant_write_limit: PositiveInt = 18_000
    """Writes per ``tenant_write_window_s`` in one tenant, all apps together."""
    tenant_write_window_s: PositiveFloat = 300.0
    """Refill window of the per-tenant write quota."""
    app_write_limit: PositiveInt = 35_000
    """Writes per ``app_write_window_s`` for one app across all tenants."""
    app_write_window_s: PositiveFloat = 300.0
    """Refill window of the per-app write quota."""
    conditional_access_limit: PositiveInt = 1
    """Requests per ``conditional_access_window_s`` to /identity/conditionalAccess, per tenant, all apps.
    These 429s carry no Retry-After, as in production."""
    conditional_access_window_s: PositiveFloat = 1.0
    """Refill window of the Conditional Access limit."""
    reports_limit: PositiveInt = 5
    """Requests per ``reports_window_s`` to /auditLogs, per app per tenant."""
    reports_window_s: PositiveFloat = 10.0
    """Refill window of the reports limit."""
    warn_ratio: Ratio = 0.8
    """Share of a bucket in use above which responses carry ``x-ms-throttle-limit-percentage``."""


class LatencyConfig(_Section):
    """How long a Graph response takes: ``base + per_item_s * items`` (+ jitter), slept with asyncio.

    Microsoft publishes no latency figures. The defaults are an assumption from community measurements of
    app-only directory calls from an Azure region: a small GET returns in roughly 50-150 ms, a 999-item
    ``/users`` page in roughly half a second, and writes take about twice as long as reads.
    """

    enabled: bool = True
    """Off: responses are immediate (tests)."""
    read_base_s: NonNegativeFloat = 0.06
    """Fixed cost of a read."""
    write_base_s: NonNegativeFloat = 0.12
    """Fixed cost of a write (POST/PATCH/PUT/DELETE other than read-only actions)."""
    per_item_s: NonNegativeFloat = 0.0004
    """Added per item the response carries (``GraphResponse.items``)."""
    jitter_ratio: NonNegativeFloat = 0.25
    """Up to this share of the computed delay is added at random (never subtracted)."""


class FaultConfig(_Section):
    """Seeded fault injection on Graph requests (not on the token endpoint or the admin API).

    Each Graph request draws once: ``error_rate`` answers with a random status from ``error_statuses`` without
    reaching the directory; ``reset_rate`` aborts the connection without any response; ``slow_rate`` adds
    ``slow_extra_s`` before answering normally. Defaults are the rates used when faults are switched on.
    """

    enabled: bool = False
    """Off: no fault is ever injected, whatever the rates."""
    seed: int = 0
    """Seed of the fault generator: the same request sequence meets the same faults."""
    error_rate: Ratio = 0.01
    """Share of requests answered with an injected 5xx."""
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    """Statuses an injected error picks from, uniformly."""
    retry_after_ratio: Ratio = 0.5
    """Share of injected 503s that carry a Retry-After header."""
    retry_after_s: NonNegativeInt = 2
    """Retry-After value of those 503s."""
    reset_rate: Ratio = 0.002
    """Share of requests whose connection is reset without a response (never a $batch item)."""
    slow_rate: Ratio = 0.01
    """Share of requests answered ``slow_extra_s`` late."""
    slow_extra_s: NonNegativeFloat = 3.0
    """Delay added to a slow response, on top of the latency model."""


class EmulatorConfig(_Section):
    """The whole server config. ``EmulatorConfig()``: production throttling and latency, no replication
    lag, no faults; :meth:`realistic` adds replication lag; :meth:`for_tests` also switches latency off."""

    throttling: ThrottlingConfig = ThrottlingConfig()
    """Resource units, write quotas, Conditional Access and reports limits."""
    latency: LatencyConfig = LatencyConfig()
    """How long each Graph response takes."""
    faults: FaultConfig = FaultConfig()
    """Injected 5xx, connection resets and slow responses."""
    replication_lag_s: NonNegativeFloat = 0.0
    """Seconds before a write is visible to other reads (pushed into every tenant's directory options).
    Production lag is "a few seconds" (graph-api.md section 2)."""
    delta_token_ttl_s: PositiveFloat | None = None
    """Delta token lifetime; None keeps the directory's default (7 days, as in production)."""
    delta_page_size: PositiveInt | None = None
    """Items per delta page; None keeps the directory's default."""
    delta_member_chunk: PositiveInt | None = None
    """``members@delta`` entries per repeated group object; None keeps the directory's default."""
    token_lifetime_s: PositiveInt = 3599
    """``expires_in`` of issued access tokens."""
    graph_root: str = "https://graph.microsoft.com"
    """Graph root whose ``/.default`` scope the token endpoint accepts (besides the emulator's own URL)."""

    @classmethod
    def realistic(cls) -> EmulatorConfig:
        """Production throttling and latency, one second of replication lag, no injected faults."""
        return cls(replication_lag_s=1.0)

    @classmethod
    def for_tests(cls) -> EmulatorConfig:
        """Production throttling, no latency, no faults, no replication lag."""
        return cls(latency=LatencyConfig(enabled=False))

    def with_switches(
        self, *, throttling: bool | None = None, latency: bool | None = None, faults: bool | None = None
    ) -> EmulatorConfig:
        """A copy with whole sections switched on or off; None leaves a section as it is."""
        patch: dict[str, Any] = {}
        for name, value in (("throttling", throttling), ("latency", latency), ("faults", faults)):
            if value is not None:
                patch[name] = {"enabled": value}
        return self.patched(patch)

    def patched(self, patch: Mapping[str, Any]) -> EmulatorConfig:
        """A copy with ``patch`` deep-merged in: ``{"throttling": {"ru_quota_small": 10}}``.

        Raises ValueError naming the offending keys when the result is not a valid config.
        """
        merged = _deep_merge(self.model_dump(), patch)
        try:
            return EmulatorConfig.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_input=False)
            )
            raise ValueError(f"invalid emulator config: {problems}") from None


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            out[key] = _deep_merge(current, value)
        else:
            out[key] = value
    return out
