"""The emulator's HTTP server: one aiohttp app serving Entra's token endpoint, Graph and ``/_emulator/``.

``serve()`` is the blocking entry point behind ``rewind emulator``; ``emulator.testing.running_emulator`` runs
the same app on a background thread for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import admin, identity
from emulator.batch import batch_endpoint
from emulator.config import EmulatorConfig
from emulator.graph import graph_endpoint
from emulator.state import STATE, EmulatorState, TenantFactory, directory_tenant
from emulator.throttling import Clock
from emulator.tls import TlsMaterial, create_tls

_VERSION = r"{version:v1\.0|beta}"
MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(state: EmulatorState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[admin.admin_errors])
    app[STATE] = state
    admin.add_routes(app)
    app.router.add_post(f"/{_VERSION}/$batch", batch_endpoint)
    app.router.add_route("*", f"/{_VERSION}/{{path:.*}}", graph_endpoint)
    identity.add_routes(app)
    return app


@dataclass
class EmulatorSetup:
    """A built emulator before it listens: state, the default app's credentials and TLS material."""

    state: EmulatorState
    client_id: str
    client_secret: str = field(repr=False)
    tls: TlsMaterial | None
    state_dir: Path

    def describe(self, base_url: str) -> dict[str, Any]:
        """What ``info_file`` holds and ``serve()`` prints."""
        return {
            "base_url": base_url,
            "graph_url": base_url,
            "authority_host": base_url,
            "ca_path": str(self.tls.ca_path) if self.tls else None,
            "tenants": [
                {"tenant_id": e.tenant_id, "domain": e.domain, "users": e.tenant.user_count()}
                for e in self.state.tenants.values()
            ],
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "client_certificate_path": str(self.tls.client_certificate_path) if self.tls else None,
        }


def build(
    *,
    users: int = 50,
    seed: int = 1,
    tenants: int = 1,
    tls: bool = True,
    state_dir: Path | None = None,
    config: EmulatorConfig | None = None,
    clock: Clock | None = None,
    wall_clock: Callable[[], float] | None = None,
    tenant_factory: TenantFactory = directory_tenant,
) -> EmulatorSetup:
    """Generate tenants (seeds ``seed``, ``seed + 1``, ...), register the default app, make TLS material."""
    if tenants < 1:
        raise ValueError("tenants must be at least 1")
    directory = state_dir or Path(tempfile.mkdtemp(prefix="rewind-emulator-"))
    state = EmulatorState(
        config,
        clock=clock or time.monotonic,
        wall_clock=wall_clock or time.time,
        tenant_factory=tenant_factory,
    )
    for index in range(tenants):
        state.add_tenant(users=users, seed=seed + index)
    material = create_tls(directory) if tls else None
    client_id, secret = state.register_default_app(
        seed, certificate_pem=material.client_certificate_pem if material else None
    )
    return EmulatorSetup(
        state=state, client_id=client_id, client_secret=secret, tls=material, state_dir=directory
    )


async def start(
    setup: EmulatorSetup, host: str, port: int, *, shutdown_timeout: float = 5.0
) -> tuple[web.AppRunner, str]:
    """Listen; returns the runner (for ``cleanup()``) and the base URL clients should use."""
    runner = web.AppRunner(
        create_app(setup.state), access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    context = setup.tls.server_context if setup.tls else None
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"{'https' if context else 'http'}://{url_host(host)}:{bound}"


def url_host(host: str) -> str:
    """The host to put in URLs: loopback for wildcard binds, brackets around IPv6."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def write_info_file(path: Path, info: dict[str, Any]) -> None:
    """Write atomically, so a reader polling for the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info, out, indent=2)
    partial.replace(path)


def _banner(info: dict[str, Any]) -> list[str]:
    lines = [f"Rewind Graph emulator listening on {info['base_url']}"]
    for tenant in info["tenants"]:
        lines.append(f"  tenant {tenant['tenant_id']}  {tenant['domain']}  ({tenant['users']} users)")
    lines.append(f"  client id     {info['client_id']}")
    lines.append(f"  client secret {info['client_secret']}")
    if info["ca_path"]:
        lines.append(f"  CA            {info['ca_path']}")
        lines.append(f"  client cert   {info['client_certificate_path']}")
        lines.append(f"  export SSL_CERT_FILE={info['ca_path']} REQUESTS_CA_BUNDLE={info['ca_path']}")
    lines.append("  admin API     " + info["base_url"] + "/_emulator/info   (Ctrl-C stops)")
    return lines


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    users: int = 50,
    seed: int = 1,
    tenants: int = 1,
    tls: bool = True,
    state_dir: Path | None = None,
    info_file: Path | None = None,
    config: EmulatorConfig | None = None,
) -> None:
    """Run the emulator until SIGINT or SIGTERM; ``port=0`` picks a free port (see ``info_file``)."""
    setup = build(users=users, seed=seed, tenants=tenants, tls=tls, state_dir=state_dir, config=config)
    asyncio.run(_serve(setup, host, port, info_file))


async def _serve(setup: EmulatorSetup, host: str, port: int, info_file: Path | None) -> None:
    runner, base = await start(setup, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        info = setup.describe(base)
        print("\n".join(_banner(info)), flush=True)
        if info_file is not None:
            write_info_file(info_file, info)
        await stop.wait()
    finally:
        await runner.cleanup()
