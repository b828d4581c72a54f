"""JSON ``$batch`` (graph-api.md section 4): up to 20 operations, each through the full Graph pipeline.

Items run concurrently unless ``dependsOn`` orders them; a dependent of a failed item gets 424. A throttled
item is a 429 *inside* an outer 200. Responses come back in a fixed order that is deliberately not request
order (by dependency level, then a hash of the id), to catch clients that assume otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web

from emulator.graph import authenticate, execute, invalid_json, parse_body, stamp, web_response
from emulator.identity import base_url
from emulator.protocol import GraphRequest, GraphResponse, graph_error
from emulator.state import STATE, EmulatorState
from emulator.tokens import AccessToken

MAX_REQUESTS = 20
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


class BatchError(ValueError):
    """The batch as a whole is malformed: answered with a single 400."""


@dataclass(frozen=True)
class BatchItem:
    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    depends_on: tuple[str, ...]


def parse_items(payload: Any) -> list[BatchItem]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise BatchError('Invalid batch payload format: expected {"requests": [...]}.')
    raw_items: list[Any] = payload["requests"]
    if not raw_items:
        raise BatchError("A batch request must contain at least one request.")
    if len(raw_items) > MAX_REQUESTS:
        raise BatchError(
            f"The number of requests in the batch ({len(raw_items)}) exceeds the allowed limit of "
            f"{MAX_REQUESTS}."
        )
    items: list[BatchItem] = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            raise BatchError("Each batch request must be a JSON object.")
        item_id, method, url = raw.get("id"), raw.get("method"), raw.get("url")
        if not isinstance(item_id, str | int) or str(item_id) == "":
            raise BatchError("Each batch request must have an id.")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise BatchError(f"Request id {item_id}: invalid or missing method.")
        if not isinstance(url, str) or not url:
            raise BatchError(f"Request id {item_id}: missing url.")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict):
            raise BatchError(f"Request id {item_id}: headers must be an object.")
        headers = {str(k).lower(): str(v) for k, v in headers.items()}
        if "body" in raw and raw["body"] is not None and "content-type" not in headers:
            raise BatchError(f"Write request id : {item_id} does not contain Content-Type header or body.")
        depends = raw.get("dependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str | int) for d in depends):
            raise BatchError(f"Request id {item_id}: dependsOn must be a list of request ids.")
        items.append(
            BatchItem(
                str(item_id), method.upper(), url, headers, raw.get("body"), tuple(str(d) for d in depends)
            )
        )
    ids = [item.id for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BatchError(f"Batch request ids must be unique: {', '.join(duplicates)} appear more than once.")
    for item in items:
        unknown = [d for d in item.depends_on if d not in ids]
        if unknown:
            raise BatchError(f"Request id {item.id} depends on unknown request ids: {', '.join(unknown)}.")
    return items


def levels(items: list[BatchItem]) -> list[list[BatchItem]]:
    """Items grouped into rounds: each round depends only on earlier rounds."""
    done: set[str] = set()
    pending = list(items)
    rounds: list[list[BatchItem]] = []
    while pending:
        ready = [item for item in pending if all(d in done for d in item.depends_on)]
        if not ready:
            raise BatchError("dependsOn forms a cycle.")
        rounds.append(ready)
        done.update(item.id for item in ready)
        pending = [item for item in pending if item.id not in done]
    return rounds


def _sub_request(item: BatchItem, version: str, base: str) -> GraphRequest | None:
    parts = urlsplit(item.url)
    if parts.scheme or parts.netloc:
        return None  # batch urls are relative to the version root
    path = "/" + unquote(parts.path).lstrip("/")
    return GraphRequest(
        method=item.method,
        version=version,
        path=path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=item.headers,
        body=item.body,
        base_url=base,
    )


async def _run_item(
    state: EmulatorState, token: AccessToken, item: BatchItem, version: str, base: str
) -> GraphResponse:
    client_request_id = item.headers.get("client-request-id") or str(uuid.uuid4())
    sub = _sub_request(item, version, base)
    if sub is None or sub.path.strip("/").lower() == "$batch":
        response = graph_error(
            400, "BadRequest", f"Invalid request url for batch item {item.id}: '{item.url}'."
        )
        return stamp(response, request_id=str(uuid.uuid4()), client_request_id=client_request_id, ru=1)
    outcome = await execute(state, token, sub, client_request_id=client_request_id, allow_reset=False)
    return outcome.response


def _item_json(item_id: str, response: GraphResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    out: dict[str, Any] = {"id": item_id, "status": response.status, "headers": headers}
    if response.body is not None:
        headers.setdefault("Content-Type", "application/json")
        out["body"] = response.body
    return out


async def run_batch(
    state: EmulatorState, token: AccessToken, items: list[BatchItem], version: str, base: str
) -> list[dict[str, Any]]:
    results: dict[str, GraphResponse] = {}
    order: list[tuple[int, str, str]] = []
    tenant_id = state.tenants[token.tenant_id.lower()].tenant_id
    for level, round_items in enumerate(levels(items)):
        runnable = [i for i in round_items if all(results[d].status < 400 for d in i.depends_on)]
        for item in round_items:
            order.append((level, hashlib.sha256(item.id.encode()).hexdigest(), item.id))
            if item not in runnable:
                failed = graph_error(
                    424, "FailedDependency", "The request cannot be performed because of a failed dependency."
                )
                results[item.id] = stamp(
                    failed, request_id=str(uuid.uuid4()), client_request_id=str(uuid.uuid4()), ru=0
                )
                state.counters.operation(tenant_id, token.app_id, status=424)
        answers = await asyncio.gather(*(_run_item(state, token, i, version, base) for i in runnable))
        results.update({i.id: answer for i, answer in zip(runnable, answers, strict=True)})
    return [_item_json(item_id, results[item_id]) for _, _, item_id in sorted(order)]


async def batch_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE]
    version = request.match_info["version"]
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    request_id = str(uuid.uuid4())
    base = base_url(request)
    token = authenticate(state, request.headers.get("Authorization"), base)
    if isinstance(token, GraphResponse):
        return web_response(stamp(token, request_id=request_id, client_request_id=client_request_id, ru=1))
    tenant_id = state.tenants[token.tenant_id.lower()].tenant_id
    state.counters.batch(tenant_id, token.app_id)
    payload, ok = parse_body(await request.read())
    try:
        if not ok:
            return web_response(
                stamp(invalid_json(), request_id=request_id, client_request_id=client_request_id, ru=1)
            )
        items = parse_items(payload)
        levels(items)  # reject cycles before running anything
    except BatchError as exc:
        error = graph_error(400, "BadRequest", str(exc))
        return web_response(stamp(error, request_id=request_id, client_request_id=client_request_id, ru=1))
    responses = await run_batch(state, token, items, version, base)
    ru = sum(int(r["headers"].get("x-ms-resource-unit", 0)) for r in responses)
    outer = GraphResponse(status=200, body={"responses": responses})
    return web_response(stamp(outer, request_id=request_id, client_request_id=client_request_id, ru=ru))
