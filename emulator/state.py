"""Everything one running emulator holds: tenants, app registrations, the signing key, limits and counters.

All of it is touched only from the server's event loop; tests read it directly for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from emulator.apps import AppRegistration, AppRegistry
from emulator.config import EmulatorConfig
from emulator.counters import Counters
from emulator.faults import FaultInjector, LatencyModel
from emulator.permissions import ALL_SECTION_6
from emulator.protocol import Caller, TenantDirectory
from emulator.throttling import Clock, Throttler
from emulator.tokens import GRAPH_APP_ID, SigningKey

_NAMESPACE = uuid.UUID("5f0c0a53-9d0e-4c5b-8f43-7265776e6430")  # fixed, so seeds give stable ids
ADMIN_APP_ID = str(uuid.uuid5(_NAMESPACE, "emulator-admin"))
ADMIN_CALLER = Caller(app_id=ADMIN_APP_ID, app_display_name="Emulator Admin")
DEFAULT_APP_NAME = "Rewind (emulator default app)"


class HostedTenant(TenantDirectory, Protocol):
    """What the server uses of ``emulator.directory.Tenant`` beyond the seam protocol."""

    options: Any

    def ensure_service_principal(self, app_id: str, display_name: str) -> str: ...

    def resolves_domain(self, name: str) -> bool: ...


# (users, seed, tenant id or None) -> (tenant, its default domain)
TenantFactory = Callable[[int, int, str | None], tuple[HostedTenant, str]]


def directory_tenant(users: int, seed: int, tenant_id: str | None) -> tuple[HostedTenant, str]:
    """A generated tenant loaded into the real directory model."""
    from emulator.directory import DirectoryOptions, Tenant
    from emulator.generator import generate_tenant

    tenant_seed = generate_tenant(tenant_id, users=users, seed=seed)
    tenant: HostedTenant = Tenant.from_seed(tenant_seed, DirectoryOptions())
    return tenant, tenant_seed.default_domain


def default_client_id(seed: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"default-app/{seed}"))


def default_client_secret(seed: int) -> str:
    # Shaped like an Entra secret ("xxx8Q~" + 34 chars); derived from the seed, as this is a test tool.
    digest = base64.urlsafe_b64encode(
        hashlib.sha256(f"rewind-emulator-secret/{seed}".encode()).digest()
    ).decode()
    return f"Emu8Q~{digest[:34]}"


class DuplicateTenantError(ValueError):
    """A tenant with that id is already hosted."""


@dataclass
class HostedTenantEntry:
    tenant: HostedTenant
    domain: str

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id


class EmulatorState:
    """The emulator's whole state; the aiohttp app carries it under :data:`STATE`."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        tenant_factory: TenantFactory = directory_tenant,
    ) -> None:
        self._config = config or EmulatorConfig()
        self.clock = clock
        self.wall_clock = wall_clock
        self.tenant_factory = tenant_factory
        self.tenants: dict[str, HostedTenantEntry] = {}
        self.apps = AppRegistry()
        self.signing_key = SigningKey()
        self.counters = Counters()
        self.throttler = Throttler(self._config.throttling, clock)
        self.faults = FaultInjector(self._config.faults)
        self.latency = LatencyModel(self._config.latency)
        self.default_app_id: str | None = None

    def __repr__(self) -> str:
        return f"EmulatorState(tenants={list(self.tenants)}, apps={len(self.apps.all())})"

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def configure(self, config: EmulatorConfig) -> None:
        """Swap the config live: limits, latency, faults, and every tenant's directory options."""
        self._config = config
        self.throttler.configure(config.throttling)
        self.faults.configure(config.faults)
        self.latency.config = config.latency
        for entry in self.tenants.values():
            self._push_directory_options(entry.tenant)

    def _push_directory_options(self, tenant: HostedTenant) -> None:
        c = self._config
        tenant.options.replication_lag_s = c.replication_lag_s
        for name in ("delta_token_ttl_s", "delta_page_size", "delta_member_chunk"):
            value = getattr(c, name)
            if value is not None:
                setattr(tenant.options, name, value)

    # Tenants

    def add_tenant(self, *, users: int, seed: int, tenant_id: str | None = None) -> HostedTenantEntry:
        if tenant_id and tenant_id.lower() in self.tenants:
            raise DuplicateTenantError(f"tenant {tenant_id} already exists")
        tenant, domain = self.tenant_factory(users, seed, tenant_id)
        if tenant.tenant_id.lower() in self.tenants:
            raise DuplicateTenantError(f"tenant {tenant.tenant_id} already exists (seed {seed} is taken)")
        self._push_directory_options(tenant)
        entry = HostedTenantEntry(tenant=tenant, domain=domain)
        self.tenants[tenant.tenant_id.lower()] = entry
        default = self.apps.get(self.default_app_id) if self.default_app_id else None
        if default is not None:
            self.grant(default, entry, list(ALL_SECTION_6))
        return entry

    def find_tenant(self, name: str) -> HostedTenantEntry | None:
        """A tenant by id or by one of its domains (case-insensitive)."""
        entry = self.tenants.get(name.lower())
        if entry is not None:
            return entry
        return next((e for e in self.tenants.values() if e.tenant.resolves_domain(name)), None)

    # Apps

    def grant(self, app: AppRegistration, entry: HostedTenantEntry, roles: list[str]) -> str:
        """Consent ``roles`` for ``app`` in a tenant; creates its service principal, as admin consent does."""
        app.grants[entry.tenant_id] = frozenset(roles)
        return entry.tenant.ensure_service_principal(app.client_id, app.display_name)

    def register_app(
        self,
        *,
        tenant_id: str,
        roles: list[str],
        client_id: str | None = None,
        client_secret: str | None = None,
        certificate_pem: str | None = None,
        display_name: str | None = None,
    ) -> tuple[AppRegistration, str]:
        """Register (or extend) an app in a tenant; returns it and its service principal id there."""
        entry = self.find_tenant(tenant_id)
        if entry is None:
            raise LookupError(f"no tenant {tenant_id}")
        app = self.apps.register(
            client_id or str(uuid.uuid4()),
            display_name=display_name,
            client_secret=client_secret,
            certificate_pem=certificate_pem,
        )
        return app, self.grant(app, entry, roles)

    def register_default_app(self, seed: int, certificate_pem: str | None = None) -> tuple[str, str]:
        """The app every tenant grants all section 6 permissions: (client id, client secret)."""
        client_id, secret = default_client_id(seed), default_client_secret(seed)
        app = self.apps.register(
            client_id, display_name=DEFAULT_APP_NAME, client_secret=secret, certificate_pem=certificate_pem
        )
        self.default_app_id = client_id
        for entry in self.tenants.values():
            self.grant(app, entry, list(ALL_SECTION_6))
        return client_id, secret

    def audiences(self, base_url: str) -> set[str]:
        """``aud`` values Graph accepts here: the Graph root, Graph's app id and the emulator's own URL."""
        return {self._config.graph_root.rstrip("/"), GRAPH_APP_ID, base_url.rstrip("/")}


STATE = web.AppKey("emulator_state", EmulatorState)
