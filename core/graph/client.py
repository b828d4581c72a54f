"""GraphClient: every call Rewind makes to Microsoft Graph goes through here."""

from __future__ import annotations

import asyncio
import json as json_module
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal

import httpx
import jwt
import structlog

from core.graph.auth import MsalTokenProvider, TokenProvider
from core.graph.batch import BatchRequest, BatchResponse, run_batch
from core.graph.classify import classify_response
from core.graph.config import GraphConfig
from core.graph.costs import RequestCost, estimate_cost
from core.graph.delta import DeltaQuery
from core.graph.errors import AuthenticationFailed, ErrorKind, GraphError
from core.graph.limiter import GraphLimiter, shared_limiter
from core.graph.metrics import GraphMetrics
from core.graph.paging import YIELD_EVERY, iter_pages
from core.graph.retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after, status_is_retryable
from core.graph.transport import GraphUrls, build_http_client, transport_error

ThrottlePriority = Literal["Low", "Normal", "High"]
_USER_AGENT = "rewind-entra/0.1"


@dataclass(frozen=True)
class GraphResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    json: Any  # parsed body, None when empty or not JSON
    attempts: int = 1


def header_units(response: GraphResponse) -> float | None:
    """The ``x-ms-resource-unit`` Graph charged for a response, if it said."""
    raw = response.headers.get("x-ms-resource-unit")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class GraphClient:
    def __init__(
        self,
        config: GraphConfig,
        *,
        token_provider: TokenProvider | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: GraphLimiter | None = None,
        retry: RetryPolicy | None = None,
        throttle_priority: ThrottlePriority | None = None,
    ) -> None:
        self.config = config
        self.metrics = GraphMetrics()
        self._urls = GraphUrls(config)
        self._owned_tokens: MsalTokenProvider | None = None
        if token_provider is None:
            token_provider = self._owned_tokens = MsalTokenProvider(config)
        self._tokens = token_provider
        try:
            self._http = build_http_client(config, transport)
        except GraphError:
            self._close_tokens()
            raise
        self.limiter = limiter or shared_limiter(config)
        self.retry_policy = retry or RetryPolicy()
        self._priority = throttle_priority
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._log = structlog.get_logger("rewind.graph").bind(tenant_id=config.tenant_id)

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        self._close_tokens()

    def _close_tokens(self) -> None:
        if self._owned_tokens is not None:
            self._owned_tokens.close()

    # --- single requests -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> GraphResponse:
        """Send one request (throttled, retried, token refreshed); raise a GraphError unless it succeeds."""
        method = method.upper()
        try:
            url = self._urls.resolve(path_or_url, params)
            response = await self.exchange(method, url, json=json, headers=headers)
            if response.status >= 400:
                path = self._urls.relative_path(url)
                raise classify_response(
                    method, path, response.status, response.json, response.headers, attempts=response.attempts
                )
        except GraphError as err:
            self.metrics.errors[err.kind.value] += 1
            raise
        return response

    async def get(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body = (await self.request("GET", path_or_url, params=params, headers=headers)).json
        return body if isinstance(body, dict) else {}

    # --- collections -----------------------------------------------------------------------------------

    async def iter_pages(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        page_size: int | None = None,
        ahead: bool = True,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` along ``@odata.nextLink``, re-sending ``headers`` on every page;
        ``ahead``: see ``paging.follow_links``."""
        async for page in iter_pages(
            self, path, params=params, headers=headers, page_size=page_size, ahead=ahead
        ):
            yield page
            del page

    async def iter_items(self, path: str, **kw: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self.iter_pages(path, **kw):
            for position, item in enumerate(page):
                if position % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # see paging.YIELD_EVERY
                yield item
            del page  # not held while the next page is read

    def delta(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        delta_link: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DeltaQuery:
        """One delta round: from ``delta_link`` when given, else a full initial sync of ``path``."""
        return DeltaQuery(self, path, params=params, delta_link=delta_link, headers=headers)

    async def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
        try:
            return await run_batch(self, requests)
        except GraphError as err:
            self.metrics.errors[err.kind.value] += 1
            raise

    async def token_claims(self) -> dict[str, Any]:
        """Claims of the current access token, decoded WITHOUT verification (for diagnostics only)."""
        token = await self._access_token()
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationFailed(
                "the access token is not a readable JWT",
                hint="check REWIND_AUTHORITY_HOST points at Entra ID",
            ) from None
        return dict(claims)

    def resolve(self, path_or_url: str, params: Mapping[str, str] | None = None) -> httpx.URL:
        """The absolute URL for a path (against ``{graph_url}/{api_version}``) or a Graph link."""
        return self._urls.resolve(path_or_url, params)

    # --- the retry loop ---------------------------------------------------------------------------------

    async def exchange(
        self,
        method: str,
        url: httpx.URL,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        cost: RequestCost | None = None,
        idempotent: bool | None = None,
        units_of: Callable[[GraphResponse], float | None] = header_units,
    ) -> GraphResponse:
        """Send with limiter, retries and one token refresh; return the final response whatever its status.

        Raises a GraphError only when no response arrived (network, TLS) or no token could be had.
        """
        path = self._urls.relative_path(url)
        cost = cost or estimate_cost(method, path, dict(url.params))
        idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        request_id = str(uuid.uuid4())
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(method, url, json, headers, cost, request_id)
            if isinstance(outcome, GraphError):
                if (
                    outcome.kind is not ErrorKind.RETRYABLE
                    or not idempotent
                    or attempt >= self.config.max_attempts
                ):
                    raise outcome
                delay, reason = self.retry_policy.backoff(attempt), outcome.problem
            else:
                status = outcome.status
                if status != 429:  # a throttled request is not charged
                    units = units_of(outcome)
                    self.limiter.settle(cost, units)
                    self.metrics.resource_units += units or 0.0
                self._log.debug("graph.response", method=method, path=path, status=status, attempt=attempt)
                if status == 401 and not refreshed:
                    refreshed = True
                    attempt -= 1  # a stale token is not Graph failing
                    await self._refresh_token()
                    continue
                retry_after = parse_retry_after(outcome.headers)
                if status == 429:
                    self.limiter.throttled(
                        cost, retry_after, outcome.headers.get("x-ms-throttle-information")
                    )
                done = status < 400 or not status_is_retryable(status, method, idempotent=idempotent)
                if done or attempt >= self.config.max_attempts:
                    return replace(outcome, attempts=attempt)
                # After a 429 the limiter pauses the bucket over the same Retry-After, so waits don't add up.
                delay = retry_after if retry_after is not None else self.retry_policy.backoff(attempt)
                reason = f"HTTP {status}"
            self.metrics.retries += 1
            self._log.info(
                "graph.retry", method=method, path=path, attempt=attempt, reason=reason, delay_s=delay
            )
            if delay > 0:
                await self.limiter.clock.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: httpx.URL,
        json: Any,
        headers: Mapping[str, str] | None,
        cost: RequestCost,
        request_id: str,
    ) -> GraphResponse | GraphError:
        async with self._semaphore:
            waited = await self.limiter.acquire(cost)
            if waited > 0:
                self.metrics.limiter_waits += 1
                self.metrics.limiter_wait_s += waited
            token = await self._access_token()
            send_headers = {**(headers or {}), **self._standard_headers(token, request_id)}
            self.metrics.requests += 1
            try:
                # Streamed and closed here: httpx responses sit in reference cycles with the connection
                # pool, and a cached body there would stay alive until the next full garbage collection.
                raw = await self._http.send(
                    self._http.build_request(method, url, json=json, headers=send_headers), stream=True
                )
                try:
                    content = b"".join([chunk async for chunk in raw.aiter_bytes()])
                finally:
                    await raw.aclose()
            except Exception as exc:
                return transport_error(exc, url)
        if raw.status_code == 429:
            self.metrics.throttled += 1
        return GraphResponse(raw.status_code, raw.headers, _json_body(content))

    def _standard_headers(self, token: str, request_id: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "client-request-id": request_id,
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        if self._priority:
            headers["x-ms-throttle-priority"] = self._priority
        return headers

    async def _access_token(self) -> str:
        try:
            return await self._tokens.access_token()
        except GraphError:
            raise
        except Exception as exc:
            raise AuthenticationFailed(
                f"the token provider failed ({type(exc).__name__})",
                hint="check the Rewind credentials settings",
            ) from None

    async def _refresh_token(self) -> None:
        invalidate = getattr(self._tokens, "invalidate", None)
        if invalidate is not None:
            await invalidate()


def _json_body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json_module.loads(content)
    except ValueError:
        return None
