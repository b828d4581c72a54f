"""``running_emulator()``: a real emulator on 127.0.0.1 for the duration of a ``with`` block.

The server runs on a background thread with its own event loop; the handle's helpers go through the real
admin HTTP API (httpx, trusting only the emulator's CA), and ``handle.state`` gives direct access for
assertions.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.server import EmulatorSetup, build, start
from emulator.state import EmulatorState, TenantFactory, directory_tenant
from emulator.throttling import Clock


class EmulatorAdminError(RuntimeError):
    """The admin API refused a helper call."""


class _ServerThread(threading.Thread):
    def __init__(self, setup: EmulatorSetup) -> None:
        super().__init__(name="graph-emulator", daemon=True)
        self.setup = setup
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.base_url = ""
        self.error: BaseException | None = None
        self._runner: web.AppRunner | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._runner, self.base_url = self.loop.run_until_complete(
                start(self.setup, "127.0.0.1", 0, shutdown_timeout=0.5)
            )
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
            self.ready.set()
            self.loop.close()
            return
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


@dataclass
class EmulatorHandle:
    base_url: str
    graph_url: str
    authority_host: str
    ca_path: str | None
    tenant_id: str
    tenant_ids: list[str]
    domain: str
    client_id: str
    client_secret: str = field(repr=False)
    client_certificate_path: str | None
    state: EmulatorState = field(repr=False)
    _http: httpx.Client = field(repr=False)

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, f"/_emulator{path}", json=body)
        if response.status_code >= 400:
            raise EmulatorAdminError(f"{method} /_emulator{path}: {response.status_code} {response.text}")
        return response.json()

    def _tenant(self, tenant_id: str | None) -> str:
        return tenant_id or self.tenant_id

    def dump(self, tenant_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", f"/tenants/{self._tenant(tenant_id)}/dump")
        return result

    def act(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        actor: str | None = None,
        tenant_id: str | None = None,
    ) -> tuple[int, Any]:
        """Run a Graph request straight on the directory, as ``actor`` (UPN or user id) or the admin app."""
        payload: dict[str, Any] = {"method": method, "path": path, "body": body}
        if actor:
            payload["actor"] = {"userPrincipalName": actor} if "@" in actor else {"id": actor}
        result = self._admin("POST", f"/tenants/{self._tenant(tenant_id)}/act", payload)
        return int(result["status"]), result["body"]

    def incident(self, kind: str, type: str, id: str, **kw: Any) -> Any:
        """Stage an incident: ``kind`` delete, hard-delete, modify (``patch=``) or remove-members
        (``member_ids=``); ``actor=`` a UPN or id; ``tenant_id=`` another tenant. Raises
        EmulatorAdminError when any step fails (the incident did not happen as asked)."""
        tenant = self._tenant(kw.pop("tenant_id", None))
        actor = kw.get("actor")
        if isinstance(actor, str):
            kw["actor"] = {"userPrincipalName": actor} if "@" in actor else {"id": actor}
        return self._admin(
            "POST", f"/tenants/{tenant}/incident", {"kind": kind, "type": type, "id": id, **kw}
        )

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "/counters")
        return result

    def reset_counters(self) -> None:
        self._admin("POST", "/counters/reset")

    def configure(self, **patch: Any) -> None:
        """Same as ``PATCH /_emulator/config``: ``configure(throttling={"ru_quota_small": 10})``."""
        self._admin("PATCH", "/config", patch)

    def register_app(
        self,
        *,
        roles: list[str],
        client_secret: str | None = None,
        certificate_pem: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Register an app granted ``roles``; returns its client id. Pass the secret or certificate to use."""
        body = {
            "tenant_id": self._tenant(tenant_id),
            "roles": roles,
            "client_secret": client_secret,
            "certificate_pem": certificate_pem,
        }
        return str(self._admin("POST", "/apps", body)["client_id"])

    def expire_delta_tokens(self, tenant_id: str | None = None) -> None:
        self._admin("POST", f"/tenants/{self._tenant(tenant_id)}/expire-delta-tokens")


@contextmanager
def running_emulator(
    *,
    users: int = 50,
    seed: int = 1,
    tenants: int = 1,
    tls: bool = True,
    config: EmulatorConfig | None = None,
    clock: Clock | None = None,
    wall_clock: Callable[[], float] | None = None,
    tenant_factory: TenantFactory = directory_tenant,
) -> Iterator[EmulatorHandle]:
    """An emulator on ``127.0.0.1:<free port>``; defaults to :meth:`EmulatorConfig.for_tests` (production
    throttling, no latency, no faults). ``clock`` drives throttling and ``wall_clock`` token times."""
    setup = build(
        users=users,
        seed=seed,
        tenants=tenants,
        tls=tls,
        config=config or EmulatorConfig.for_tests(),
        clock=clock,
        wall_clock=wall_clock,
        tenant_factory=tenant_factory,
    )
    server = _ServerThread(setup)
    server.start()
    started = server.ready.wait(timeout=30)
    try:
        if server.error is not None or not started:
            raise RuntimeError("the emulator did not start") from server.error
        verify = setup.tls.client_context() if setup.tls else False
        http = httpx.Client(base_url=server.base_url, verify=verify, trust_env=False, timeout=30)
        entries = list(setup.state.tenants.values())
        handle = EmulatorHandle(
            base_url=server.base_url,
            graph_url=server.base_url,
            authority_host=server.base_url,
            ca_path=str(setup.tls.ca_path) if setup.tls else None,
            tenant_id=entries[0].tenant_id,
            tenant_ids=[e.tenant_id for e in entries],
            domain=entries[0].domain,
            client_id=setup.client_id,
            client_secret=setup.client_secret,
            client_certificate_path=str(setup.tls.client_certificate_path) if setup.tls else None,
            state=setup.state,
            _http=http,
        )
        with http:
            yield handle
    finally:
        server.stop()
        shutil.rmtree(setup.state_dir, ignore_errors=True)
