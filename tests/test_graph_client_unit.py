"""Unit tests of core.graph over httpx.MockTransport, fake token providers and virtual clocks."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
import structlog
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from structlog.testing import capture_logs

from core.graph import (
    CLOUDS,
    AuthenticationFailed,
    BadRequest,
    BatchRequest,
    ClientCertificate,
    ClientSecret,
    DeltaTokenExpired,
    ErrorKind,
    GraphClient,
    GraphConfig,
    GraphError,
    GraphLimiter,
    GraphUnreachable,
    MsalTokenProvider,
    NotFound,
    PermissionDenied,
    RequestCost,
    RetryPolicy,
    Throttled,
    UntrustedCertificate,
    estimate_cost,
    merge_delta_entries,
    shared_limiter,
)
from core.graph.batch import plan_chunks
from core.graph.certificate import load_certificate
from core.graph.classify import classify_response
from core.graph.retry import parse_retry_after
from core.graph.signin_errors import error_from_exception, error_from_result

SECRET = "s3cr3t-VALUE-never-shown"
TENANT = "11111111-2222-3333-4444-555555555555"
CONFIG = GraphConfig(tenant_id=TENANT, client_id="app-id", credential=ClientSecret(SECRET), max_attempts=4)
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Time moves only when someone sleeps: sequential code gets exact, reproducible delays."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class VirtualClock:
    """Concurrent sleepers wake in time order; time jumps once every task is blocked."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, *coros: Coroutine[Any, Any, Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            if self._timers:
                when, _, future = heapq.heappop(self._timers)
                self.now = max(self.now, when)
                future.set_result(None)
        return [t.result() for t in tasks]


class FakeTokens:
    def __init__(self) -> None:
        self.generation = 0

    async def access_token(self) -> str:
        return f"token-{self.generation}"

    async def invalidate(self) -> None:
        self.generation += 1


def make_client(
    handler: Handler, *, config: GraphConfig = CONFIG, clock: FakeClock | None = None, **kw: Any
) -> GraphClient:
    limiter = GraphLimiter(config.resource_units_per_10s, clock=clock or FakeClock())
    return GraphClient(
        config,
        token_provider=FakeTokens(),
        transport=httpx.MockTransport(handler),
        limiter=limiter,
        retry=RetryPolicy(jitter=lambda: 0.5),
        **kw,
    )


def graph_error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened.\nSecond line.", "innerError": {}}}
    return httpx.Response(status, json=body, headers=headers or {})


def assert_one_line(err: BaseException) -> None:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text and SECRET not in text
    assert len(text) < 500


# --- config and clouds ----------------------------------------------------------------------------------


def test_clouds_and_endpoint_overrides() -> None:
    assert CLOUDS["global"].graph_url == "https://graph.microsoft.com"
    assert CLOUDS["usgov"].authority_host == "https://login.microsoftonline.us"
    assert CLOUDS["usgovdod"].graph_url == "https://dod-graph.microsoft.us"
    assert CLOUDS["china"].authority_host == "https://login.chinacloudapi.cn"
    assert CLOUDS["china"].graph_url == "https://microsoftgraph.chinacloudapi.cn"
    config = GraphConfig(
        tenant_id=TENANT,
        client_id="c",
        credential=ClientSecret(SECRET),
        cloud="usgov",
        graph_url="https://127.0.0.1:8443/",
    )
    assert config.endpoints().graph_url == "https://127.0.0.1:8443"
    assert config.endpoints().authority_host == "https://login.microsoftonline.us"
    assert config.authority == f"https://login.microsoftonline.us/{TENANT}"
    assert config.scope == "https://127.0.0.1:8443/.default"


def test_secrets_never_show_in_reprs() -> None:
    cert = ClientCertificate(Path("/x/cert.pem"), passphrase="pass-phrase-secret")
    for text in (repr(CONFIG), str(CONFIG), repr(CONFIG.credential), str(CONFIG.credential), repr(cert)):
        assert SECRET not in text and "pass-phrase-secret" not in text


async def test_usgov_config_targets_usgov_graph() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"value": []})

    config = GraphConfig(tenant_id=TENANT, client_id="c", credential=ClientSecret(SECRET), cloud="usgov")
    async with make_client(handler, config=config) as client:
        await client.get("/organization")
    assert str(seen[0]) == "https://graph.microsoft.us/v1.0/organization"


class RecordingAdapter(requests.adapters.BaseAdapter):
    """Answers MSAL's discovery and token calls like Entra ID would, recording every request."""

    def __init__(self, login_host: str, tenant: str) -> None:
        super().__init__()
        self.login_host = login_host
        self.tenant = tenant
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        base = f"https://{self.login_host}/{self.tenant}"
        if "openid-configuration" in str(request.url):
            body: dict[str, Any] = {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{base}/v2.0",
            }
        else:
            body = {"access_token": "header.payload.sig", "token_type": "Bearer", "expires_in": 3599}
        response = requests.Response()
        response.status_code = 200
        response.url = str(request.url)
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(body).encode()
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


async def test_usgov_msal_signs_in_at_usgov_login_for_usgov_graph() -> None:
    config = GraphConfig(tenant_id=TENANT, client_id="c", credential=ClientSecret(SECRET), cloud="usgov")
    provider = MsalTokenProvider(config)
    adapter = RecordingAdapter("login.microsoftonline.us", TENANT)
    provider.session.mount("https://", adapter)
    assert await provider.access_token() == "header.payload.sig"
    urls = [str(r.url) for r in adapter.requests]
    assert urls[0] == f"https://login.microsoftonline.us/{TENANT}/v2.0/.well-known/openid-configuration"
    assert urls[-1] == f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"
    token_body = str(adapter.requests[-1].body)
    assert "scope=https%3A%2F%2Fgraph.microsoft.us%2F.default" in token_body
    # The second call is served from MSAL's in-memory cache.
    await provider.access_token()
    assert len(adapter.requests) == len(urls)
    provider.close()


# --- error classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "error_type", "needle"),
    [
        ("GET", "users", 403, "Authorization_RequestDenied", PermissionDenied, "Directory.Read.All"),
        ("POST", "groups", 403, "Authorization_RequestDenied", PermissionDenied, "Group.ReadWrite.All"),
        ("GET", "identity/conditionalAccess/policies", 403, "Forbidden", PermissionDenied, "Policy.Read.All"),
        ("GET", "auditLogs/signIns", 403, "Forbidden", PermissionDenied, "AuditLog.Read.All"),
        ("GET", "users/x", 404, "Request_ResourceNotFound", NotFound, "GET /users/x"),
        ("POST", "users", 400, "Request_BadRequest", BadRequest, "Request_BadRequest"),
        ("GET", "groups/delta", 410, "Gone", DeltaTokenExpired, "full sync"),
        ("GET", "users/delta", 400, "syncStateNotFound", DeltaTokenExpired, "full sync"),
        ("GET", "users", 401, "InvalidAuthenticationToken", AuthenticationFailed, "REWIND_CLOUD"),
        ("GET", "users", 429, "TooManyRequests", Throttled, "3 attempts"),
    ],
)
def test_graph_failures_are_classified(
    method: str, path: str, status: int, code: str, error_type: type[GraphError], needle: str
) -> None:
    body = {"error": {"code": code, "message": "Something\nmulti-line", "innerError": {"request-id": "r-1"}}}
    err = classify_response(method, path, status, body, {}, attempts=3)
    assert type(err) is error_type
    assert needle in str(err) and err.status == status and err.request_id == "r-1"
    assert_one_line(err)


def test_error_kinds() -> None:
    assert PermissionDenied("x").kind is ErrorKind.PERMANENT
    assert AuthenticationFailed("x").kind is ErrorKind.AUTH
    assert GraphUnreachable("x").kind is ErrorKind.RETRYABLE
    assert str(GraphError("what broke", hint="how to fix")) == "what broke: how to fix"


@pytest.mark.parametrize(
    ("codes", "needle"),
    [
        ([90002], "check REWIND_TENANT_ID and REWIND_CLOUD"),
        ([7000215], "check REWIND_CLIENT_SECRET (it may have expired)"),
        ([700016], "check REWIND_CLIENT_ID"),
        ([700027], "check REWIND_CLIENT_CERTIFICATE is registered on the app"),
        ([70011], "REWIND_CLOUD"),
    ],
)
def test_msal_error_results_name_the_setting_to_fix(codes: list[int], needle: str) -> None:
    result = {
        "error": "invalid_client",
        "error_description": f"AADSTS{codes[0]}: Something failed for {SECRET}.\r\nTrace ID: abc",
        "error_codes": codes,
    }
    err = error_from_result(result, CONFIG)
    assert isinstance(err, AuthenticationFailed) and err.kind is ErrorKind.AUTH
    assert needle in str(err) and f"AADSTS{codes[0]}" in str(err)
    assert_one_line(err)


def test_msal_exceptions_are_mapped() -> None:
    ssl_error = error_from_exception(requests.exceptions.SSLError("certificate verify failed"), CONFIG)
    assert isinstance(ssl_error, UntrustedCertificate) and "SSL_CERT_FILE" in str(ssl_error)
    down = error_from_exception(requests.exceptions.ConnectionError("refused"), CONFIG)
    assert isinstance(down, GraphUnreachable) and "login.microsoftonline.com" in str(down)
    discovery = ValueError("Unable to get authority configuration for https://login.microsoftonline.com/x")
    tenant = error_from_exception(discovery, CONFIG)
    assert isinstance(tenant, AuthenticationFailed) and "REWIND_TENANT_ID and REWIND_CLOUD" in str(tenant)
    plain_http = error_from_exception(ValueError("should consist of an https url with hostname"), CONFIG)
    assert isinstance(plain_http, AuthenticationFailed) and "https" in str(plain_http)
    for err in (ssl_error, down, tenant, plain_http):
        assert_one_line(err)


# --- requests, retries, limiter interplay ------------------------------------------------------------


async def test_paths_params_and_standard_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1"}, headers={"x-ms-resource-unit": "1"})

    async with make_client(handler, throttle_priority="Low") as client:
        body = await client.get("users?$filter=accountEnabled eq true", params={"$select": "id,displayName"})
        await client.get("https://graph.microsoft.com/beta/groups")
    assert body == {"id": "1"}
    url = seen[0].url
    assert url.path == "/v1.0/users"
    assert url.params["$filter"] == "accountEnabled eq true" and url.params["$select"] == "id,displayName"
    assert seen[1].url.path == "/beta/groups"
    assert seen[0].headers["Authorization"] == "Bearer token-0"
    assert seen[0].headers["x-ms-throttle-priority"] == "Low"
    assert seen[0].headers["client-request-id"] != seen[1].headers["client-request-id"]
    assert client.metrics.resource_units == 2 and client.metrics.requests == 2


async def test_links_to_other_hosts_are_refused() -> None:
    async with make_client(lambda r: httpx.Response(200, json={})) as client:
        with pytest.raises(GraphError, match=r"refusing to follow a link to https://evil\.example"):
            await client.get("https://evil.example/v1.0/users")


async def test_iter_pages_follows_next_links_and_resends_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": [{"id": f"u{page}"}] if page != 1 else []}
        if page < 2:
            body["@odata.nextLink"] = f"https://graph.microsoft.com/v1.0/users?$skiptoken={page + 1}"
        return httpx.Response(200, json=body)

    async with make_client(handler) as client:
        pages = [
            p
            async for p in client.iter_pages(
                "/users", params={"$count": "true"}, headers={"ConsistencyLevel": "eventual"}, page_size=5
            )
        ]
        items = [i async for i in client.iter_items("/users", page_size=5)]
    assert pages == [[{"id": "u0"}], [], [{"id": "u2"}]]
    assert [i["id"] for i in items] == ["u0", "u2"]
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in seen[:3])
    assert seen[0].url.params["$top"] == "5" and seen[0].url.params["$count"] == "true"
    assert "$top" not in seen[1].url.params  # the nextLink carries its own query


async def test_pages_are_fetched_one_ahead_unless_asked_not_to() -> None:
    requested: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("$skiptoken", "0"))
        requested.append(page)
        body: dict[str, Any] = {"value": [{"id": f"u{page}"}]}
        if page < 3:
            body["@odata.nextLink"] = f"https://graph.microsoft.com/v1.0/users?$skiptoken={page + 1}"
        return httpx.Response(200, json=body)

    async def requested_while_reading_each_page(ahead: bool) -> list[list[int]]:
        requested.clear()
        seen: list[list[int]] = []
        async with make_client(handler) as client:
            async for _page in client.iter_pages("/users", ahead=ahead):
                for _ in range(20):  # the caller works on the page, awaiting now and then
                    await asyncio.sleep(0)
                seen.append(list(requested))
        return seen

    assert await requested_while_reading_each_page(ahead=True) == [
        [0, 1],
        [0, 1, 2],
        [0, 1, 2, 3],
        [0, 1, 2, 3],
    ]
    assert await requested_while_reading_each_page(ahead=False) == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]


async def test_429_with_retry_after_waits_exactly_that_and_pauses_the_bucket() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return graph_error(429, "TooManyRequests", {"Retry-After": "7", "x-ms-resource-unit": "2"})
        return httpx.Response(200, json={"value": []}, headers={"x-ms-resource-unit": "2"})

    clock = FakeClock()
    async with make_client(handler, clock=clock) as client:
        await client.get("/users")
    assert clock.sleeps[0] == 7.0
    assert client.limiter.resource_units.factor < 1.0  # adapted down
    assert client.metrics.throttled == 1 and client.metrics.retries == 1
    assert client.metrics.resource_units == 2  # the throttled attempt was not charged
    # A retry keeps its client-request-id so Graph can tell it is one.
    assert calls[0].headers["client-request-id"] == calls[1].headers["client-request-id"]


async def test_429_without_retry_after_backs_off_with_jitter() -> None:
    responses = [graph_error(429, "TooManyRequests"), graph_error(429, "TooManyRequests")]

    def handler(request: httpx.Request) -> httpx.Response:
        return responses.pop(0) if responses else httpx.Response(200, json={})

    clock = FakeClock()
    async with make_client(handler, clock=clock) as client:
        await client.get("/identity/conditionalAccess/policies")
    # Full jitter with jitter()=0.5: 0.5 * 0.5 s, then 0.5 * 1 s (the CA bucket adds its own small waits).
    assert 0.25 in clock.sleeps and 0.5 in clock.sleeps
    assert client.metrics.retries == 2


async def test_503_retry_after_http_date_and_5xx_retries_for_reads_only() -> None:
    statuses = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses) if request.method == "GET" else 500
        headers = {"Retry-After": "4"} if status == 503 else {}
        return (
            httpx.Response(status, json={}, headers=headers)
            if status == 200
            else graph_error(status, "x", headers)
        )

    clock = FakeClock()
    async with make_client(handler, clock=clock) as client:
        await client.get("/users")
        assert clock.sleeps[:2] == [4.0, 0.5]  # Retry-After, then backoff for the 502 (second retry)
        with pytest.raises(GraphError) as caught:
            await client.request("POST", "/users", json={"displayName": "x"})
    assert caught.value.kind is ErrorKind.RETRYABLE and caught.value.status == 500
    assert client.metrics.requests == 4  # the POST was sent once: a 500 may have created the user
    assert_one_line(caught.value)


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"Retry-After": "Sun, 01 Nov 2026 12:00:30 GMT"}, now=now) == 30.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


async def test_gives_up_after_max_attempts_with_a_classified_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return graph_error(429, "TooManyRequests", {"Retry-After": "1"})

    async with make_client(handler) as client:
        with pytest.raises(Throttled) as caught:
            await client.get("/users")
    assert calls == CONFIG.max_attempts
    assert client.metrics.snapshot()["errors"] == {"retryable": 1}
    assert (
        client.metrics.throttled == CONFIG.max_attempts and client.metrics.retries == CONFIG.max_attempts - 1
    )
    assert_one_line(caught.value)


async def test_401_refreshes_the_token_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.url.path.endswith("/stale") and len(seen) == 1:
            return graph_error(401, "InvalidAuthenticationToken")
        if request.url.path.endswith("/never"):
            return graph_error(401, "InvalidAuthenticationToken")
        return httpx.Response(200, json={})

    async with make_client(handler) as client:
        await client.get("/stale")
        assert seen == ["Bearer token-0", "Bearer token-1"]
        with pytest.raises(AuthenticationFailed) as caught:
            await client.get("/never")
    assert seen[2:] == ["Bearer token-1", "Bearer token-2"]
    assert_one_line(caught.value)


def raising(cause: BaseException, message: str = "failed") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(message, request=request) from cause

    return handler


async def test_connection_failures_are_retried_for_reads_then_raise_unreachable() -> None:
    calls = 0
    inner = raising(ConnectionRefusedError(111, "Connection refused"))

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return inner(request)

    async with make_client(handler) as client:
        with pytest.raises(GraphUnreachable) as caught:
            await client.get("/users")
        assert calls == CONFIG.max_attempts
        with pytest.raises(GraphUnreachable):
            await client.request("PATCH", "/users/x", json={"jobTitle": "y"})
        assert calls == CONFIG.max_attempts + 1  # a write is not blindly resent
    assert "graph.microsoft.com" in str(caught.value) and "REWIND_GRAPH_URL" in str(caught.value)
    assert client.metrics.errors["retryable"] == 2
    assert_one_line(caught.value)


async def test_tls_and_dns_failures_are_not_retried() -> None:
    cert_error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    cert_error.verify_message = "self-signed certificate in certificate chain"
    async with make_client(raising(cert_error)) as client:
        with pytest.raises(UntrustedCertificate) as untrusted:
            await client.get("/users")
        assert client.metrics.requests == 1
    assert "SSL_CERT_FILE" in str(untrusted.value) and "self-signed" in str(untrusted.value)
    dns = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    async with make_client(raising(dns)) as client:
        with pytest.raises(GraphUnreachable, match=r"cannot resolve the Graph host graph\.microsoft\.com"):
            await client.get("/users")
        assert client.metrics.requests == 1
    assert_one_line(untrusted.value)


async def test_timeouts_become_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    config = GraphConfig(tenant_id=TENANT, client_id="c", credential=ClientSecret(SECRET), max_attempts=2)
    async with make_client(handler, config=config) as client:
        with pytest.raises(GraphUnreachable, match="did not answer in time"):
            await client.get("/users")
    assert client.metrics.retries == 1


async def test_token_claims_are_decoded_without_verification() -> None:
    token = jwt.encode({"tid": TENANT, "roles": ["Directory.Read.All"]}, "k" * 32, algorithm="HS256")

    class Tokens:
        async def access_token(self) -> str:
            return token

    client = GraphClient(
        CONFIG, token_provider=Tokens(), transport=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    async with client:
        claims = await client.token_claims()
    assert claims["roles"] == ["Directory.Read.All"] and claims["tid"] == TENANT


# --- limiter and costs ---------------------------------------------------------------------------------


def test_cost_estimates_follow_the_reference_table() -> None:
    assert estimate_cost("GET", "users") == RequestCost(resource_units=2)
    assert estimate_cost("GET", "users", {"$select": "id"}).resource_units == 1
    assert estimate_cost("GET", "groups/g1/members").resource_units == 3
    assert (
        estimate_cost("GET", "groups/g1/transitiveMembers", {"$top": "5", "$select": "id"}).resource_units
        == 3
    )
    assert estimate_cost("GET", "applications", {"$expand": "owners"}).resource_units == 3
    assert estimate_cost("GET", "domains").resource_units == 1
    assert estimate_cost("POST", "users") == RequestCost(resource_units=1, writes=1)
    assert estimate_cost("POST", "directoryObjects/getByIds") == RequestCost(resource_units=5)
    assert estimate_cost("POST", "directoryObjects/getByIds", {"$select": "id"}) == RequestCost(
        resource_units=2
    )
    assert estimate_cost("GET", "identity/conditionalAccess/policies") == RequestCost(conditional_access=1)
    assert estimate_cost("GET", "auditLogs/directoryAudits") == RequestCost(reports=1)


async def test_bucket_bursts_then_paces_and_corrects_from_actual_units() -> None:
    clock = FakeClock()
    limiter = GraphLimiter(100, clock=clock, headroom=1.0)  # 10 RU/s, burst 100
    assert await limiter.acquire(RequestCost(resource_units=100)) == 0.0
    assert await limiter.acquire(RequestCost(resource_units=10)) == pytest.approx(1.0)
    limiter.settle(RequestCost(resource_units=2), actual_resource_units=12)  # Graph charged 10 more
    assert await limiter.acquire(RequestCost(resource_units=5)) == pytest.approx(1.5)
    assert limiter.snapshot()["resource_units"]["waits"] == 2


async def test_writes_spend_nearly_their_whole_quota_while_reads_keep_headroom() -> None:
    # The write quota (3,000 per 150 s) is per app and tenant and restores write through their own app:
    # only 1% is kept back for clock skew. Resource units are shared with other readers: 5% kept back.
    clock = FakeClock()
    limiter = GraphLimiter(1000, clock=clock)
    assert limiter.resource_units.rate == pytest.approx(100 * 0.95)
    assert limiter.writes.rate == pytest.approx(20 * 0.99)
    assert await limiter.acquire(RequestCost(writes=3000)) == 0.0  # the whole burst at once
    assert await limiter.acquire(RequestCost(writes=99)) == pytest.approx(99 / 19.8)
    assert GraphLimiter(1000, clock=clock, write_headroom=0.5).writes.rate == pytest.approx(10)


async def test_a_429_pauses_every_waiting_task_and_the_rate_recovers_slowly() -> None:
    clock = VirtualClock()
    limiter = GraphLimiter(1000, clock=clock, headroom=1.0)
    limiter.throttled(RequestCost(resource_units=2), retry_after_s=5)
    # Requests already in flight, answered 429 right after, do not halve the rate again.
    limiter.throttled(RequestCost(resource_units=2), retry_after_s=1)
    assert limiter.resource_units.factor == 0.5
    waits = await clock.run(*(limiter.acquire(RequestCost(resource_units=2)) for _ in range(4)))
    assert all(w >= 5.0 for w in waits)
    await clock.run(clock.sleep(60))
    await limiter.acquire(RequestCost(resource_units=1))
    assert limiter.resource_units.factor == 1.0


async def test_throttles_land_on_the_bucket_that_ran_out() -> None:
    clock = FakeClock()
    limiter = GraphLimiter(1000, clock=clock)
    limiter.throttled(RequestCost(resource_units=1, writes=1), 3, "WriteLimitExceeded")
    assert limiter.writes.throttles == 1 and limiter.resource_units.throttles == 0
    limiter.throttled(RequestCost(conditional_access=1), None)
    assert limiter.conditional_access.throttles == 1
    # Conditional Access allows one request per second.
    for _ in range(3):
        await limiter.acquire(RequestCost(conditional_access=1))
    assert sum(clock.sleeps) >= 2.0


def test_limiter_is_shared_per_tenant() -> None:
    other = GraphConfig(tenant_id="other", client_id="x", credential=ClientSecret(SECRET))
    assert shared_limiter(CONFIG) is shared_limiter(GraphConfig(TENANT.upper(), "y", ClientSecret("z")))
    assert shared_limiter(CONFIG) is not shared_limiter(other)


# --- delta ---------------------------------------------------------------------------------------------


def member(uid: str, removed: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"@odata.type": "#microsoft.graph.user", "id": uid}
    if removed:
        entry["@removed"] = {"reason": "deleted"}
    return entry


DELTA_PAGES = {
    "first": {
        "value": [
            {"id": "g1", "displayName": "Big", "members@delta": [member("u1"), member("u2")]},
            {"id": "g1", "members@delta": [member("u3", removed=True)]},
        ],
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/groups/delta?$skiptoken=2",
    },
    "second": {
        "value": [
            {"id": "g1", "members@delta": [member("u4")]},
            {"id": "g2", "@removed": {"reason": "changed"}},
            {"id": "g1", "displayName": "Bigger", "members@delta": [member("u5")]},
        ],
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=next",
    },
}


async def test_delta_merges_adjacent_repeats_and_keeps_the_delta_link() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if "deltatoken" in str(request.url):
            return graph_error(410, "syncStateNotFound")
        page = "second" if "skiptoken" in str(request.url) else "first"
        return httpx.Response(200, json=DELTA_PAGES[page])

    async with make_client(handler) as client:
        query = client.delta("/groups/delta", params={"$select": "displayName,members"})
        entries = [e async for e in query]
        assert query.delta_link == "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=next"
        with pytest.raises(DeltaTokenExpired) as expired:
            [e async for e in client.delta("/groups/delta", delta_link=query.delta_link)]
        with pytest.raises(GraphError, match="runs once"):
            [e async for e in query]
    assert [e["id"] for e in entries] == ["g1", "g2", "g1"]  # the last g1 is not adjacent: yielded again
    assert [m["id"] for m in entries[0]["members@delta"]] == ["u1", "u2", "u3", "u4"]
    assert seen[0].params["$select"] == "displayName,members"
    assert str(seen[2]) == query.delta_link  # the delta link is followed as-is, no params added
    merged = merge_delta_entries(entries)
    assert [m["id"] for m in merged["g1"]["members@delta"]] == ["u1", "u2", "u3", "u4", "u5"]
    assert merged["g1"]["displayName"] == "Bigger" and merged["g2"]["@removed"] == {"reason": "changed"}
    assert_one_line(expired.value)


def test_merge_delta_entries_restored_object_drops_removed_marker() -> None:
    merged = merge_delta_entries(
        [{"id": "u1", "@removed": {"reason": "changed"}}, {"id": "u1", "displayName": "Back"}, {"no": "id"}]
    )
    assert merged == {"u1": {"id": "u1", "displayName": "Back"}}


# --- $batch --------------------------------------------------------------------------------------------


def get(rid: str, depends_on: list[str] | None = None) -> BatchRequest:
    return BatchRequest(rid, "GET", f"/users/{rid}", depends_on=depends_on or [])


def test_batch_plan_chunks_of_20_and_keeps_dependency_chains_together() -> None:
    assert [len(c) for c in plan_chunks([get(str(i)) for i in range(45)])] == [20, 20, 5]
    requests_ = [get(f"a{i}") for i in range(18)]
    requests_ += [get("c3", ["c2"]), get("c2", ["c1"]), get("c1")] + [get(f"b{i}") for i in range(5)]
    chunks = plan_chunks(requests_)
    chain = next(c for c in chunks if any(r.id == "c1" for r in c))
    assert [r.id for r in chain if r.id.startswith("c")] == ["c1", "c2", "c3"]  # dependencies first
    assert sum(len(c) for c in chunks) == len(requests_) and all(len(c) <= 20 for c in chunks)


@pytest.mark.parametrize(
    ("batch", "needle"),
    [
        ([get("1", ["9"])], "depends on '9'"),
        ([get("1", ["2"]), get("2", ["1"])], "cycle"),
        ([get("1"), get("1")], "repeated"),
        ([get("0")] + [get(str(i), [str(i - 1)]) for i in range(1, 21)], "cannot fit one $batch"),
    ],
)
def test_batch_plan_rejects_bad_requests(batch: list[BatchRequest], needle: str) -> None:
    with pytest.raises(BadRequest) as caught:
        plan_chunks(batch)
    assert needle in str(caught.value)
    assert_one_line(caught.value)


async def test_batch_retries_only_throttled_items_and_answers_in_request_order() -> None:
    rounds: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["requests"]
        rounds.append(items)
        answers = []
        for item in reversed(items):  # Graph answers in any order
            status, headers = 200, {"x-ms-resource-unit": "1"}
            if len(rounds) == 1 and item["id"] == "2":
                status, headers = 429, {"Retry-After": "3"}
            elif len(rounds) == 1 and item["id"] == "3":
                status = 424
            answers.append(
                {"id": item["id"], "status": status, "headers": headers, "body": {"n": item["id"]}}
            )
        return httpx.Response(200, json={"responses": answers})

    clock = FakeClock()
    batch = [
        get("1"),
        BatchRequest("2", "POST", "/groups", body={"displayName": "x"}),
        BatchRequest("3", "POST", "/groups/x/members/$ref", body={}, depends_on=["2"]),
        get("4"),
    ]
    async with make_client(handler, clock=clock) as client:
        responses = await client.batch(batch)
    assert [r.id for r in responses] == ["1", "2", "3", "4"]
    assert [r.status for r in responses] == [200, 200, 200, 200]
    assert responses[1].body == {"n": "2"} and responses[1].headers["x-ms-resource-unit"] == "1"
    assert [i["id"] for i in rounds[1]] == ["2", "3"] and rounds[1][1]["dependsOn"] == ["2"]
    assert rounds[0][1]["headers"] == {"Content-Type": "application/json"}
    assert 3.0 in clock.sleeps
    assert client.metrics.throttled == 1 and client.metrics.batch_items == 6 and client.metrics.retries == 2
    assert client.metrics.resource_units == 5  # the 429 item carried no charge


async def test_batch_items_still_failing_are_returned_as_answered() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["requests"]
        return httpx.Response(
            200, json={"responses": [{"id": i["id"], "status": 503, "body": None} for i in items]}
        )

    config = GraphConfig(tenant_id=TENANT, client_id="c", credential=ClientSecret(SECRET), max_attempts=2)
    async with make_client(handler, config=config) as client:
        responses = await client.batch([get(str(i)) for i in range(25)])
    assert [r.status for r in responses] == [503] * 25
    assert client.metrics.requests == 4  # two chunks, each tried twice


# --- certificate and MSAL wiring -------------------------------------------------------------------------


@pytest.fixture
def rsa_leaf() -> trustme.LeafCert:
    return trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("rewind-app", key_type=trustme.KeyType.RSA)


def test_certificate_is_read_with_sha1_thumbprint(tmp_path: Path, rsa_leaf: trustme.LeafCert) -> None:
    pem = tmp_path / "app.pem"
    pem.write_bytes(rsa_leaf.private_key_and_cert_chain_pem.bytes())
    loaded = load_certificate(ClientCertificate(pem))
    cert = x509.load_pem_x509_certificate(rsa_leaf.cert_chain_pems[0].bytes())
    assert loaded.thumbprint == cert.fingerprint(hashes.SHA1()).hex()
    assert "PRIVATE KEY" in loaded.private_key_pem and "CERTIFICATE" in loaded.certificate_pem
    assert "PRIVATE KEY" not in repr(loaded)
    credential = loaded.msal_credential(None)
    assert set(credential) == {"private_key", "thumbprint", "public_certificate"}


def test_encrypted_key_needs_its_passphrase(tmp_path: Path, rsa_leaf: trustme.LeafCert) -> None:
    key = serialization.load_pem_private_key(rsa_leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    )
    pem = tmp_path / "enc.pem"
    pem.write_bytes(encrypted + rsa_leaf.cert_chain_pems[0].bytes())
    assert (
        load_certificate(ClientCertificate(pem, passphrase="open sesame")).msal_credential("open sesame")[
            "passphrase"
        ]
        == "open sesame"
    )
    with pytest.raises(AuthenticationFailed, match="no passphrase"):
        load_certificate(ClientCertificate(pem))


@pytest.mark.parametrize("case", ["missing", "no-key", "no-cert", "mismatch", "ec-key"])
def test_bad_certificate_files_fail_naming_the_file(
    tmp_path: Path, rsa_leaf: trustme.LeafCert, case: str
) -> None:
    other = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("other", key_type=trustme.KeyType.RSA)
    ec_leaf = trustme.CA().issue_cert("ec")
    contents = {
        "no-key": rsa_leaf.cert_chain_pems[0].bytes(),
        "no-cert": rsa_leaf.private_key_pem.bytes(),
        "mismatch": rsa_leaf.private_key_pem.bytes() + other.cert_chain_pems[0].bytes(),
        "ec-key": ec_leaf.private_key_and_cert_chain_pem.bytes(),
    }
    pem = tmp_path / f"{case}.pem"
    if case in contents:
        pem.write_bytes(contents[case])
    with pytest.raises(AuthenticationFailed) as caught:
        MsalTokenProvider(GraphConfig(TENANT, "c", ClientCertificate(pem)))
    assert str(pem) in str(caught.value) and "REWIND_CLIENT_CERTIFICATE" in str(caught.value)
    assert_one_line(caught.value)


class FakeMsalApp:
    created: list[FakeMsalApp] = []
    result: dict[str, Any] = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3599}
    error: BaseException | None = None

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        if FakeMsalApp.error is not None:
            raise FakeMsalApp.error
        self.client_id = client_id
        self.kwargs = kwargs
        self.removed = 0
        FakeMsalApp.created.append(self)

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.scopes = scopes
        return FakeMsalApp.result

    def remove_tokens_for_client(self) -> None:
        self.removed += 1


@pytest.fixture
def fake_msal(monkeypatch: pytest.MonkeyPatch) -> type[FakeMsalApp]:
    monkeypatch.setattr(msal, "ConfidentialClientApplication", FakeMsalApp)
    monkeypatch.setattr(FakeMsalApp, "created", [])
    monkeypatch.setattr(FakeMsalApp, "error", None)
    return FakeMsalApp


async def test_msal_gets_an_explicit_session_and_discovery_only_for_microsoft_hosts(
    fake_msal: type[FakeMsalApp], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_leaf: trustme.LeafCert
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    pem = tmp_path / "app.pem"
    pem.write_bytes(rsa_leaf.private_key_and_cert_chain_pem.bytes())
    emulator = GraphConfig(
        TENANT,
        "c",
        ClientCertificate(pem),
        graph_url="https://127.0.0.1:8443",
        authority_host="https://127.0.0.1:8443/",
        ca_bundle=str(tmp_path / "ca.pem"),
    )
    provider = MsalTokenProvider(emulator)
    assert await provider.access_token() == "tok"
    app = fake_msal.created[0]
    session = app.kwargs["http_client"]
    assert session.trust_env is False and session.verify == str(tmp_path / "ca.pem")
    assert app.kwargs["instance_discovery"] is False
    assert app.kwargs["authority"] == f"https://127.0.0.1:8443/{TENANT}"
    assert isinstance(app.kwargs["token_cache"], msal.TokenCache)
    assert set(app.kwargs["client_credential"]) == {"private_key", "thumbprint", "public_certificate"}
    assert app.scopes == ["https://127.0.0.1:8443/.default"]
    await provider.invalidate()
    assert app.removed == 1
    global_provider = MsalTokenProvider(CONFIG)
    await global_provider.access_token()
    assert fake_msal.created[1].kwargs["instance_discovery"] is True
    assert fake_msal.created[1].kwargs["client_credential"] == SECRET
    assert SECRET not in repr(global_provider)


async def test_msal_failures_become_classified_errors(fake_msal: type[FakeMsalApp]) -> None:
    fake_msal.result = {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Trace ID: 1 Correlation ID: 2",
        "error_codes": [7000215],
    }
    try:
        with pytest.raises(AuthenticationFailed, match="REWIND_CLIENT_SECRET"):
            await MsalTokenProvider(CONFIG).access_token()
    finally:
        fake_msal.result = {"access_token": "tok"}
    fake_msal.error = requests.exceptions.SSLError("bad cert")
    with pytest.raises(UntrustedCertificate):
        await MsalTokenProvider(CONFIG).access_token()
    fake_msal.error = ValueError(
        "Unable to get authority configuration for https://login.microsoftonline.com/x"
    )
    async with GraphClient(CONFIG, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        with pytest.raises(AuthenticationFailed, match="REWIND_TENANT_ID and REWIND_CLOUD") as caught:
            await client.get("/organization")
    assert client.metrics.errors["auth"] == 1
    assert_one_line(caught.value)


def test_rsa_helper_key_is_rsa(rsa_leaf: trustme.LeafCert) -> None:
    # Guards the fixtures: MSAL's RS256 assertion needs an RSA key.
    key = serialization.load_pem_private_key(rsa_leaf.private_key_pem.bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)


async def test_logs_never_carry_the_token() -> None:
    responses = [graph_error(503, "ServiceUnavailable", {"Retry-After": "1"}), httpx.Response(200, json={})]
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG)
    )  # conftest: WARNING
    try:
        with capture_logs() as logs:
            async with make_client(lambda r: responses.pop(0)) as client:
                await client.get("/users")
    finally:
        structlog.configure(**saved)
    assert any(entry["event"] == "graph.retry" for entry in logs)
    assert "token-0" not in repr(logs) and "Bearer" not in repr(logs)


async def test_the_next_page_is_fetched_while_the_caller_works_on_this_one() -> None:
    started: list[str] = []
    pages = {
        "/v1.0/users": {
            "value": [{"id": "a"}],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?p=2",
        },
        "/v1.0/users?p=2": {
            "value": [{"id": "b"}],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?p=3",
        },
        "/v1.0/users?p=3": {"value": [{"id": "c"}]},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        started.append(key)
        return httpx.Response(200, json=pages[key])

    seen: list[tuple[str, int]] = []
    async with make_client(handler) as client:
        async for page in client.iter_pages("/users"):
            await asyncio.sleep(0.01)  # the caller's work on this page
            seen.append((page[0]["id"], len(started)))
    # while page a was being processed, the request for page b had already gone out, and so on
    assert seen == [("a", 2), ("b", 3), ("c", 3)]
