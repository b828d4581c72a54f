"""``/_emulator/``: the control plane tests, benchmarks and the demo use (no auth; the server binds loopback).

Requests made through ``act`` and ``incident`` reach the directory directly, as a person (``actor``) or as the
"Emulator Admin" app: no token, no throttling, no latency, no faults, not counted.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from emulator.apps import CredentialError
from emulator.incidents import AdminError, caller_for, graph_call, run_incident
from emulator.state import STATE, DuplicateTenantError, EmulatorState, HostedTenantEntry


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        payload = json.loads(await request.read() or b"{}")
    except ValueError:
        raise AdminError(400, "the body must be JSON") from None
    if not isinstance(payload, dict):
        raise AdminError(400, "the body must be a JSON object")
    return payload


def _entry(state: EmulatorState, request: web.Request) -> HostedTenantEntry:
    name = request.match_info["tid"]
    entry = state.find_tenant(name)
    if entry is None:
        raise AdminError(404, f"no tenant {name}")
    return entry


def _tenant_json(entry: HostedTenantEntry) -> dict[str, Any]:
    return {"tenant_id": entry.tenant_id, "domain": entry.domain, "users": entry.tenant.user_count()}


async def info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "tenants": [_tenant_json(e) for e in state.tenants.values()],
            "client_id": state.default_app_id,
            "apps": [
                {"client_id": a.client_id, "display_name": a.display_name, "tenants": sorted(a.grants)}
                for a in state.apps.all()
            ],
            "config": state.config.model_dump(mode="json"),
        }
    )


async def add_tenant(request: web.Request) -> web.Response:
    state, payload = request.app[STATE], await _json(request)
    users, seed, tenant_id = payload.get("users", 50), payload.get("seed"), payload.get("tenant_id")
    if not isinstance(users, int) or users < 1 or not isinstance(seed, int):
        raise AdminError(400, "users (a positive integer) and seed (an integer) are required")
    try:
        entry = state.add_tenant(users=users, seed=seed, tenant_id=tenant_id)
    except DuplicateTenantError as exc:
        raise AdminError(409, str(exc)) from None
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return web.json_response(_tenant_json(entry), status=201)


async def register_app(request: web.Request) -> web.Response:
    state, payload = request.app[STATE], await _json(request)
    roles = payload.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AdminError(400, "roles must be a list of application permission names")
    name = payload.get("tenant_id") or next(iter(state.tenants.values())).tenant_id
    entry = state.find_tenant(str(name))
    if entry is None:
        raise AdminError(404, f"no tenant {name}")
    secret, certificate = payload.get("client_secret"), payload.get("certificate_pem")
    client_id = payload.get("client_id")
    generated = None
    if not secret and not certificate and (client_id is None or state.apps.get(client_id) is None):
        generated = secret = _new_secret()
    try:
        app, sp_id = state.register_app(
            tenant_id=entry.tenant_id,
            roles=roles,
            client_id=client_id,
            client_secret=secret,
            certificate_pem=certificate,
            display_name=payload.get("display_name"),
        )
    except CredentialError as exc:
        raise AdminError(400, str(exc)) from None
    body: dict[str, Any] = {
        "client_id": app.client_id,
        "display_name": app.display_name,
        "tenant_id": entry.tenant_id,
        "roles": sorted(roles),
        "service_principal_id": sp_id,
        "certificate_thumbprints": app.certificate_thumbprints,
    }
    if generated:
        body["client_secret"] = generated
    return web.json_response(body, status=201)


def _new_secret() -> str:
    return f"Emu8Q~{secrets.token_urlsafe(26)[:34]}"


async def dump(request: web.Request) -> web.Response:
    entry = _entry(request.app[STATE], request)
    return web.json_response(entry.tenant.dump())


async def act(request: web.Request) -> web.Response:
    entry, payload = _entry(request.app[STATE], request), await _json(request)
    method, path = payload.get("method", "GET"), payload.get("path")
    if not isinstance(method, str) or not isinstance(path, str) or not path:
        raise AdminError(400, "act needs method and path")
    base = f"{request.scheme}://{request.host}"
    caller = caller_for(entry, payload.get("actor"), base)
    response = graph_call(
        entry, method, path, payload.get("body"), str(payload.get("version", "v1.0")), caller, base
    )
    return web.json_response({"status": response.status, "headers": response.headers, "body": response.body})


async def incident(request: web.Request) -> web.Response:
    entry, payload = _entry(request.app[STATE], request), await _json(request)
    steps = run_incident(entry, payload, f"{request.scheme}://{request.host}")
    status = max(s["status"] for s in steps)
    failed = next((s for s in steps if s["status"] >= 400), None)
    if failed is None:
        return web.json_response({"steps": steps, "status": status})
    # A staged incident that did not happen must not pass silently: 422, with what Graph said.
    body = failed["body"] if isinstance(failed["body"], dict) else {}
    reason = body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else ""
    message = f"incident step {failed['method']} {failed['path']} failed with {failed['status']}: {reason}"
    return web.json_response({"error": message, "steps": steps, "status": status}, status=422)


async def expire_delta_tokens(request: web.Request) -> web.Response:
    _entry(request.app[STATE], request).tenant.expire_delta_tokens()
    return web.json_response({"expired": True})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.model_dump(mode="json"))


async def patch_config(request: web.Request) -> web.Response:
    state, payload = request.app[STATE], await _json(request)
    try:
        state.configure(state.config.patched(payload))
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return web.json_response(state.config.model_dump(mode="json"))


async def counters(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].counters.snapshot())


async def reset_counters(request: web.Request) -> web.Response:
    request.app[STATE].counters.reset()
    return web.json_response({"reset": True})


@web.middleware
async def admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except AdminError as exc:
        return _error(exc.status, str(exc))
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_emulator/info", info)
    r.add_post("/_emulator/tenants", add_tenant)
    r.add_post("/_emulator/apps", register_app)
    r.add_get("/_emulator/tenants/{tid}/dump", dump)
    r.add_post("/_emulator/tenants/{tid}/act", act)
    r.add_post("/_emulator/tenants/{tid}/incident", incident)
    r.add_post("/_emulator/tenants/{tid}/expire-delta-tokens", expire_delta_tokens)
    r.add_get("/_emulator/config", get_config)
    r.add_patch("/_emulator/config", patch_config)
    r.add_get("/_emulator/counters", counters)
    r.add_post("/_emulator/counters/reset", reset_counters)
