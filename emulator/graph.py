"""The Graph request pipeline: bearer token, permissions, throttling, faults, the directory, latency.

``execute`` runs one operation (a plain request or one ``$batch`` item) and always returns a
``GraphResponse`` with ``request-id``, ``client-request-id`` and ``x-ms-resource-unit``; the HTTP handler
here and ``emulator.batch`` turn it into bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from emulator import permissions
from emulator.costs import resource_units
from emulator.faults import abort_connection
from emulator.identity import base_url
from emulator.protocol import Caller, GraphRequest, GraphResponse, graph_error
from emulator.state import ADMIN_CALLER, STATE, EmulatorState, HostedTenantEntry
from emulator.tokens import AccessToken, TokenError

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
UNAUTHENTICATED = "(unauthenticated)"


@dataclass
class Outcome:
    response: GraphResponse
    # The connection must be dropped without an answer (an injected reset).
    reset: bool = False


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def stamp(response: GraphResponse, *, request_id: str, client_request_id: str, ru: int) -> GraphResponse:
    """Add Graph's per-response headers, and the request ids to an error's ``innerError``."""
    response.headers.setdefault("request-id", request_id)
    response.headers.setdefault("client-request-id", client_request_id)
    response.headers.setdefault("x-ms-resource-unit", str(ru))
    body = response.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = dict(body["error"])
        inner = error.get("innerError")
        inner = dict(inner) if isinstance(inner, dict) else {}
        inner.setdefault("date", utc_now())
        inner.setdefault("request-id", request_id)
        inner.setdefault("client-request-id", client_request_id)
        error["innerError"] = inner
        response.body = {**body, "error": error}
    return response


def unauthorized(message: str) -> GraphResponse:
    response = graph_error(401, "InvalidAuthenticationToken", message)
    response.headers["WWW-Authenticate"] = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        'client_id="00000003-0000-0000-c000-000000000000"'
    )
    return response


def too_many_requests(headers: dict[str, str]) -> GraphResponse:
    response = graph_error(429, "TooManyRequests", "Please retry again later.", headers)
    inner = {"code": "429", "message": "Please retry after", "status": "429"}
    response.body = {
        "error": {"code": "TooManyRequests", "message": "Please retry again later.", "innerError": inner}
    }
    return response


def authenticate(state: EmulatorState, authorization: str | None, base: str) -> AccessToken | GraphResponse:
    """The verified token of ``Authorization: Bearer ...``, or the 401 Graph would answer."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return unauthorized("Access token is empty.")
    try:
        token = state.signing_key.verify(
            credential.strip(), audiences=state.audiences(base), now=state.wall_clock()
        )
    except TokenError as exc:
        return unauthorized(str(exc))
    if token.tenant_id.lower() not in state.tenants:
        return unauthorized("Access token validation failure. The token's tenant is not hosted here.")
    return token


def _deleted_type_lookup(entry: HostedTenantEntry, request: GraphRequest) -> permissions.TypeLookup:
    def lookup(object_id: str) -> str | None:
        probe = GraphRequest(
            "GET", request.version, f"/directory/deletedItems/{object_id}", base_url=request.base_url
        )
        found = entry.tenant.handle(probe, ADMIN_CALLER)
        body = found.body
        return str(body.get("@odata.type")) if found.status == 200 and isinstance(body, dict) else None

    return lookup


async def execute(
    state: EmulatorState,
    token: AccessToken,
    request: GraphRequest,
    *,
    client_request_id: str,
    allow_reset: bool = True,
    encode: bool = False,
) -> Outcome:
    """Run one Graph operation as ``token``'s app; counted in ``state.counters``.

    ``encode``: serialise the JSON body here, inside the modelled response time (not for $batch items,
    whose bodies are embedded in the batch response).
    """
    request_id = str(uuid.uuid4())
    entry = state.tenants[token.tenant_id.lower()]
    record: dict[str, Any] = {"client_request_id": client_request_id}
    ru = resource_units(request.method, request.path, request.query)

    def done(response: GraphResponse, **extra: Any) -> Outcome:
        state.counters.operation(entry.tenant_id, token.app_id, status=response.status, **{**record, **extra})
        return Outcome(stamp(response, request_id=request_id, client_request_id=client_request_id, ru=ru))

    if request.path.strip("/").split("/")[0].lower() == "me":
        return done(
            graph_error(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        )
    needed = permissions.requirement(
        request.method, request.path, request.body, _deleted_type_lookup(entry, request)
    )
    if not permissions.satisfied(token.roles, needed):
        return done(
            graph_error(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
        )
    verdict = state.throttler.admit(
        method=request.method,
        path=request.path,
        query=request.query,
        app_id=token.app_id,
        tenant_id=entry.tenant_id,
        tenant_users=entry.tenant.user_count,
    )
    ru = verdict.resource_units
    record["early_retry"] = verdict.early_retry
    if verdict.throttled:
        return done(too_many_requests(verdict.headers))
    record["resource_units"] = ru
    fault = state.faults.draw()
    if fault is not None and fault.kind == "reset" and allow_reset:
        state.counters.operation(entry.tenant_id, token.app_id, status=0, fault=True, **record)
        return Outcome(GraphResponse(status=0), reset=True)
    if fault is not None and fault.kind == "error":
        await state.latency.wait(write=verdict.write, items=0)
        response = fault.response()
        response.headers.update(verdict.headers)
        return done(response, fault=True)
    caller = Caller(
        app_id=token.app_id,
        app_display_name=token.app_display_name,
        service_principal_id=token.service_principal_id,
    )
    handling_started = time.monotonic()
    response = entry.tenant.handle(request, caller)
    if encode and isinstance(response.body, dict | list):
        response.body = json.dumps(response.body).encode()
        response.headers["Content-Type"] = GRAPH_CONTENT_TYPE
    slow = fault.extra_delay_s if fault is not None and fault.kind == "slow" else 0.0
    spent = time.monotonic() - handling_started
    await state.latency.wait(write=verdict.write, items=response.items, extra_s=slow, spent_s=spent)
    for name, value in verdict.headers.items():
        response.headers.setdefault(name, value)
    return done(response, write=verdict.write, items=response.items, fault=slow > 0)


def web_response(response: GraphResponse) -> web.Response:
    headers = dict(response.headers)
    body = response.body
    if body is None:
        return web.Response(status=response.status, headers=headers)
    if isinstance(body, bytes):
        headers.setdefault("Content-Type", "application/octet-stream")
        return web.Response(status=response.status, body=body, headers=headers)
    if isinstance(body, str) and not headers.get("Content-Type", "").startswith("application/json"):
        headers.setdefault("Content-Type", "text/plain")
        return web.Response(status=response.status, text=body, headers=headers)
    headers.setdefault("Content-Type", GRAPH_CONTENT_TYPE)
    return web.Response(status=response.status, text=json.dumps(body), headers=headers)


def graph_path(request: web.Request, version: str) -> str:
    """The percent-decoded path after ``/{version}``, starting with ``/``."""
    raw = request.rel_url.raw_path
    rest = raw[len(version) + 1 :] if raw.startswith(f"/{version}") else raw
    return unquote(rest) or "/"


def parse_body(raw: bytes) -> tuple[Any, bool]:
    """(parsed JSON or None, ok)."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def invalid_json() -> GraphResponse:
    return graph_error(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
        "valid JSON format.",
    )


async def graph_endpoint(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    version = request.match_info["version"]
    path = graph_path(request, version)
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    base = base_url(request)
    token = authenticate(state, request.headers.get("Authorization"), base)
    if isinstance(token, GraphResponse):
        ru = resource_units(request.method, path, request.query)
        state.counters.operation(UNAUTHENTICATED, UNAUTHENTICATED, status=token.status)
        stamp(token, request_id=str(uuid.uuid4()), client_request_id=client_request_id, ru=ru)
        return web_response(token)
    body, ok = parse_body(await request.read())
    if not ok:
        response = invalid_json()
        state.counters.operation(state.tenants[token.tenant_id.lower()].tenant_id, token.app_id, status=400)
        stamp(response, request_id=str(uuid.uuid4()), client_request_id=client_request_id, ru=1)
        return web_response(response)
    graph_request = GraphRequest(
        method=request.method.upper(),
        version=version,
        path=path,
        query={k: v for k, v in request.query.items()},
        # The bearer token stays here: the directory has no use for it and must not be able to log it.
        headers={k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
        body=body,
        base_url=base,
    )
    outcome = await execute(state, token, graph_request, client_request_id=client_request_id, encode=True)
    if outcome.reset:
        abort_connection(request)
        # Nothing reaches the client: aiohttp drops writes to an aborted transport.
        return web.Response(status=500)
    return web_response(outcome.response)
