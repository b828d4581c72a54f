"""JSON $batch: chunks of 20, dependsOn kept together, throttled or failed items retried on their own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from core.graph.classify import RETRYABLE_STATUSES, classify_response
from core.graph.costs import RequestCost, estimate_cost
from core.graph.errors import BadRequest, ErrorKind, GraphError
from core.graph.retry import IDEMPOTENT_METHODS, parse_retry_after
from core.tasks import all_or_cancel

if TYPE_CHECKING:
    from core.graph.client import GraphClient, GraphResponse

MAX_BATCH = 20
_BUG_HINT = "this is a bug in the caller of GraphClient.batch()"


@dataclass
class BatchRequest:
    id: str
    method: str
    url: str  # relative to the version root, e.g. "/users/{id}"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)


@dataclass
class BatchResponse:
    id: str
    status: int
    headers: dict[str, str]  # keys lower-cased
    body: Any


def plan_chunks(requests: Sequence[BatchRequest]) -> list[list[BatchRequest]]:
    """Validate ids and dependsOn, then pack whole dependency groups into chunks of at most 20."""
    by_id: dict[str, BatchRequest] = {}
    for request in requests:
        if not request.id or request.id in by_id:
            raise BadRequest(f"batch request id {request.id!r} is empty or repeated", hint=_BUG_HINT)
        if "://" in request.url:
            raise BadRequest(f"batch request {request.id!r} has an absolute url", hint=_BUG_HINT)
        by_id[request.id] = request
    parent = {rid: rid for rid in by_id}

    def root(rid: str) -> str:
        while parent[rid] != rid:
            parent[rid] = parent[parent[rid]]
            rid = parent[rid]
        return rid

    for request in requests:
        for dep in request.depends_on:
            if dep not in by_id or dep == request.id:
                raise BadRequest(
                    f"batch request {request.id!r} depends on {dep!r}, which is not another request here",
                    hint=_BUG_HINT,
                )
            parent[root(dep)] = root(request.id)
    groups: dict[str, list[BatchRequest]] = {}
    for request in requests:
        groups.setdefault(root(request.id), []).append(request)
    chunks: list[list[BatchRequest]] = []
    for group in groups.values():
        if len(group) > MAX_BATCH:
            raise BadRequest(
                f"a dependsOn group of {len(group)} requests cannot fit one $batch (max {MAX_BATCH})",
                hint=_BUG_HINT,
            )
        if not chunks or len(chunks[-1]) + len(group) > MAX_BATCH:
            chunks.append([])
        chunks[-1].extend(_dependencies_first(group))
    return chunks


def _dependencies_first(group: list[BatchRequest]) -> list[BatchRequest]:
    ordered: list[BatchRequest] = []
    placed: set[str] = set()
    remaining = list(group)
    while remaining:
        ready = [r for r in remaining if all(dep in placed for dep in r.depends_on)]
        if not ready:
            raise BadRequest(
                f"batch requests {[r.id for r in remaining]} depend on each other in a cycle", hint=_BUG_HINT
            )
        ordered.extend(ready)
        placed.update(r.id for r in ready)
        remaining = [r for r in remaining if r.id not in placed]
    return ordered


def _wire(request: BatchRequest, in_round: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request.id, "method": request.method.upper(), "url": request.url}
    headers = dict(request.headers)
    if request.body is not None:
        item["body"] = request.body
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    if headers:
        item["headers"] = headers
    # A dependency that already succeeded in an earlier round is no longer part of the batch.
    depends = [dep for dep in request.depends_on if dep in in_round]
    if depends:
        item["dependsOn"] = depends
    return item


def _item_cost(request: BatchRequest) -> RequestCost:
    parts = urlsplit(request.url)
    return estimate_cost(request.method, parts.path, dict(parse_qsl(parts.query)))


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {}


def _status(raw: Any) -> int:
    return int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else 0


def _items(response: GraphResponse) -> list[Mapping[str, Any]]:
    body = response.json
    items = body.get("responses") if isinstance(body, Mapping) else None
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def batch_units(response: GraphResponse) -> float | None:
    """Resource units of a $batch: the sum over its items (the outer response is not the bill)."""
    units = [_lower(item.get("headers")).get("x-ms-resource-unit") for item in _items(response)]
    numbers = [float(u) for u in units if u is not None and u.replace(".", "", 1).isdigit()]
    return sum(numbers) if numbers else None


async def run_batch(client: GraphClient, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
    """Responses in request order. Items still failing after ``max_attempts`` are returned as answered."""
    chunks = plan_chunks(requests)
    results: dict[str, BatchResponse] = {}
    await all_or_cancel([_run_chunk(client, chunk, results) for chunk in chunks])  # one failure stops all
    return [results[request.id] for request in requests]


async def _run_chunk(
    client: GraphClient, chunk: list[BatchRequest], results: dict[str, BatchResponse]
) -> None:
    url = client.resolve("/$batch")
    pending = chunk
    attempt = 0
    while pending:
        attempt += 1
        in_round = {r.id for r in pending}
        cost = sum((_item_cost(r) for r in pending), RequestCost())
        response = await client.exchange(
            "POST",
            url,
            json={"requests": [_wire(r, in_round) for r in pending]},
            cost=cost,
            idempotent=all(r.method.upper() in IDEMPOTENT_METHODS for r in pending),
            units_of=batch_units,
        )
        if response.status >= 400:
            raise classify_response("POST", "$batch", response.status, response.json, response.headers)
        answered = {
            str(item.get("id")): BatchResponse(
                str(item.get("id")),
                _status(item.get("status")),
                _lower(item.get("headers")),
                item.get("body"),
            )
            for item in _items(response)
        }
        missing = in_round - answered.keys()
        if missing:
            raise GraphError(
                f"the $batch response has no answer for {sorted(missing)}",
                hint="Graph answered an incomplete batch; try again",
                kind=ErrorKind.RETRYABLE,
            )
        results.update(answered)
        client.metrics.batch_items += len(pending)
        client.metrics.throttled += sum(1 for r in pending if answered[r.id].status == 429)
        retry = _to_retry(pending, answered)
        if not retry or attempt >= client.config.max_attempts:
            return
        await _wait_before_retry(client, pending, answered, attempt)
        client.metrics.retries += len(retry)
        pending = retry


def _to_retry(pending: list[BatchRequest], answered: dict[str, BatchResponse]) -> list[BatchRequest]:
    """Items that failed transiently, plus items answered 424 because such an item failed first."""
    retry_ids = {r.id for r in pending if answered[r.id].status in RETRYABLE_STATUSES}
    changed = True
    while changed:
        changed = False
        for request in pending:
            if request.id in retry_ids or answered[request.id].status != 424:
                continue
            if any(dep in retry_ids for dep in request.depends_on):
                retry_ids.add(request.id)
                changed = True
    return [r for r in pending if r.id in retry_ids]


async def _wait_before_retry(
    client: GraphClient, pending: list[BatchRequest], answered: dict[str, BatchResponse], attempt: int
) -> None:
    failed = [r for r in pending if answered[r.id].status in RETRYABLE_STATUSES]
    waits = [parse_retry_after(answered[r.id].headers) for r in failed]
    known = [w for w in waits if w is not None]
    throttled = [r for r in failed if answered[r.id].status == 429]
    delay = max(known) if known else client.retry_policy.backoff(attempt)
    if throttled:
        cost = sum((_item_cost(r) for r in throttled), RequestCost())
        information = answered[throttled[0].id].headers.get("x-ms-throttle-information")
        client.limiter.throttled(cost, delay if known else None, information)
    await client.limiter.clock.sleep(delay)
